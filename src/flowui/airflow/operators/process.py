"""FlowUIOperator: one workflow task, handed to its runtime through `flowui-task`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException
from airflow.sdk.log import mask_secret

from flowui.base_operator import RunContext
from flowui.config import INTERNAL_TOKEN_VARIABLE, SERVER_URL_VARIABLE
from flowui.runtime.environments import environment_for
from flowui.runtime.forkserver import idle_seconds as forkserver_idle_seconds
from flowui.runtime.process import run_task_process
from flowui.runtime.secrets import (
    EnvironmentSecrets,
    SecretsSource,
    SecretsUnavailable,
    ServerSecrets,
)
from flowui.runtime.spec import Binding, OperatorReference, TaskSpec
from flowui.storage import FileSystemRoot

# What a task process inherits from the worker: enough to run, none of Airflow's own settings
# or credentials, which operator code has no business reading.
_INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER")


class FlowUIOperator(BaseOperator):
    """Runs one FlowUI operator in the task's runtime and returns its output as XCom.

    :param root: the FlowUI file-system root shared by every task
    :param repository_path: checkout of the operators repository
    :param flowui_operator: the operator (folder and class name)
    :param dependency: the operator's dependency (selects its environment)
    :param literals: input values given in the workflow
    :param bindings: input name -> {"task_id", "output"} of an upstream task
    :param parameters: input name -> run parameter name
    :param secret_names: the secrets the operator declares
    :param repository: the operators repository's name (secrets are kept per repository)
    :param workspace_id: the FlowUI workspace of the workflow: its secrets come from FlowUI's
        server; None (a workflow compiled without the server) takes them from the environment
    :param runtime: where the task runs; "process" in this version
    """

    template_fields = ()
    ui_color = "#d9ecff"

    def __init__(
        self,
        *,
        root: str,
        repository_path: str,
        flowui_operator: str,
        dependency: dict[str, str | None],
        literals: dict[str, Any],
        bindings: dict[str, dict[str, str]],
        parameters: dict[str, str],
        secret_names: list[str],
        repository: str | None = None,
        workspace_id: int | None = None,
        runtime: str = "process",
        secrets_source: SecretsSource | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.root = root
        self.repository_path = repository_path
        self.flowui_operator = flowui_operator
        self.dependency = dependency
        self.literals = literals
        self.bindings = bindings
        self.parameters = parameters
        self.secret_names = secret_names
        self.repository = repository
        self.workspace_id = workspace_id
        self.runtime = runtime
        self.secrets_source = secrets_source

    def execute(self, context: Any) -> dict[str, Any] | None:
        if self.runtime != "process":
            raise AirflowException(f"runtime {self.runtime} is not available in this version")
        params = dict(context["params"])
        inputs = {**self.literals}
        for input_name, param_name in self.parameters.items():
            if param_name not in params:
                raise AirflowException(f"run parameter {param_name!r} has no value")
            inputs[input_name] = params[param_name]
        spec = TaskSpec(
            operator=OperatorReference(
                repository_path=Path(self.repository_path), name=self.flowui_operator
            ),
            inputs=inputs,
            bindings={name: Binding(**binding) for name, binding in self.bindings.items()},
            context=RunContext(
                dag_id=self.dag_id,
                run_id=context["run_id"],
                task_id=self.task_id,
                logical_date=context.get("logical_date"),
                params=params,
            ),
            root=Path(self.root),
            try_number=context["ti"].try_number,
        )
        root = FileSystemRoot(Path(self.root))
        python = environment_for(
            Path(self.repository_path),
            self.dependency,
            cache_dir=root.environments,
            log=self.log.info,
        )
        try:
            secrets = self._secrets_source().values(self.secret_names)
        except SecretsUnavailable as error:
            raise AirflowException(str(error)) from None
        for value in secrets.values():
            mask_secret(value)
        environ = {name: os.environ[name] for name in _INHERITED_VARIABLES if name in os.environ}
        timeout = self.execution_timeout.total_seconds() if self.execution_timeout else None
        outcome = run_task_process(
            spec,
            python=str(python),
            environ={**environ, "PYTHONUNBUFFERED": "1"},
            secrets=secrets,
            timeout=timeout,
            on_log_line=self.log.info,
            forkserver_idle_seconds=forkserver_idle_seconds(),
        )
        if not outcome.succeeded:
            raise AirflowException(f"{self.flowui_operator} failed: {outcome.error}")
        return outcome.output

    def _secrets_source(self) -> SecretsSource:
        if self.secrets_source is not None:
            return self.secrets_source
        if self.workspace_id is None or not self.secret_names:
            return EnvironmentSecrets()
        url, token = os.environ.get(SERVER_URL_VARIABLE), os.environ.get(INTERNAL_TOKEN_VARIABLE)
        if not url or not token:
            raise AirflowException(
                f"the secrets of this workflow are kept by FlowUI's server, but this worker has "
                f"no {SERVER_URL_VARIABLE} and {INTERNAL_TOKEN_VARIABLE} (`flowui up` sets them)"
            )
        return ServerSecrets(
            url, token, workspace_id=self.workspace_id, repository=self.repository or ""
        )
