"""The `flowui workflows` and `flowui runs` commands on a remote platform: the same output and
`--json` as the local ones where the API gives the same data."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import typer
from rich.markup import escape
from rich.table import Table

from flowui.cli.output import console, err_console, fail, print_json
from flowui.cli.remote import Remote, fail_remote, remote_errors
from flowui.cli.remote_api import RemoteError
from flowui.cli.workflows import STATE_STYLES, read_workflow_document, report_problems
from flowui.workflows.validate import WorkflowError

FINISHED_RUN_STATES = ("success", "failed")


def validate(remote: Remote, path: Path, json_output: bool) -> None:
    """`flowui workflows validate` by the platform's operators (nothing is saved)."""
    document = read_workflow_document(path)
    _check(remote, path, document, json_output)
    tasks = [task.get("id") for task in document.get("tasks", []) if isinstance(task, dict)]
    if json_output:
        print_json({"ok": True, "errors": [], "tasks": tasks})
    else:
        console.print(f"[green]ok[/] {escape(str(document.get('name')))}: {len(tasks)} task(s)")


def _check(remote: Remote, path: Path, document: dict[str, Any], json_output: bool) -> None:
    with remote_errors():
        result = remote.client.post(remote.path("/workflows/validate"), json={"document": document})
    if not result["valid"]:
        problems = [WorkflowError(p["pointer"], p["message"]) for p in result["problems"]]
        report_problems(path, problems, json_output)


def list_workflows(remote: Remote, json_output: bool) -> None:
    with remote_errors():
        workflows = remote.client.get(remote.path("/workflows"), params={"limit": 500})
    if json_output:
        print_json(workflows)
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("ID", "NAME", "VERSION", "DEPLOYED", "PAUSED", "NEXT RUN"):
        table.add_column(column)
    for workflow in workflows:
        table.add_row(
            str(workflow["id"]),
            escape(workflow["name"]),
            str(workflow["current_version"]),
            str(workflow["deployed_version"] or "-"),
            "yes" if workflow["is_paused"] else "no",
            workflow["next_run_at"] or "-",
        )
    console.print(table)


def deploy(remote: Remote, path: Path, json_output: bool) -> dict[str, Any]:
    """Save the document as the workflow of its name (new, or a new version) and deploy it;
    the deployed workflow as the API answers it."""
    document = read_workflow_document(path)
    _check(remote, path, document, json_output)
    name = document.get("name")
    with (
        err_console.status(f"Deploying {name} on {remote.url}"),
        _document_problems(path, json_output),
    ):
        found = [
            workflow
            for workflow in remote.client.get(
                remote.path("/workflows"), params={"search": name, "limit": 500}
            )
            if workflow["name"] == name
        ]
        body = {"document": document}
        if found:
            saved = remote.client.put(remote.path(f"/workflows/{found[0]['id']}"), json=body)
        else:
            saved = remote.client.post(remote.path("/workflows"), json=body)
        deployed: dict[str, Any] = remote.client.post(
            remote.path(f"/workflows/{saved['id']}/deploy")
        )
    return deployed


