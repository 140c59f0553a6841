"""The runs API: trigger with parameters, follow states and logs, read outputs and results,
cancel a run and retry a task. What Airflow does is tested against the session's real Airflow
(SQLite, one deployed workflow shared by the tests); the checks made before Airflow is asked run
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from flowui.server.context import ServerContext
from flowui.server.models import Workflow
from flowui.server.services.runs import task_placement
from flowui.storage import FileSystemRoot
from tests.support.airflow_platform import E2E_SECRET_NAME, AirflowPlatform
from tests.support.runs_api import (
    DOCUMENT,
    FollowedRun,
    Platform,
    Workspace,
    add_workflow,
    follow_a_run,
    make_workspace,
    report_workflow_platform,
    run_url,
    runs_url,
    trigger,
    wait_for,
    wait_for_run,
)
from tests.support.server_api import error_of

PLACEMENT_KEYS = ("host", "container_id", "image", "pod", "namespace", "job_id", "queue")


# --- before Airflow is asked: both databases ------------------------------------------------


@pytest.fixture
def workspace(api: TestClient) -> Workspace:
    return make_workspace(api)


@pytest.fixture
def deployed_url(server_context: ServerContext, workspace: Workspace) -> str:
    workflow = add_workflow(server_context, workspace.id, DOCUMENT)
    return runs_url(workspace.id, workflow.id)


def test_every_bad_parameter_is_reported_with_its_pointer(
    workspace: Workspace, deployed_url: str
) -> None:
    response = workspace.owner.post(
        deployed_url, json={"parameters": {"sleep_seconds": "soon", "colour": "red"}}
    )

    assert response.status_code == 422
    error = error_of(response)
    assert error["message"] == "the run parameters are invalid (3 problems)"
    problems = {detail["where"]: detail["message"] for detail in error["details"]}
    assert problems == {
        "/body/parameters/colour": (
            "unknown parameter 'colour'; the workflow's parameters are: "
            "name, sleep_seconds, fail_first_try"
        ),
        "/body/parameters/name": "required parameter 'name' is missing",
        "/body/parameters/sleep_seconds": "'soon' is not of type 'number'",
    }


def test_valid_parameters_without_an_airflow_are_503(
    workspace: Workspace, deployed_url: str
) -> None:
    triggered = workspace.owner.post(deployed_url, json={"parameters": {"name": "Ada"}})
    listed = workspace.reader.get(deployed_url)

    assert [triggered.status_code, listed.status_code] == [503, 503]
    assert error_of(triggered)["message"] == "Airflow is not configured for this server"


def test_a_workflow_not_deployed_has_no_runs(
    server_context: ServerContext, workspace: Workspace
) -> None:
    workflow = add_workflow(server_context, workspace.id, DOCUMENT, deployed=False)
    url = runs_url(workspace.id, workflow.id)

    triggered = workspace.owner.post(url, json={"parameters": {"name": "Ada"}})
    listed = workspace.owner.get(url)

    assert [triggered.status_code, listed.status_code] == [409, 409]
    assert "is not deployed" in error_of(triggered)["message"]


def test_a_paused_workflow_is_not_triggered(
    server_context: ServerContext, workspace: Workspace
) -> None:
    workflow = add_workflow(server_context, workspace.id, DOCUMENT)
    with server_context.sessions() as session:
        session.get_one(Workflow, workflow.id).is_paused = True
        session.commit()

    response = workspace.owner.post(
        runs_url(workspace.id, workflow.id), json={"parameters": {"name": "Ada"}}
    )

    assert response.status_code == 409
    assert (
        error_of(response)["message"]
        == f"workflow {workflow.name!r} is paused: resume it to run it"
    )


def test_runs_exist_only_for_members_and_writers_run_them(
    api: TestClient, server_context: ServerContext, workspace: Workspace, deployed_url: str
) -> None:
    other_workspace = workspace.outsider.post("/api/workspaces", json={"name": "other"}).json()
    foreign = add_workflow(server_context, other_workspace["id"], DOCUMENT)
    run = f"{deployed_url}/{quote('manual__2026-01-01T00:00:00+00:00', safe='')}"

    assert workspace.outsider.get(deployed_url).status_code == 404
    assert workspace.outsider.get(f"{run}/tasks/report/output").status_code == 404
    # A workflow of another workspace is not found through this one, even by its id.
    through_mine = workspace.owner.get(runs_url(workspace.id, foreign.id))
    assert through_mine.status_code == 404
    assert error_of(through_mine)["message"] == f"workflow {foreign.id} not found"
    body = {"parameters": {"name": "Ada"}}
    for response in (
        workspace.reader.post(deployed_url, json=body),
        workspace.reader.post(f"{run}/cancel"),
        workspace.reader.post(f"{run}/tasks/report/retry"),
    ):
        assert response.status_code == 403
        assert "this needs the role write or higher" in error_of(response)["message"]
    assert api.get(deployed_url).status_code == 401


@pytest.mark.parametrize(
    "recorded",
    [
        {"runtime": "docker", "host": "h", "container_id": "0123456789abcdef", "image": "i:1"},
        {"runtime": "aws_batch", "host": "h", "job_id": "6a1b-2c3d", "queue": "flowui-queue"},
    ],
)
def test_a_placement_is_read_from_the_task_run_directory(
    tmp_path: Path, recorded: dict[str, str]
) -> None:
    root = FileSystemRoot(tmp_path / "fs")
    workflow = Workflow(dag_id="runs_api_placement", workspace_id=7)
    run_id = "manual__2026-01-01T00:00:00+00:00"
    paths = root.workspace(7).task_run(workflow.dag_id, run_id, "train").create()

    assert task_placement(root, workflow, run_id, "train") is None  # nothing recorded yet
    paths.placement.write_text(json.dumps({**recorded, "added_later": "ignored"}))
    placement = task_placement(root, workflow, run_id, "train")
    assert placement is not None
    assert placement.model_dump(exclude_none=True) == recorded
    paths.placement.write_text("{not json")
    assert task_placement(root, workflow, run_id, "train") is None


# --- against the real Airflow ---------------------------------------------------------------


@pytest.fixture(scope="module")
def platform(
    airflow_platform: AirflowPlatform, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    """A server on the Airflow platform's root, with the report workflow deployed."""
    with report_workflow_platform(airflow_platform, tmp_path_factory.mktemp("runs-api")) as ready:
        yield ready


