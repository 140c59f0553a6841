"""The `aws_batch` runtime: the task runs as an AWS Batch job, through Airflow's BatchOperator.

The job definition and queue of an operator version come from the worker's environment, under
the seed's names `AWS_BATCH_JOB_DEFINITION_{operator}_{version}` and
`AWS_BATCH_JOB_QUEUE_{operator}_{version}` (`workflows.runtimes.batch_variable`), the region from
`AWS_REGION_NAME`. Where the environment names none (the platform's ECS task, made before the
workspaces' stacks), the job definition is the ACTIVE revision of the operator's name that
`flowui aws apply` tagged with its version, and the queue the project's. The job definition
mounts the shared file system (EFS on AWS) at the root's paths (and, for a `docker_image`
group, the root's checkout of the repository); the job reads its TaskSpec from the run directory
and writes its outputs there.
"""

from __future__ import annotations

import os
import random
import re
import time
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.batch_client import BatchClientHook
from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook
from airflow.providers.amazon.aws.operators.batch import BatchOperator
from airflow.sdk.exceptions import AirflowException

from flowui.airflow.operators.common import (
    FlowUITask,
    container_command,
    end_container_try,
    finished_output,
    record_placement,
)
from flowui.cloud.jobs import registered_job_definition
from flowui.config import load_settings
from flowui.operators.metadata import batch_vcpus
from flowui.workflows.runtimes import batch_variable

REGION_VARIABLE = "AWS_REGION_NAME"
_LOG_HEADER = "===== AWS Batch job {job} ended {status}; its CloudWatch log:"
# A job's status is asked about every 0.75 s for its first PROMPT_POLLS polls (about a minute),
# then with the provider's back-off (up to minutes): a short job is seen to end within a second,
# and a long one costs DescribeJobs calls no more often than the provider's own.
PROMPT_POLL_SECONDS = (0.5, 1.0)
PROMPT_POLLS = 80


class PromptBatchClientHook(BatchClientHook):
    """The provider's Batch hook, but for its waits: its random 1 to 10 s pauses before each
    phase of a job (three of them, 16 s for a job of 1.4 s here) and its back-off from the
    first poll made most of a short task's time."""

    @staticmethod
    def delay(delay: int | float | None = None) -> None:
        time.sleep(random.uniform(*PROMPT_POLL_SECONDS) if delay is None else delay)

    @staticmethod
    def exponential_delay(tries: int) -> float:
        if tries <= PROMPT_POLLS:
            return random.uniform(*PROMPT_POLL_SECONDS)
        return BatchClientHook.exponential_delay(tries - PROMPT_POLLS)


class FlowUIBatchOperator(BatchOperator):
    """Runs one FlowUI operator with `flowui-task` as an AWS Batch job.

    vCPUs, memory and GPUs come from the task's resources (limits); retries are Airflow's (the
    task's `retries`: a new job each try), so the job itself is attempted once; the job's
    CloudWatch log streams into Airflow's log and, when the job fails, is appended to
    the task's `log.txt`. Secrets are the job definition's own (Secrets Manager or SSM
    references): FlowUI never passes a value to Batch.

    :param flowui_task: the task, as the DAG document gives it
    """

    ui_color = "#ffe6cc"
    aws_hook_class = PromptBatchClientHook

    def __init__(self, *, flowui_task: FlowUITask, **kwargs: Any) -> None:
        resources = flowui_task.resources or {}
        limits = resources.get("limits") or {}
        requirements = []
        if limits.get("cpu"):
            requirements.append({"type": "VCPU", "value": str(batch_vcpus(limits["cpu"]))})
        if limits.get("memory"):
            requirements.append({"type": "MEMORY", "value": str(int(limits["memory"]))})
        if resources.get("gpu"):
            requirements.append({"type": "GPU", "value": str(resources["gpu"])})
        super().__init__(
            job_name=re.sub(r"[^A-Za-z0-9_-]", "-", f"flowui-{flowui_task.operator}")[:128],
            # Named by the environment at run time: a missing variable fails the task, not the
            # parse of the whole DAG.
            job_definition="",
            job_queue="",
            container_overrides={"resourceRequirements": requirements},
            region_name=os.environ.get(REGION_VARIABLE),
            retry_strategy={"attempts": 1},
            awslogs_enabled=True,
            **kwargs,
        )
        self.flowui_task = flowui_task

    def execute(self, context: Any) -> Any:
        task = self.flowui_task
        names = {
            kind: batch_variable(kind, task.operator, task.version, task.workspace_id)
            for kind in ("DEFINITION", "QUEUE")
        }
        missing = [name for name in names.values() if not os.environ.get(name)]
        if missing:
            found = registered_job_definition(
                self.hook.client,
                load_settings(read_config=False),
                task.repository,
                task.operator,
                task.version,
                task.workspace_id,
            )
            if found is None:
                stack = (
                    "the platform's"
                    if task.workspace_id is None
                    else f"workspace {task.workspace_id}'s"
                )
                raise AirflowException(
                    f"{' and '.join(missing)} not set in the worker's environment, and AWS Batch "
                    f"has no ACTIVE job definition of {task.operator} {task.version} tagged so: "
                    f"run `flowui aws apply` (with the server's database reachable) to make "
                    f"{stack} stack"
                )
            self.job_definition, self.job_queue = found
        else:
            self.job_definition = os.environ[names["DEFINITION"]]
            self.job_queue = os.environ[names["QUEUE"]]
        paths = task.write_container_task_spec(self.dag_id, context)
        self.container_overrides = {
            **(self.container_overrides or {}),
            "command": container_command(paths, context),
            "environment": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
        }
        self.tags = {
            "flowui:dag-id": self.dag_id,
            "flowui:run-id": context["run_id"][:256],
            "flowui:task-id": self.task_id,
        }
        try:
            super().execute(context)
        except AirflowException:
            self._append_job_log(paths.log, "FAILED")
            raise
        finally:
            end_container_try(paths)
            record_placement(paths, "aws_batch", job_id=self.job_id, queue=self.job_queue)
        return finished_output(paths, task.operator, None)

    def _append_job_log(self, log_file: Path, status: str) -> None:
        """The job's CloudWatch log, appended to the task's log.txt (a job that failed before
        `flowui-task` wrote anything still tells why)."""
        if not self.job_id:
            return
        logs = AwsLogsHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)
        lines = [
            event["message"]
            for info in self.hook.get_job_all_awslogs_info(self.job_id)
            for event in logs.get_log_events(info["awslogs_group"], info["awslogs_stream_name"])
        ]
        with log_file.open("a", encoding="utf-8") as stream:
            stream.write(_LOG_HEADER.format(job=self.job_id, status=status) + "\n")
            stream.writelines(line + "\n" for line in lines)
