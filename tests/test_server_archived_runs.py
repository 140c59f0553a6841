"""The runs API after housekeeping has moved a run to the bucket (moto's server): a task's log,
output, results and result files answer as they did from the root. A real run of the session's
Airflow is archived and read again; the answers without a bucket, or with a bucket that fails,
are checked on SQLite and PostgreSQL with a run written by hand."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from flowui.server.app import create_app
from flowui.server.context import ServerContext, StorageBucket
from flowui.storage import run_directory_name, workspace_bucket
from flowui.storage.housekeeping import archive_runs
from tests.support.airflow_platform import AirflowPlatform
from tests.support.aws import aws_client, new_bucket
from tests.support.finished_runs import (
    GREET_FILES,
    MONTH,
    OLD_RUN,
    REPORT_FILES,
    set_age,
    write_run,
)
from tests.support.runs_api import (
    DOCUMENT,
    FollowedRun,
    Platform,
    add_workflow,
    follow_a_run,
    make_workspace,
    report_workflow_platform,
    run_url,
    runs_url,
)
from tests.support.server_api import error_of


# The runs API's deployed workflow and its finished run, set up as tests/test_server_runs.py
# does (this module gets its own).
@pytest.fixture(scope="module")
def platform(
    airflow_platform: AirflowPlatform, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    with report_workflow_platform(airflow_platform, tmp_path_factory.mktemp("runs-api")) as ready:
        yield ready


@pytest.fixture(scope="module")
def followed_run(platform: Platform) -> FollowedRun:
    return follow_a_run(platform)


def task_answers(get: Any, run: str) -> dict[str, Response]:
    """Everything the GUI reads of a run's tasks besides Airflow's states."""
    return {
        "report output": get(f"{run}/tasks/report/output"),
        "greet output": get(f"{run}/tasks/greet/output"),
        "report results": get(f"{run}/tasks/report/results"),
        "greet results": get(f"{run}/tasks/greet/results"),
        "report.html": get(f"{run}/tasks/report/results/report.html"),
        "numbers.csv": get(f"{run}/tasks/report/results/data/numbers.csv"),
    }


def same_answer(before: Response, after: Response) -> None:
    assert (after.status_code, after.content) == (before.status_code, before.content)
    for header in ("content-type", "content-disposition", "content-security-policy"):
        assert after.headers.get(header) == before.headers.get(header), header


# --- a real run of the session's Airflow ------------------------------------------------------


def test_an_archived_runs_log_output_and_results_answer_as_before(
    platform: Platform, followed_run: FollowedRun, moto_environment: str
) -> None:
    platform_bucket = new_bucket(moto_environment, "flowui-runs")
    s3 = aws_client(moto_environment, "s3")
    s3.create_bucket(Bucket=workspace_bucket(platform_bucket, platform.workspace.id))
    context = dataclasses.replace(platform.context, storage=StorageBucket(platform_bucket))
    run = run_url(platform, followed_run.run_id)
    reader = platform.workspace.reader
    log = f"{run}/tasks/report/log"
    before = task_answers(reader.get, run) | {"log": reader.get(log)}
    run_directory = platform.root.dag_runs(platform.dag_id) / run_directory_name(
        followed_run.run_id
    )
    set_age(run_directory, timedelta(days=40))

    report = archive_runs(
        platform.context.root,
        s3,
        platform_bucket,
        MONTH,
        datetime.now(UTC),
        only_workspace=platform.workspace.id,
    )

    assert [archived.run_directory for archived in report.of("archived")] == [run_directory.name]
    assert not run_directory.exists()
    with TestClient(create_app(context)) as client:

        def get(url: str) -> Response:
            return client.get(url, headers=reader.headers)

        after = task_answers(get, run) | {"log": get(log)}
        followed = get(f"{log}?offset={before['log'].json()['next_offset'] - 20}")
    for name, answer in before.items():
        assert answer.status_code == 200, (name, answer.text)
        same_answer(answer, after[name])
    assert "task succeeded" in after["log"].json()["content"]
    assert after["log"].json()["complete"] is True
    assert followed.json()["content"] == before["log"].json()["content"][-20:]


# --- a run written by hand: SQLite and PostgreSQL -----------------------------------------------


@dataclass(frozen=True)
class ArchivedRun:
    context: ServerContext
    platform_bucket: str  # the server's FLOWUI_STORAGE_BUCKET
    bucket: str  # the workspace's, where the run went
    endpoint: str
    url: str  # the run's URL in the runs API
    prefix: str  # of its objects in the bucket
    headers: dict[str, str]

    def get(self, path: str, *, storage: bool = True) -> Response:
        context = self.context
        if storage:
            context = dataclasses.replace(context, storage=StorageBucket(self.platform_bucket))
        with TestClient(create_app(context)) as client:
            return client.get(f"{self.url}/{path}", headers=self.headers)


@pytest.fixture
def archived_run(server_context: ServerContext, moto_environment: str) -> Iterator[ArchivedRun]:
    platform_bucket = new_bucket(moto_environment, "flowui-runs")
    with TestClient(create_app(server_context)) as client:
        workspace = make_workspace(client)
    workflow = add_workflow(server_context, workspace.id, DOCUMENT)
    bucket = workspace_bucket(platform_bucket, workspace.id)
    s3 = aws_client(moto_environment, "s3")
    s3.create_bucket(Bucket=bucket)
    # Written where the workspace's runs are: its tree.
    tree = server_context.root.workspace(workspace.id)
    directory = write_run(tree, OLD_RUN, timedelta(days=40), workflow.dag_id)
    archive_runs(server_context.root, s3, platform_bucket, MONTH, datetime.now(UTC))
    assert not directory.exists()
    yield ArchivedRun(
        context=server_context,
        platform_bucket=platform_bucket,
        bucket=bucket,
        endpoint=moto_environment,
        url=f"{runs_url(workspace.id, workflow.id)}/{quote(OLD_RUN, safe='')}",
        prefix=f"runs/{workflow.dag_id}/{directory.name}/",
        headers=workspace.reader.headers,
    )


def test_an_archived_tasks_output_and_result_files_come_from_the_bucket(
    archived_run: ArchivedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(downloads))

    output = archived_run.get("tasks/report/output")
    results = archived_run.get("tasks/report/results")
    report = archived_run.get("tasks/report/results/report.html")
    greet = archived_run.get("tasks/greet/results")

    assert output.json() == json.loads(REPORT_FILES["output.json"])
    assert results.json() == {
        "files": [
            {"path": "data/numbers.csv", "size": 6, "media_type": "text/csv"},
            {
                "path": "report.html",
                "size": len(REPORT_FILES["results/report.html"]),
                "media_type": "text/html",
            },
        ],
        "display_result": {"file_type": "html", "path": "report.html"},
    }
    assert report.content == REPORT_FILES["results/report.html"]
    assert report.headers["content-type"].startswith("text/html")
    assert report.headers["content-disposition"] == 'attachment; filename="report.html"'
    assert list(downloads.iterdir()) == []  # the copy fetched from the bucket is gone
    assert greet.json() == {"files": [], "display_result": None}
    assert archived_run.get("tasks/greet/output").json() == json.loads(GREET_FILES["output.json"])


def test_archived_result_paths_stay_inside_the_results_directory(
    archived_run: ArchivedRun,
) -> None:
    climbing = archived_run.get(f"tasks/report/results/{quote('../output.json', safe='')}")
    missing = archived_run.get("tasks/report/results/missing.csv")
    no_output = archived_run.get("tasks/never_ran/output")

    assert climbing.status_code == 400
    assert error_of(climbing)["details"][0]["where"] == "/path/path"
    assert missing.status_code == 404
    assert error_of(missing)["message"] == "result file 'missing.csv' not found"
    assert no_output.status_code == 404
    assert "has produced none yet" in error_of(no_output)["message"]


def test_without_a_bucket_an_archived_task_says_where_its_run_went(
    archived_run: ArchivedRun,
) -> None:
    where = f"was archived to s3://{archived_run.bucket}/{archived_run.prefix}"

    for path in ("tasks/report/output", "tasks/report/results", "tasks/report/results/report.html"):
        response = archived_run.get(path, storage=False)

        assert response.status_code == 503, path
        error = error_of(response)
        assert where in error["message"]
        assert "FLOWUI_STORAGE_BUCKET" in error["message"]


def test_a_bucket_that_fails_or_holds_other_data_is_a_502_naming_the_archive(
    archived_run: ArchivedRun,
) -> None:
    s3 = aws_client(archived_run.endpoint, "s3")
    s3.delete_object(Bucket=archived_run.bucket, Key=f"{archived_run.prefix}report/output.json")
    s3.put_object(
        Bucket=archived_run.bucket,
        Key=f"{archived_run.prefix}report/results/report.html",
        Body=b"<script>not what was archived</script>",
    )

    gone = archived_run.get("tasks/report/output")
    changed = archived_run.get("tasks/report/results/report.html")

    where = f"was archived to s3://{archived_run.bucket}/{archived_run.prefix}; reading it failed"
    assert [gone.status_code, changed.status_code] == [502, 502]
    assert where in error_of(gone)["message"] and "NoSuchKey" in error_of(gone)["message"]
    assert where in error_of(changed)["message"] and "sha256" in error_of(changed)["message"]
    assert error_of(changed)["code"] == "storage_error"
    assert b"<script>" not in changed.content
