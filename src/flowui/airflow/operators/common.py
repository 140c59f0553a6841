"""What a FlowUI task is whatever its runtime: its facts from the DAG document, its TaskSpec,
its secrets, where it ran, and its outcome read back from the run directory."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowException
from airflow.sdk.log import mask_secret

from flowui.base_operator import RunContext
from flowui.config import INTERNAL_TOKEN_VARIABLE, SERVER_URL_VARIABLE, Settings
from flowui.operators.images import IMAGE_REPOSITORY_PATH
from flowui.runtime.process import hand_task_folders
from flowui.runtime.secrets import (
    EnvironmentSecrets,
    SecretsSource,
    SecretsUnavailable,
    ServerSecrets,
)
from flowui.runtime.spec import Binding, OperatorReference, TaskSpec
from flowui.storage import FileSystemRoot, TaskRunPaths, write_json_atomically

# Where a task's container or pod finds its secrets file (mounted read-only while it runs;
# FLOWUI_SECRETS_FILE names it): never in its environment, command or labels.
CONTAINER_SECRETS_FILE = "/run/flowui/secrets.json"


@dataclass(frozen=True)
class FlowUITask:
    """One task of a compiled workflow, as the DAG document gives it (plain data).

    :param root: the FlowUI file-system root shared by every task
    :param repository: the operators repository's name (secrets are kept per repository)
    :param repository_path: checkout of the operators repository on the root
    :param operator: the operator (folder and class name)
    :param version: the operator's version
    :param dependency: the operator's dependency (selects its environment or image)
    :param image: the image of the operator's dependency group (container runtimes)
    :param literals: input values given in the workflow
    :param bindings: input name -> {"task_id", "output"} of an upstream task
    :param parameters: input name -> run parameter name
    :param secret_names: the secrets the operator declares
    :param resources: requests, limits and GPUs (ContainerResources as JSON), or None
    :param workspace_id: the FlowUI workspace of the workflow: its secrets come from FlowUI's
        server; None (a workflow compiled without the server) takes them from the environment
    """

    root: str
    repository: str
    repository_path: str
    operator: str
    version: str
    dependency: dict[str, str | None]
    image: str | None
    literals: dict[str, Any] = field(default_factory=dict)
    bindings: dict[str, dict[str, str]] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    secret_names: list[str] = field(default_factory=list)
    resources: dict[str, Any] | None = None
    workspace_id: int | None = None

    @property
    def file_system(self) -> FileSystemRoot:
        """The platform's root (task environments, fork servers, repository checkouts)."""
        return FileSystemRoot(Path(self.root))

    @property
    def tree(self) -> FileSystemRoot:
        """Where the task's run and datasets are, and what its operator sees as the root: its
        workspace's tree, or the platform's root for a workflow compiled without the server."""
        root = self.file_system
        return root if self.workspace_id is None else root.workspace(self.workspace_id)

    @property
    def image_holds_repository(self) -> bool:
        """Whether the group's image holds the repository (`flowui operators build` copies it
        in); a `docker_image` group's image is used as it is, so containers mount the root's
        checkout of the repository (read-only) instead."""
        return not self.dependency.get("docker_image")

    @property
    def container_repository_path(self) -> str:
        """Where a container of this task finds the operators repository."""
        return IMAGE_REPOSITORY_PATH if self.image_holds_repository else self.repository_path

    def run_paths(self, dag_id: str, context: Any) -> TaskRunPaths:
        return self.tree.task_run(dag_id, context["run_id"], context["ti"].task_id)

    def task_spec(
        self, dag_id: str, context: Any, *, repository_path: str | None = None
    ) -> TaskSpec:
        """The TaskSpec of this try; `repository_path` where the runtime sees the repository
        (an image's own copy), by default the checkout on the root."""
        params = dict(context["params"])
        inputs = {**self.literals}
        for input_name, param_name in self.parameters.items():
            if param_name not in params:
                raise AirflowException(f"run parameter {param_name!r} has no value")
            inputs[input_name] = params[param_name]
        return TaskSpec(
            operator=OperatorReference(
                repository_path=Path(repository_path or self.repository_path), name=self.operator
            ),
            inputs=inputs,
            bindings={name: Binding(**binding) for name, binding in self.bindings.items()},
            context=RunContext(
                dag_id=dag_id,
                run_id=context["run_id"],
                task_id=context["ti"].task_id,
                logical_date=context.get("logical_date"),
                params=params,
            ),
            root=self.tree.path,
            try_number=context["ti"].try_number,
        )

    def write_container_task_spec(
        self, dag_id: str, context: Any, user: tuple[int, int] | None = None
    ) -> TaskRunPaths:
        """Write this try's TaskSpec, as a container sees the repository, into the task's run
        directory (`task_spec.json`, where `flowui-task --spec` reads it); return the paths.
        With the container's `user` (uid, gid), a worker that runs as root hands it what the
        task writes. `end_container_try` removes the spec when the try ends."""
        paths = self.run_paths(dag_id, context).create()
        spec = self.task_spec(dag_id, context, repository_path=self.container_repository_path)
        write_json_atomically(paths.task_spec, spec.model_dump(mode="json"))
        if user is not None and os.geteuid() == 0:
            hand_task_folders(self.tree, paths, *user)
        return paths

    def container_user(self, settings: Settings) -> tuple[int, int]:
        """The uid and gid a container or pod of this task runs as, so that the tree has one
        owner: FLOWUI_TASK_USER, else the tree's owner, which is the workspace's sandbox uid
        (as for its process-runtime tasks) when the platform runs as root, else the worker."""
        if settings.FLOWUI_TASK_USER is not None:
            uid, gid = settings.FLOWUI_TASK_USER.split(":")
            return int(uid), int(gid)
        policy = settings.sandbox_policy
        sandbox_uid = policy.uid(self.workspace_id) if policy.enabled else None
        if sandbox_uid is not None:
            return sandbox_uid, sandbox_uid
        return os.getuid(), os.getgid()

    def secrets(self, source: SecretsSource | None = None) -> dict[str, str]:
        """The values of the operator's secrets, each masked in Airflow's logs from now on."""
        try:
            values = (source or self._secrets_source()).values(self.secret_names)
        except SecretsUnavailable as error:
            raise AirflowException(str(error)) from None
        for value in values.values():
            mask_secret(value)
        return values

    def _secrets_source(self) -> SecretsSource:
        if self.workspace_id is None or not self.secret_names:
            return EnvironmentSecrets()
        url, token = os.environ.get(SERVER_URL_VARIABLE), os.environ.get(INTERNAL_TOKEN_VARIABLE)
        if not url or not token:
            raise AirflowException(
                f"the secrets of this workflow are kept by FlowUI's server, but this worker has "
                f"no {SERVER_URL_VARIABLE} and {INTERNAL_TOKEN_VARIABLE} (`flowui up` sets them)"
            )
        return ServerSecrets(url, token, workspace_id=self.workspace_id, repository=self.repository)


