"""The `docker` runtime: the task runs in a container of its dependency group's image, through
Airflow's DockerOperator, on a Docker engine or Podman's Docker-compatible API (`DOCKER_HOST`)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.providers.docker.operators.docker import DockerOperator
from docker.types import DeviceRequest, Mount

from flowui.airflow.operators.common import (
    CONTAINER_SECRETS_FILE,
    FlowUITask,
    container_command,
    container_resources,
    end_container_try,
    finished_output,
    record_placement,
)
from flowui.config import load_settings
from flowui.operators.metadata import cpus_of
from flowui.runtime.process import last_outcome_line
from flowui.runtime.secrets import SECRETS_FILE_VARIABLE, SecretsSource

DEFAULT_DOCKER_URL = "unix://var/run/docker.sock"


class FlowUIDockerOperator(DockerOperator):
    """Runs one FlowUI operator with `flowui-task` in a container of its group's image.

    The `runs/` and `dataset/` of the task's tree (its workspace's) are mounted at the same
    paths (and the repository's checkout, read-only, for a `docker_image` group's image); the
    TaskSpec is a file of the task's run directory; secrets are a file mounted read-only from a
    private directory that is removed when the container ends (never in the container's
    environment, labels or command). Requests and limits apply as CPU shares, a memory limit
    and GPUs. The container runs as the user that owns the task's tree
    (`FlowUITask.container_user`), so that its files all have one owner.

    :param flowui_task: the task, as the DAG document gives it
    :param secrets_source: where secrets come from (default: FlowUI's server or the environment)
    """

    ui_color = "#c9e4f5"

    def __init__(
        self,
        *,
        flowui_task: FlowUITask,
        secrets_source: SecretsSource | None = None,
        **kwargs: Any,
    ) -> None:
        if not flowui_task.image:
            raise ValueError(f"{flowui_task.operator} has no image for the docker runtime")
        _requests, limits, gpus = container_resources(flowui_task.resources)
        asked = (flowui_task.resources or {}).get("limits") or {}
        # The environment of the DAG's parse.
        uid, gid = flowui_task.container_user(load_settings(read_config=False))
        super().__init__(
            image=flowui_task.image,
            docker_url=os.environ.get("DOCKER_HOST", DEFAULT_DOCKER_URL),
            mount_tmp_dir=False,
            user=f"{uid}:{gid}",  # writes the shared root as the platform's processes do
            # Removed here after a success; a failed one stays for a look (`docker logs ID`).
            auto_remove="never",
            cpus=cpus_of(asked["cpu"]) if asked.get("cpu") else 1.0,
            mem_limit=limits["memory"].replace("Mi", "m") if "memory" in limits else None,
            device_requests=([DeviceRequest(count=gpus, capabilities=[["gpu"]])] if gpus else None),
            **kwargs,
        )
        self.flowui_task = flowui_task
        self.secrets_source = secrets_source
        self.task_user = uid, gid

    def execute(self, context: Any) -> Any:
        task = self.flowui_task
        paths = task.write_container_task_spec(self.dag_id, context, self.task_user)
        secrets = task.secrets(self.secrets_source)
        runs, datasets = task.tree.runs, task.tree.datasets
        datasets.mkdir(parents=True, exist_ok=True)
        self.command = container_command(paths, context)
        self.labels = {
            "io.flowui.dag-id": self.dag_id,
            "io.flowui.run-id": context["run_id"],
            "io.flowui.task-id": self.task_id,
        }
        self.environment = {"PYTHONUNBUFFERED": "1"}
        mounts = [
            Mount(target=str(runs), source=str(runs), type="bind"),
            Mount(target=str(datasets), source=str(datasets), type="bind"),
        ]
        if not task.image_holds_repository:
            checkout = task.repository_path
            mounts.append(Mount(target=checkout, source=checkout, type="bind", read_only=True))
        lines: list[str] = []
        with self._secrets_file(secrets) as secrets_file:
            if secrets_file is not None:
                mounts.append(
                    Mount(
                        target=CONTAINER_SECRETS_FILE,
                        source=str(secrets_file),
                        type="bind",
                        read_only=True,
                    )
                )
                self.environment[SECRETS_FILE_VARIABLE] = CONTAINER_SECRETS_FILE
            self.mounts = mounts
            self.do_xcom_push, self.xcom_all = True, True  # every line, to find the outcome
            try:
                returned = super().execute(context)
                lines = returned if isinstance(returned, list) else []
                self.cli.remove_container(self.container["Id"])
            except DockerContainerFailedException as failure:
                lines = [
                    line if isinstance(line, str) else line.decode(errors="replace")
                    for line in failure.logs or []
                ]
            finally:
                end_container_try(paths)
                container = (self.container or {}).get("Id")
                record_placement(paths, "docker", container_id=container, image=self.image)
        return finished_output(paths, task.operator, last_outcome_line(lines))

    @contextmanager
    def _secrets_file(self, secrets: dict[str, str]) -> Iterator[Path | None]:
        """The try's secrets in a file of its own (0600, the container user's) in a private
        folder of the root's `platform/` (never a task's view), removed when the try ends; None
        when the operator has none."""
        if not secrets:
            yield None
            return
        folder = self.flowui_task.file_system.task_secrets
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="try-", dir=folder) as private:  # mode 0700
            secrets_file = Path(private) / "secrets.json"
            with os.fdopen(
                os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w"
            ) as stream:
                json.dump(secrets, stream)
            if os.getuid() == 0:  # readable by the container's user alone
                os.chown(secrets_file, *self.task_user)
            yield secrets_file
