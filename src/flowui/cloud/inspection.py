"""Model files inspected as AWS Batch jobs (FLOWUI_SANDBOX=aws_batch): the confinement of an
import where no bubblewrap sandbox can start, as in the platform's own Fargate task.

Both halves are here. The server (`InspectionJobs.inspect`) submits one job per share of the
model files to the platform stack's inspection job definition, whose container (the platform
image) sees nothing but the repositories' checkouts, read only, and has a role that may do
nothing else; it waits for the jobs with a waiter that knows the failure state, and reads the
results back from each job's CloudWatch log. The job (`main`, run as
`python -m flowui.cloud.inspection REQUEST`) inspects the files as an import does elsewhere, in
child processes under the same time limit, and prints the results as numbered chunks of
compressed JSON, short enough for any log driver's line and event limits.
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowui import __version__
from flowui.operators.inspection import ModelJob, failure, inspect_model_files
from flowui.sandbox import SandboxUnavailable
from flowui.storage import FileSystemRoot
from flowui.workflows.runtimes import batch_variable, runtime_environment

# The inspection's job definition is the platform stack's "operator" `inspection` of
# repository `flowui`, one revision per FlowUI version: a server submits to its own version's.
INSPECTION_OPERATOR = "inspection"
RESULT_MARKER = "FLOWUI-INSPECTION"
CHUNK_CHARACTERS = 8000  # far below CloudWatch's 256 KiB event and Docker's 16 KiB line
MODEL_FILES_PER_JOB = 100  # keeps each job's request well inside SubmitJob's size limit
POLL_SECONDS = 1
# Time to start a job (an instance may have to be launched) beside its model files' own.
JOB_START_SECONDS = 900
# CloudWatch may show a log's last events a little after the job ended.
LOG_DELIVERY_SECONDS = 60.0


def definition_variable() -> str:
    return batch_variable("DEFINITION", INSPECTION_OPERATOR, __version__)


def queue_variable() -> str:
    return batch_variable("QUEUE", INSPECTION_OPERATOR, __version__)


@dataclass(frozen=True)
class InspectionJobs:
    """Where and how the platform's imports inspect model files as Batch jobs: the job
    definition and queue that `flowui aws apply` names under the root (or the ECS task's
    environment gives), in `region`."""

    root: FileSystemRoot
    region: str

    def job_names(self) -> tuple[str, str]:
        """(job definition, queue) of this FlowUI version. Raises SandboxUnavailable naming the
        variables when they are not set."""
        environ = runtime_environment(self.root)
        names = (definition_variable(), queue_variable())
        missing = [name for name in names if not environ.get(name)]
        if missing:
            raise SandboxUnavailable(
                f"FLOWUI_SANDBOX=aws_batch inspects model files as AWS Batch jobs, but "
                f"{' and '.join(missing)} is not set: run `flowui aws apply` with this FlowUI "
                f"version ({__version__}) to make its inspection job definition"
            )
        return environ[names[0]], environ[names[1]]

    def check(self) -> None:
        """Raise SandboxUnavailable if no job can be submitted (before anything is fetched)."""
        self.job_names()

    def inspect(
        self,
        jobs: Sequence[ModelJob],
        *,
        timeout: float,
        on_done: Callable[[str], None] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Every job's result, as `inspect_model_files` gives it; a Batch job that fails or
        does not end in time fails each of its model files with AWS's reason. Raises
        SandboxUnavailable when AWS refuses a call (it names the call and AWS's answer)."""
        from botocore.exceptions import BotoCoreError, ClientError

        definition, queue = self.job_names()
        try:
            return self._inspect(jobs, definition, queue, timeout, on_done)
        except (BotoCoreError, ClientError) as error:
            raise SandboxUnavailable(
                f"the inspection of model files as AWS Batch jobs ({definition} on {queue}) "
                f"failed: {error}"
            ) from None

    def _inspect(
        self,
        jobs: Sequence[ModelJob],
        definition: str,
        queue: str,
        timeout: float,
        on_done: Callable[[str], None] | None,
    ) -> dict[str, dict[str, Any]]:
        import boto3

        batch = boto3.client("batch", region_name=self.region)
        logs = boto3.client("logs", region_name=self.region)
        shares = [
            list(jobs[start : start + MODEL_FILES_PER_JOB])
            for start in range(0, len(jobs), MODEL_FILES_PER_JOB)
        ]
        submitted = {}
        for share in shares:
            request = {
                "timeout": timeout,
                "jobs": [[job.name, str(job.directory), str(job.model_file)] for job in share],
            }
            found = batch.submit_job(
                jobName="flowui-inspection",
                jobQueue=queue,
                jobDefinition=definition,
                containerOverrides={
                    "command": ["python", "-m", "flowui.cloud.inspection", json.dumps(request)],
                },
                timeout={"attemptDurationSeconds": _job_seconds(share, timeout)},
            )
            submitted[found["jobId"]] = share
        ended = wait_for_jobs(batch, list(submitted), _job_seconds(jobs, timeout))
        results: dict[str, dict[str, Any]] = {}
        for job_id, share in submitted.items():
            described = ended[job_id]
            if described.get("status") == "SUCCEEDED":
                found_results = _read_results(logs, described)
            else:
                found_results = {}
            for job in share:
                result = found_results.get(job.name)
                if result is None:
                    result = failure(job, _job_failure(job_id, described))
                results[job.name] = result
                if on_done:
                    on_done(job.name)
        return results