def container_command(paths: TaskRunPaths, context: Any) -> list[str]:
    """`flowui-task` for this try's spec: a container that starts after the try ended (the
    spec is gone) or during a later try (its spec says so) exits writing nothing."""
    return ["flowui-task", "--spec", str(paths.task_spec), "--try", str(context["ti"].try_number)]


def end_container_try(paths: TaskRunPaths) -> None:
    """The try is over, whatever its end: its spec goes, so that a container or pod of it that
    still starts (late, or left behind) finds nothing to run."""
    paths.task_spec.unlink(missing_ok=True)


def record_placement(
    paths: TaskRunPaths, runtime: str, host: str | None = None, **where: str | None
) -> None:
    """Write where this try runs (the run monitor shows it): runtime, host (by default this
    worker's; a pod's node) and the runtime's own id of it (container, pod, Batch job)."""
    placement = {"runtime": runtime, "host": host or socket.gethostname(), **where}
    write_json_atomically(paths.placement, {k: v for k, v in placement.items() if v is not None})


def finished_output(paths: TaskRunPaths, operator: str, outcome: dict[str, Any] | None) -> Any:
    """The task's output (its XCom) once a container runtime's task has ended: output.json of
    this try, or an AirflowException with `flowui-task`'s own error."""
    if outcome is not None and outcome.get("status") != "success":
        raise AirflowException(f"{operator} failed: {outcome.get('error')}")
    try:
        return json.loads(paths.output.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise AirflowException(
            f"{operator} did not finish: {paths.output} was not written (see {paths.log})"
        ) from None


def container_resources(
    resources: dict[str, Any] | None,
) -> tuple[dict[str, str], dict[str, str], int]:
    """Kubernetes-style requests and limits ("500m", "512Mi") and the GPU count of a task."""
    resources = resources or {}
    converted = []
    for part in ("requests", "limits"):
        values = resources.get(part) or {}
        quantities = {}
        if values.get("cpu") is not None:
            quantities["cpu"] = f"{int(values['cpu'])}m"
        if values.get("memory") is not None:
            quantities["memory"] = f"{int(values['memory'])}Mi"
        converted.append(quantities)
    return converted[0], converted[1], int(resources.get("gpu") or 0)