@pytest.fixture(scope="module")
def followed_run(platform: Platform) -> FollowedRun:
    return follow_a_run(platform)


def tasks_of(detail: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {task["task_id"]: task for task in detail["tasks"]}


def test_a_triggered_run_succeeds_and_shows_every_task(
    platform: Platform, followed_run: FollowedRun
) -> None:
    triggered = followed_run.triggered
    assert triggered["state"] == "queued"
    assert triggered["parameters"] == {"name": "Ada", "sleep_seconds": 1.5, "fail_first_try": False}
    # Airflow's run ids carry ':' and '+'; the URL-encoded id finds the run.
    assert ":" in followed_run.run_id and "+" in followed_run.run_id
    detail = followed_run.detail
    assert detail["run_id"] == followed_run.run_id
    assert detail["started_at"] is not None and detail["ended_at"] is not None
    tasks = tasks_of(detail)
    assert list(tasks) == ["report", "greet"]  # in the order they ran
    for task in tasks.values():
        assert (task["state"], task["try_number"]) == ("success", 1)
        assert task["started_at"] is not None and task["ended_at"] is not None
        assert task["duration"] >= 0
    assert tasks["report"]["duration"] >= 1.5  # it ticked that long


def test_the_run_detail_tells_where_each_task_ran(
    platform: Platform, followed_run: FollowedRun
) -> None:
    process = {key: None for key in PLACEMENT_KEYS} | {
        "runtime": "process",
        "host": socket.gethostname(),
    }
    assert {
        task_id: task["placement"] for task_id, task in tasks_of(followed_run.detail).items()
    } == {
        "report": process,
        "greet": process,
    }

    # What a container runtime records, in the run directory where it writes it.
    placement_file = platform.root.task_run(platform.dag_id, followed_run.run_id, "greet").placement
    recorded = placement_file.read_bytes()
    try:
        placement_file.write_text(
            json.dumps(
                {
                    "runtime": "kubernetes",
                    "host": "worker-1",
                    "pod": "greet-x1",
                    "namespace": "flowui",
                }
            )
        )
        kubernetes = tasks_of(
            platform.workspace.reader.get(run_url(platform, followed_run.run_id)).json()
        )
        placement_file.write_text('{"runtime": "mainframe"}')
        unreadable = tasks_of(
            platform.workspace.reader.get(run_url(platform, followed_run.run_id)).json()
        )
    finally:
        placement_file.write_bytes(recorded)

    assert kubernetes["greet"]["placement"] == {key: None for key in PLACEMENT_KEYS} | {
        "runtime": "kubernetes",
        "host": "worker-1",
        "pod": "greet-x1",
        "namespace": "flowui",
    }
    assert unreadable["greet"]["placement"] is None
    assert unreadable["report"]["placement"] == process


def test_a_log_is_followed_from_offsets_until_complete(
    platform: Platform, followed_run: FollowedRun
) -> None:
    reads = followed_run.reads
    contents = [answer["content"] for _, answer in reads]
    log_file = platform.root.task_run(platform.dag_id, followed_run.run_id, "report").log

    # Each read starts where the previous one ended and brings only what came since.
    assert [offset for offset, _ in reads[1:]] == [
        answer["next_offset"] for _, answer in reads[:-1]
    ]
    assert "".join(contents) == log_file.read_text()
    assert len([content for content in contents if content]) >= 2  # it grew while followed
    assert all(content.endswith("\n") for content in contents if content)  # whole lines
    assert "tick 1" in "".join(contents) and "task succeeded" in "".join(contents)

    again = platform.workspace.reader.get(
        f"{run_url(platform, followed_run.run_id)}/tasks/report/log",
        params={"offset": reads[-1][1]["next_offset"]},
    )
    assert again.json() == {
        "content": "",
        "next_offset": reads[-1][1]["next_offset"],
        "complete": True,
        "state": "success",
    }
    assert os.environ[E2E_SECRET_NAME] not in "".join(contents)


def test_a_log_offset_past_its_end_is_refused(
    platform: Platform, followed_run: FollowedRun
) -> None:
    end = followed_run.reads[-1][1]["next_offset"]
    response = platform.workspace.reader.get(
        f"{run_url(platform, followed_run.run_id)}/tasks/report/log", params={"offset": end + 1}
    )

    assert response.status_code == 422
    assert error_of(response)["details"][0]["where"] == "/query/offset"


def test_outputs_of_each_task(platform: Platform, followed_run: FollowedRun) -> None:
    tasks = f"{run_url(platform, followed_run.run_id)}/tasks"

    report = platform.workspace.reader.get(f"{tasks}/report/output")
    greet = platform.workspace.reader.get(f"{tasks}/greet/output")
    unknown = platform.workspace.reader.get(f"{tasks}/nothing/output")

    assert report.json() == {"message": "hello Ada", "report": "report.html"}
    assert greet.json() == {"message": "hello hello Ada"}
    assert unknown.status_code == 404
    assert "has produced none yet" in error_of(unknown)["message"]


def test_result_files_are_listed_and_downloaded(
    platform: Platform, followed_run: FollowedRun
) -> None:
    results = f"{run_url(platform, followed_run.run_id)}/tasks/report/results"

    listing = platform.workspace.reader.get(results)
    report = platform.workspace.reader.get(f"{results}/report.html")
    numbers = platform.workspace.reader.get(f"{results}/data/numbers.csv")

    assert listing.json() == {
        "files": [
            {"path": "data/numbers.csv", "size": 6, "media_type": "text/csv"},
            {"path": "report.html", "size": len(report.content), "media_type": "text/html"},
        ],
        "display_result": {"file_type": "html", "path": "report.html"},
    }
    assert report.status_code == 200
    assert report.text == "<html><body><h1>Hello Ada</h1></body></html>"
    assert report.headers["content-type"].startswith("text/html")
    assert numbers.text == "n\n1\n2\n"
    assert numbers.headers["content-type"].startswith("text/csv")
    assert "attachment" in numbers.headers["content-disposition"]
    greet = platform.workspace.reader.get(
        f"{run_url(platform, followed_run.run_id)}/tasks/greet/results"
    )
    assert greet.json() == {"files": [], "display_result": None}


def test_result_paths_cannot_leave_the_results_directory(
    platform: Platform, followed_run: FollowedRun
) -> None:
    paths = platform.root.task_run(platform.dag_id, followed_run.run_id, "report")
    (paths.results / "escape.json").symlink_to(paths.output)  # points out of results/
    results = f"{run_url(platform, followed_run.run_id)}/tasks/report/results"
    try:
        listed = [f["path"] for f in platform.workspace.reader.get(results).json()["files"]]
        through_link = platform.workspace.reader.get(f"{results}/escape.json")
        climbing = platform.workspace.reader.get(f"{results}/{quote('../../output.json', safe='')}")
        absolute = platform.workspace.reader.get(f"{results}/{quote('/etc/passwd', safe='')}")
    finally:
        (paths.results / "escape.json").unlink()

    assert "escape.json" not in listed
    assert through_link.status_code == 404
    assert [climbing.status_code, absolute.status_code] == [400, 400]
    assert error_of(climbing)["details"][0]["where"] == "/path/path"
    assert "hello Ada" not in climbing.text + through_link.text + absolute.text


def test_runs_are_listed_newest_first_and_filtered_by_state(
    platform: Platform, followed_run: FollowedRun
) -> None:
    newer = trigger(platform, name="Hedy")
    wait_for_run(platform, newer["run_id"], "success")
    reader = platform.workspace.reader

    everything = reader.get(platform.url).json()
    first = reader.get(platform.url, params={"limit": 1}).json()
    second = reader.get(platform.url, params={"limit": 1, "offset": 1}).json()
    succeeded = reader.get(platform.url, params={"state": "success"}).json()
    unfinished = reader.get(platform.url, params=[("state", "queued"), ("state", "running")])
    bad_state = reader.get(platform.url, params={"state": "sleeping"})

    ids = [run["run_id"] for run in everything]
    assert ids.index(newer["run_id"]) < ids.index(followed_run.run_id)
    assert [run["run_id"] for run in first + second] == ids[:2]
    assert {followed_run.run_id, newer["run_id"]} <= {run["run_id"] for run in succeeded}
    assert {run["state"] for run in succeeded} == {"success"}
    assert not {followed_run.run_id, newer["run_id"]} & {r["run_id"] for r in unfinished.json()}
    assert bad_state.status_code == 422
    assert error_of(bad_state)["details"][0]["where"] == "/query/state/0"


def test_a_failed_task_is_retried_as_a_new_try(platform: Platform) -> None:
    run_id = trigger(platform, name="Grace", fail_first_try=True)["run_id"]
    failed = tasks_of(wait_for_run(platform, run_id, "failed"))
    assert (failed["report"]["state"], failed["report"]["try_number"]) == ("failed", 1)
    assert failed["greet"]["state"] == "upstream_failed"
    no_output = platform.workspace.reader.get(f"{run_url(platform, run_id)}/tasks/report/output")
    assert no_output.status_code == 404

    retried = platform.workspace.owner.post(f"{run_url(platform, run_id)}/tasks/report/retry")

    assert retried.status_code == 200, retried.text
    # Back to queued; a quick scheduler may already have moved it on.
    assert retried.json()["state"] in ("queued", "running"), retried.json()
    assert tasks_of(retried.json())["report"]["state"] != "failed", retried.json()
    tasks = tasks_of(wait_for_run(platform, run_id, "success"))
    assert (tasks["report"]["state"], tasks["report"]["try_number"]) == ("success", 2)
    assert tasks["greet"]["state"] == "success"
    log = platform.workspace.reader.get(f"{run_url(platform, run_id)}/tasks/report/log").json()
    assert "the first try fails on purpose" in log["content"]
    assert log["content"].index(", try 1") < log["content"].index(", try 2")


def test_a_running_run_is_cancelled(platform: Platform) -> None:
    run_id = trigger(platform, name="Linus", sleep_seconds=120)["run_id"]
    url = run_url(platform, run_id)

    def ticking() -> bool | None:
        log = platform.workspace.reader.get(f"{url}/tasks/report/log").json()
        return True if "tick 2" in log["content"] else None

    wait_for(ticking, "the report task did not start ticking")
    retried_while_running = platform.workspace.owner.post(f"{url}/tasks/report/retry")
    assert retried_while_running.status_code == 409
    assert error_of(retried_while_running)["message"] == (
        "task 'report' is running: retry it once it has finished"
    )
    cancelled = platform.workspace.owner.post(f"{url}/cancel")

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "failed"

    def stopped() -> dict[str, Any] | None:
        tasks = tasks_of(platform.workspace.reader.get(url).json())
        return tasks if tasks["report"]["state"] not in ("running", "queued") else None

    tasks = wait_for(stopped, "the report task did not stop", timeout=30)
    assert platform.workspace.reader.get(url).json()["state"] == "failed"
    assert tasks["report"]["state"] != "success"
    assert tasks["greet"]["state"] != "success"
    again = platform.workspace.owner.post(f"{url}/cancel")
    assert again.status_code == 409
    assert error_of(again)["message"] == f"run {run_id!r} has already finished (failed)"


def test_unknown_runs_and_tasks_are_404(platform: Platform, followed_run: FollowedRun) -> None:
    unknown_run = platform.workspace.reader.get(run_url(platform, "manual__1999-01-01T00:00:00"))
    unknown_task = platform.workspace.reader.get(
        f"{run_url(platform, followed_run.run_id)}/tasks/nothing/log"
    )

    assert [unknown_run.status_code, unknown_task.status_code] == [404, 404]
    assert "run 'manual__1999-01-01T00:00:00' of workflow" in error_of(unknown_run)["message"]
    assert error_of(unknown_task)["message"] == (
        f"task 'nothing' in run {followed_run.run_id!r} not found"
    )


def test_a_workflow_airflow_does_not_know_is_a_502_with_airflows_message(
    platform: Platform,
) -> None:
    lost = add_workflow(platform.context, platform.workspace.id, DOCUMENT)  # never compiled

    response = platform.workspace.owner.post(
        runs_url(platform.workspace.id, lost.id), json={"parameters": {"name": "Ada"}}
    )

    assert response.status_code == 502
    message = error_of(response)["message"]
    assert lost.dag_id in message and "404" in message