def _job_seconds(jobs: Sequence[ModelJob], timeout: float) -> int:
    return int(JOB_START_SECONDS + timeout * len(jobs))


def _job_failure(job_id: str, described: dict[str, Any]) -> str:
    status = described.get("status", "not ended")
    reasons = [described.get("statusReason"), (described.get("container") or {}).get("reason")]
    said = "; ".join(reason for reason in reasons if reason) or "AWS gave no reason"
    if status == "SUCCEEDED":
        said = "its log holds no result for this model file"
    return f"the inspection's AWS Batch job {job_id} ended {status}: {said}"


def wait_for_jobs(batch: Any, job_ids: list[str], seconds: float) -> dict[str, dict[str, Any]]:
    """Wait with a botocore waiter until every job SUCCEEDED or one FAILED (then the others
    are waited for too); jobs still running after `seconds` are terminated. Returns each job
    as DescribeJobs last showed it."""
    from botocore.exceptions import WaiterError
    from botocore.waiter import WaiterModel, create_waiter_with_client

    status = "jobs[].status"
    model = WaiterModel(
        {
            "version": 2,
            "waiters": {
                "Ended": {
                    "operation": "DescribeJobs",
                    "delay": POLL_SECONDS,
                    "maxAttempts": max(1, int(seconds / POLL_SECONDS)),
                    "acceptors": [
                        {
                            "matcher": "pathAll",
                            "argument": status,
                            "expected": "SUCCEEDED",
                            "state": "success",
                        },
                        {
                            "matcher": "pathAny",
                            "argument": status,
                            "expected": "FAILED",
                            "state": "failure",
                        },
                    ],
                }
            },
        }
    )
    waiter = create_waiter_with_client("Ended", model, batch)
    pending = list(job_ids)
    deadline = time.monotonic() + seconds
    while pending:
        try:
            waiter.wait(jobs=pending, WaiterConfig={"MaxAttempts": _attempts_left(deadline)})
            break
        except WaiterError as error:
            failed = [
                job["jobId"]
                for job in (error.last_response or {}).get("jobs", [])
                if job.get("status") == "FAILED"
            ]
            if not failed or time.monotonic() >= deadline:
                break  # out of time (or no answer): whatever has not ended is stopped below
            pending = [job_id for job_id in pending if job_id not in failed]
    described = {job["jobId"]: job for job in batch.describe_jobs(jobs=job_ids)["jobs"]}
    for job_id in job_ids:
        if described.get(job_id, {}).get("status") not in ("SUCCEEDED", "FAILED"):
            batch.terminate_job(jobId=job_id, reason=f"not ended within {seconds:.0f} s")
            described.setdefault(job_id, {})["statusReason"] = f"not ended within {seconds:.0f} s"
    return described


def _attempts_left(deadline: float) -> int:
    return max(1, int((deadline - time.monotonic()) / POLL_SECONDS))


def _read_results(logs: Any, described: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The results a job printed, from its CloudWatch log (empty when it printed none in
    full within LOG_DELIVERY_SECONDS)."""
    stream = (described.get("container") or {}).get("logStreamName")
    if not stream:
        return {}
    deadline = time.monotonic() + LOG_DELIVERY_SECONDS
    while True:
        chunks = _result_chunks(logs, stream)
        if chunks is not None:
            decoded = gzip.decompress(base64.b64decode("".join(chunks)))
            return {result["name"]: result for result in json.loads(decoded)}
        if time.monotonic() >= deadline:
            return {}
        time.sleep(POLL_SECONDS)


def _result_chunks(logs: Any, stream: str) -> list[str] | None:
    """Every chunk of the results in order, or None while one is missing."""
    chunks: dict[int, str] = {}
    count = None
    token = None
    while True:
        arguments: dict[str, Any] = {
            "logGroupName": "/aws/batch/job",
            "logStreamName": stream,
            "startFromHead": True,
        }
        if token:
            arguments["nextToken"] = token
        page = logs.get_log_events(**arguments)
        for event in page["events"]:
            parts = event["message"].split(" ")
            if len(parts) == 4 and parts[0] == RESULT_MARKER:
                index, count = int(parts[1]), int(parts[2])
                chunks[index] = parts[3]
        if page.get("nextForwardToken") in (None, token):
            break
        token = page["nextForwardToken"]
    if count is None or sorted(chunks) != list(range(count)):
        return None
    return [chunks[index] for index in range(count)]


def main(argv: Sequence[str] | None = None) -> int:
    """The job: inspect the model files the request names (in child processes, as elsewhere;
    the job's container and role are the confinement) and print the results."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if len(arguments) != 1:
        print("usage: python -m flowui.cloud.inspection REQUEST", file=sys.stderr)
        return 2
    request = json.loads(arguments[0])
    jobs = [ModelJob(name, Path(folder), Path(model)) for name, folder, model in request["jobs"]]
    results = inspect_model_files(jobs, timeout=float(request["timeout"]))
    text = base64.b64encode(gzip.compress(json.dumps(list(results.values())).encode())).decode()
    chunks = [text[at : at + CHUNK_CHARACTERS] for at in range(0, len(text), CHUNK_CHARACTERS)]
    for index, chunk in enumerate(chunks):
        print(f"{RESULT_MARKER} {index} {len(chunks)} {chunk}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
