"""The `process` runtime: the task runs on the worker's machine, in a process of its own, inside
the sandbox of its workspace (flowui.sandbox) unless the platform runs repository code
unconfined (FLOWUI_SANDBOX=none)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from flowui.airflow.operators.common import FlowUITask, record_placement
from flowui.config import ConfigError, load_settings
from flowui.runtime.environments import environment_for
from flowui.runtime.process import run_task_process, task_sandbox
from flowui.runtime.secrets import SecretsSource
from flowui.sandbox import SandboxUnavailable

# What a task process inherits from the worker: enough to run, none of Airflow's own settings
# or credentials, which operator code has no business reading. In a sandbox, where the
# worker's PATH, HOME and TMPDIR mean nothing, the sandbox's own stand in for the first ones.
_INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER")
_INHERITED_IN_SANDBOX = ("LANG", "LC_ALL", "TZ")


class FlowUIOperator(BaseOperator):
    """Runs one FlowUI operator with `flowui-task` in a child process (forked from the fork
    server of its dependency group's environment) and returns its output as XCom.

    :param flowui_task: the task, as the DAG document gives it
    :param secrets_source: where secrets come from (default: FlowUI's server or the environment)
    """

    template_fields = ()
    ui_color = "#d9ecff"

    def __init__(
        self,
        *,
        flowui_task: FlowUITask,
        secrets_source: SecretsSource | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flowui_task = flowui_task
        self.secrets_source = secrets_source

    def execute(self, context: Any) -> dict[str, Any] | None:
        task = self.flowui_task
        spec = task.task_spec(self.dag_id, context)
        python = environment_for(
            Path(task.repository_path),
            task.dependency,
            cache_dir=task.file_system.environments,
            log=self.log.info,
        )
        try:
            settings = load_settings(read_config=False)  # the worker's environment's
            sandbox = task_sandbox(
                settings.sandbox_policy,
                python=python,
                repository=Path(task.repository_path),
                tree=task.tree,
                platform_root=task.file_system,
                workspace_id=task.workspace_id,
                memory_mib=((task.resources or {}).get("limits") or {}).get("memory"),
            )
        except (ConfigError, SandboxUnavailable) as error:
            raise AirflowException(f"{task.operator} cannot run here: {error}") from None
        secrets = task.secrets(self.secrets_source)
        inherited = _INHERITED_VARIABLES if sandbox is None else _INHERITED_IN_SANDBOX
        environ = {name: os.environ[name] for name in inherited if name in os.environ}
        timeout = self.execution_timeout.total_seconds() if self.execution_timeout else None
        record_placement(task.run_paths(self.dag_id, context).create(), "process")
        outcome = run_task_process(
            spec,
            python=str(python),
            environ={**environ, "PYTHONUNBUFFERED": "1"},
            secrets=secrets,
            timeout=timeout,
            on_log_line=self.log.info,
            forkserver_idle_seconds=settings.FLOWUI_FORKSERVER_IDLE_SECONDS,
            forkservers_root=task.file_system.path,
            sandbox=sandbox,
        )
        if not outcome.succeeded:
            raise AirflowException(f"{task.operator} failed: {outcome.error}")
        return outcome.output