def print_deployed(deployed: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(
            {
                "dag_id": deployed["dag_id"],
                "workflow_id": deployed["id"],
                "version": deployed["deployed_version"],
            }
        )
    else:
        console.print(
            f"[green]deployed[/] {escape(deployed['name'])} version "
            f"{deployed['deployed_version']}: {deployed['dag_id']} (workflow {deployed['id']})",
            highlight=False,
        )


@contextmanager
def _document_problems(path: Path, json_output: bool) -> Iterator[None]:
    """Report a 422 of the document as `validate` does (pointers into the file); any other
    failure as one line."""
    try:
        yield
    except RemoteError as error:
        at_document = [d for d in error.details if d.get("where", "").startswith("/document")]
        if error.status != 422 or not at_document:
            fail_remote(error)
        problems = [
            WorkflowError(d["where"].removeprefix("/document"), d["message"]) for d in at_document
        ]
        report_problems(path, problems, json_output)


def run(
    remote: Remote, path: Path, params: list[str] | None, timeout: float, json_output: bool
) -> None:
    """Deploy, start a run and follow it until it ends; exit 1 unless it succeeded."""
    parameters = _parameters(params)
    deployed = deploy(remote, path, json_output)
    runs = remote.path(f"/workflows/{deployed['id']}/runs")
    with remote_errors():
        try:
            started = remote.client.post(runs, json={"parameters": parameters})
        except RemoteError as error:
            _fail_parameters(error)
    run_id = started["run_id"]
    out = err_console if json_output else console
    out.print(f"run {run_id} of {deployed['name']} on {remote.url}", highlight=False)
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    with remote_errors():
        while True:
            detail = remote.client.get(f"{runs}/{quote(run_id, safe='')}")
            for task in detail["tasks"]:
                state = task["state"] or "none"
                if seen.get(task["task_id"]) != state:
                    seen[task["task_id"]] = state
                    style = STATE_STYLES.get(state, "")
                    out.print(f"  [{style}]{state}[/] {escape(task['task_id'])}", highlight=False)
            if detail["state"] in FINISHED_RUN_STATES:
                break
            if time.monotonic() > deadline:
                fail(f"run {run_id} did not finish within {timeout:g} s on {remote.url}")
            time.sleep(1.0)
        report = [
            {
                "task_id": task["task_id"],
                "state": task["state"],
                "try_number": task["try_number"],
                "output": _output(remote, runs, run_id, task["task_id"]),
            }
            for task in detail["tasks"]
        ]
    if json_output:
        print_json(
            {
                "dag_id": deployed["dag_id"],
                "run_id": run_id,
                "state": detail["state"],
                "tasks": report,
            }
        )
    else:
        console.print(f"run {run_id}: [bold]{detail['state']}[/]", highlight=False)
    if detail["state"] != "success":
        raise typer.Exit(1)


def _parameters(values: list[str] | None) -> dict[str, Any]:
    """`--param name=value` pairs, JSON-decoded where they are JSON (the platform checks them
    against the workflow's parameters)."""
    parameters: dict[str, Any] = {}
    for item in values or []:
        name, separator, text = item.partition("=")
        if not separator or not name:
            fail(f"--param {item!r}: expected NAME=VALUE", code=2)
        try:
            parameters[name] = json.loads(text)
        except json.JSONDecodeError:
            parameters[name] = text
    return parameters


def _fail_parameters(error: RemoteError) -> NoReturn:
    prefix = "/body/parameters/"
    bad = [d for d in error.details if d.get("where", "").startswith(prefix)]
    if error.status == 422 and bad:
        problems = "; ".join(
            f"--param {d['where'].removeprefix(prefix)}: {d['message']}" for d in bad
        )
        fail(f"invalid run parameters: {problems}", hint="give each as --param NAME=VALUE", code=2)
    raise error


def _output(remote: Remote, runs: str, run_id: str, task_id: str) -> Any:
    try:
        return remote.client.get(f"{runs}/{quote(run_id, safe='')}/tasks/{quote(task_id)}/output")
    except RemoteError as error:
        if error.status == 404:
            return None
        raise


def workflow_id(remote: Remote, workflow: str) -> int:
    """The id of `workflow` (an id, or a name) in the remote workspace."""
    if workflow.isdigit():
        return int(workflow)
    with remote_errors():
        found = remote.client.get(
            remote.path("/workflows"), params={"search": workflow, "limit": 500}
        )
    for each in found:
        if each["name"] == workflow:
            return int(each["id"])
    fail(
        f"no workflow {workflow!r} in workspace {remote.workspace} on {remote.url}",
        hint="`flowui workflows list` shows them",
    )


def list_runs(remote: Remote, workflow: str, limit: int, json_output: bool) -> None:
    runs_path = remote.path(f"/workflows/{workflow_id(remote, workflow)}/runs")
    with remote_errors():
        runs = remote.client.get(runs_path, params={"limit": limit})
    if json_output:
        print_json(runs)
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("RUN", "STATE", "TYPE", "STARTED", "SECONDS"):
        table.add_column(column)
    for each in runs:
        style = STATE_STYLES.get(each["state"], "")
        duration = f"{each['duration']:.1f}" if each["duration"] is not None else ""
        table.add_row(
            escape(each["run_id"]),
            f"[{style}]{each['state']}[/]",
            each["run_type"] or "",
            each["started_at"] or "",
            duration,
        )
    console.print(table)


def task_log(
    remote: Remote, workflow: str, run_id: str, task_id: str, follow: bool, json_output: bool
) -> None:
    runs_path = remote.path(f"/workflows/{workflow_id(remote, workflow)}/runs")
    log_path = f"{runs_path}/{quote(run_id, safe='')}/tasks/{quote(task_id)}/log"
    offset, content = 0, []
    with remote_errors():
        while True:
            chunk = remote.client.get(log_path, params={"offset": offset})
            offset = chunk["next_offset"]
            if json_output:
                content.append(chunk["content"])
            else:
                typer.echo(chunk["content"], nl=False)
            if chunk["complete"] or not follow:
                break
            time.sleep(1.0)
    if json_output:
        print_json(
            {"content": "".join(content), "next_offset": offset, "complete": chunk["complete"]}
        )


def task_outputs(
    remote: Remote, workflow: str, run_id: str, task_id: str | None, json_output: bool
) -> None:
    runs_path = remote.path(f"/workflows/{workflow_id(remote, workflow)}/runs")
    with remote_errors():
        if task_id is None:
            detail = remote.client.get(f"{runs_path}/{quote(run_id, safe='')}")
            task_ids = [task["task_id"] for task in detail["tasks"]]
        else:
            task_ids = [task_id]
        outputs = {each: _output(remote, runs_path, run_id, each) for each in task_ids}
    if json_output:
        print_json(outputs)
        return
    for each, output in outputs.items():
        console.print(f"[bold]{escape(each)}[/]", highlight=False)
        shown = "(no output)" if output is None else json.dumps(output, indent=2, sort_keys=True)
        typer.echo(shown)
