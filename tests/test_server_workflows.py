"""The workflows API on SQLite and PostgreSQL: versions, diffs, validation with pointers, deploy
and delete of DAG files, export and import, hostile text; and once against a real Airflow."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from flowui.platform import free_port
from flowui.server.app import create_app
from flowui.server.context import AirflowConnection, ServerContext
from flowui.server.models import Repository
from flowui.server.services.workflows import document_changes, next_run_at
from flowui.workflows import spec
from flowui.workflows.compile import DAG_STUB, dag_paths
from flowui.workflows.runtimes import batch_variable
from tests.support.airflow_platform import AirflowPlatform
from tests.support.operator_repositories import MODEL
from tests.support.server_api import ApiUser, sign_up
from tests.support.workflows_api import (
    NEVER_BUILT_IMAGE,
    Lab,
    document,
    import_repository,
    problems_of,
    task,
)

DAG_ID = re.compile(r"flowui_[0-9a-f]{16}")
HOSTILE = (
    "\"'); import os; os.system('touch /tmp/flowui-pwned') #\n"
    '"""\n../../etc/passwd {{ dag_id }} ${HOME} `id` \\ \t<script>alert(1)</script>'
)


@pytest.fixture
def lab(api: TestClient, server_context: ServerContext, tmp_path: Path) -> Lab:
    owner = sign_up(api, "ada@example.org")
    workspace_id = owner.post("/api/workspaces", json={"name": "lab"}).json()["id"]
    import_repository(server_context, workspace_id, tmp_path / "repo")
    return Lab(owner, workspace_id, server_context)


def test_create_read_update_and_list_keep_every_version(lab: Lab) -> None:
    first = document(tags=["daily"], schedule={"type": "preset", "preset": "daily"})
    created = lab.create(first)
    url = f"{lab.url}/{created['id']}"
    second = document(
        "greetings",
        task(name={"value": "grace"}),
        task("again", name={"from": "hello", "output": "message"}),
        description="Greets twice.",
    )

    updated = lab.owner.put(url, json={"document": second})

    assert created["current_version"] == 1 and created["new_version"] is True
    assert created["deployed_version"] is None and DAG_ID.fullmatch(created["dag_id"])
    assert updated.status_code == 200, updated.text
    assert updated.json()["current_version"] == 2 and updated.json()["new_version"] is True
    assert lab.owner.get(url).json()["document"] == second
    versions = lab.owner.get(f"{url}/versions").json()
    assert [(v["number"], v["created_by"]) for v in versions] == [
        (1, "ada@example.org"),
        (2, "ada@example.org"),
    ]
    assert lab.owner.get(f"{url}/versions/1").json()["document"] == first
    assert lab.owner.get(f"{url}/versions/3").status_code == 404
    [listed] = lab.owner.get(lab.url).json()
    assert listed["name"] == "greetings" and listed["description"] == "Greets twice."
    assert listed["tags"] == [] and listed["schedule"] == {"type": "none"}
    assert listed["current_version"] == 2 and listed["is_paused"] is False


def test_saving_an_identical_document_creates_no_version(lab: Lab) -> None:
    created = lab.create(document())
    url = f"{lab.url}/{created['id']}"

    again = lab.owner.put(url, json={"document": document()})

    assert again.status_code == 200
    assert again.json()["new_version"] is False and again.json()["current_version"] == 1
    assert again.json()["updated_at"] == created["updated_at"]
    assert len(lab.owner.get(f"{url}/versions").json()) == 1


def test_the_list_searches_names_and_pages(lab: Lab) -> None:
    for name in ("gamma", "beta report", "Alpha report", "100% done"):
        lab.create(document(name))

    reports = lab.owner.get(lab.url, params={"search": "REPORT"}).json()
    percent = lab.owner.get(lab.url, params={"search": "0%"}).json()
    underscore = lab.owner.get(lab.url, params={"search": "_"}).json()
    page = lab.owner.get(lab.url, params={"limit": 2, "offset": 1}).json()
    too_many = lab.owner.get(lab.url, params={"limit": 100_000})

    assert [w["name"] for w in reports] == ["Alpha report", "beta report"]
    assert [w["name"] for w in percent] == ["100% done"]  # '%' is a character, not a wildcard
    assert underscore == []
    assert [w["name"] for w in page] == ["Alpha report", "beta report"]
    assert too_many.status_code == 422 and "/query/limit" in problems_of(too_many)


def test_diff_lists_each_change_at_its_pointer(lab: Lab) -> None:
    first = document(tags=["x"], schedule={"type": "preset", "preset": "daily"})
    second_task = task("again", name={"from": "hello", "output": "message"})
    second = document(
        "greetings", task(name={"value": "grace"}), second_task, tags=["x", "y"], description="new"
    )
    url = f"{lab.url}/{lab.create(first)['id']}"
    lab.owner.put(url, json={"document": second})

    changes = lab.owner.get(f"{url}/diff", params={"from": 1, "to": 2})
    backwards = lab.owner.get(f"{url}/diff", params={"from": 2, "to": 1}).json()

    assert changes.status_code == 200, changes.text
    assert changes.json() == [
        {"op": "replace", "path": "/tasks/0/inputs/name/value", "old": "ada", "new": "grace"},
        {"op": "add", "path": "/tasks/1", "old": None, "new": second_task},
        {"op": "add", "path": "/tags/1", "old": None, "new": "y"},
        {"op": "remove", "path": "/schedule", "old": first["schedule"], "new": None},
        {"op": "add", "path": "/description", "old": None, "new": "new"},
    ]
    assert {change["op"] for change in backwards} == {"add", "remove", "replace"}
    assert lab.owner.get(f"{url}/diff", params={"from": 1, "to": 1}).json() == []
    unknown = lab.owner.get(f"{url}/diff", params={"from": 1, "to": 9})
    assert unknown.status_code == 404 and "version 9" in unknown.json()["error"]["message"]


def test_diff_tells_json_types_apart_and_escapes_pointers() -> None:
    changes = document_changes({"catchup": False, "a/b~": [1]}, {"catchup": 0, "a/b~": [True]})

    assert [(change.op, change.path) for change in changes] == [
        ("replace", "/catchup"),
        ("replace", "/a~1b~0/0"),
    ]


def test_an_invalid_document_is_422_with_a_pointer_per_problem(lab: Lab) -> None:
    invalid = document(
        "broken",
        task("ghostly", operator="NoSuchOperator"),
        task("greet", operator="GreetOperator"),
        task("echo", name={"from": "ghost", "output": "message"}),
    )

    created = lab.owner.post(lab.url, json={"document": invalid})

    assert created.status_code == 422
    problems = problems_of(created)
    assert set(problems) == {
        "/body/document/tasks/0/operator/name",
        "/body/document/tasks/1/inputs/name",
        "/body/document/tasks/2/inputs/name/from",
    }
    assert problems["/body/document/tasks/0/operator/name"] == (
        'repository "demo" has no operator "NoSuchOperator" (did you mean "HelloOperator"?)'
    )
    assert problems["/body/document/tasks/1/inputs/name"].startswith(
        'input "name" of GreetOperator is required'
    )
    assert 'there is no task "ghost"' in problems["/body/document/tasks/2/inputs/name/from"]
    assert lab.owner.get(lab.url).json() == []


def test_validate_answers_without_saving(lab: Lab) -> None:
    invalid = document("broken", task("greet", operator="GreetOperator"))

    bad = lab.owner.post(f"{lab.url}/validate", json={"document": invalid})
    good = lab.owner.post(f"{lab.url}/validate", json={"document": document()})

    assert bad.status_code == 200
    assert bad.json()["valid"] is False
    assert [problem["pointer"] for problem in bad.json()["problems"]] == ["/tasks/0/inputs/name"]
    assert good.json() == {"valid": True, "problems": []}
    assert lab.owner.get(lab.url).json() == []


def test_keys_with_unicode_digits_are_reported_in_order_not_a_crash(lab: Lab) -> None:
    # str.isdigit() takes the superscripts '¹' and '²', which int() refuses.
    doc = {**document(), "¹": 1, "²": 2, "tasks": {"¹": "x"}}

    answer = lab.owner.post(f"{lab.url}/validate", json={"document": doc})

    assert answer.status_code == 200, answer.text
    pointers = [problem["pointer"] for problem in answer.json()["problems"]]
    assert pointers == sorted(pointers) and "/tasks" in pointers


def test_a_taken_name_is_a_conflict(lab: Lab) -> None:
    lab.create(document("nightly"))
    other = lab.create(document("weekly"))

    twin = lab.owner.post(lab.url, json={"document": document("nightly")})
    rename = lab.owner.put(f"{lab.url}/{other['id']}", json={"document": document("nightly")})

    for response in (twin, rename):
        assert response.status_code == 409
        assert "'nightly' already exists" in response.json()["error"]["message"]
        assert set(problems_of(response)) == {"/body/document/name"}
    assert lab.owner.get(f"{lab.url}/{other['id']}").json()["name"] == "weekly"


def test_other_workspaces_do_not_see_workflows_and_readers_cannot_change_them(
    api: TestClient, lab: Lab
) -> None:
    workflow_url = f"{lab.url}/{lab.create(document())['id']}"
    grace = sign_up(api, "grace@example.org")
    own_workspace = grace.post("/api/workspaces", json={"name": "hers"}).json()["id"]

    assert grace.get(workflow_url).status_code == 404
    assert grace.get(lab.url).status_code == 404
    through_own = grace.get(workflow_url.replace(f"/{lab.id}/", f"/{own_workspace}/"))
    assert through_own.status_code == 404
    assert through_own.json()["error"]["message"].startswith("workflow ")

    lab.owner.post(
        f"/api/workspaces/{lab.id}/invitations", json={"email": grace.email, "role": "read"}
    )
    [invitation] = grace.get("/api/invitations").json()
    grace.post(f"/api/invitations/{invitation['id']}/accept")

    assert grace.get(workflow_url).status_code == 200
    assert grace.get(f"{workflow_url}/export").status_code == 200
    assert grace.post(f"{lab.url}/validate", json={"document": document()}).status_code == 200
    writes = [
        grace.post(lab.url, json={"document": document("mine")}),
        grace.put(workflow_url, json={"document": document("mine")}),
        grace.post(f"{workflow_url}/deploy"),
        grace.post(f"{workflow_url}/pause"),
        grace.delete(workflow_url),
        grace.post(f"{lab.url}/import", files={"file": ("w.json", b"{}", "application/json")}),
    ]
    assert [response.status_code for response in writes] == [403] * len(writes)


def test_deploy_writes_the_dag_files_and_delete_removes_them(lab: Lab) -> None:
    root = lab.context.root
    created = lab.create(document())
    url = f"{lab.url}/{created['id']}"
    dag_id = created["dag_id"]

    deployed = lab.owner.post(f"{url}/deploy")

    assert deployed.status_code == 200, deployed.text
    assert deployed.json()["deployed_version"] == 1
    dag_document, stub = dag_paths(root, dag_id)
    assert stub.read_text() == DAG_STUB
    assert json.loads(dag_document.read_text())["workflow"]["name"] == "greetings"

    lab.owner.put(url, json={"document": document(description="edited")})
    paused = lab.owner.post(f"{url}/pause").json()
    assert (paused["current_version"], paused["deployed_version"]) == (2, 1)
    assert paused["is_paused"] is True
    assert lab.owner.post(f"{url}/resume").json()["is_paused"] is False

    run = root.workspace(lab.id).task_run(dag_id, "manual__2026-01-01", "hello").create()
    run.log.write_text("hello ada\n")
    deleted = lab.owner.delete(url)

    assert deleted.status_code == 204
    assert not dag_document.exists() and not stub.exists()
    assert lab.owner.get(url).status_code == 404
    assert lab.owner.get(f"{url}/versions").status_code == 404
    assert run.log.read_text() == "hello ada\n"  # the runs' files stay


def test_a_deploy_airflow_does_not_take_is_not_recorded_and_leaves_the_deployed_dag(
    lab: Lab,
) -> None:
    created = lab.create(document())
    url = f"{lab.url}/{created['id']}"
    dag_document, stub = dag_paths(lab.context.root, created["dag_id"])
    # Nothing listens there: Airflow does not answer the deploy.
    unreachable = AirflowConnection(f"http://127.0.0.1:{free_port()}", "admin", "admin")
    with TestClient(create_app(replace(lab.context, airflow=unreachable))) as api:
        owner = ApiUser(api, lab.owner.email, lab.owner.password, lab.owner.token)

        first = owner.post(f"{url}/deploy")
        assert (dag_document.exists(), stub.exists()) == (False, False)
        assert lab.owner.post(f"{url}/deploy").status_code == 200  # version 1, no Airflow
        deployed_first = dag_document.read_text()
        lab.owner.put(url, json={"document": document(description="edited")})
        second = owner.post(f"{url}/deploy")

    assert first.status_code == second.status_code == 502
    assert (
        "Airflow did not take version 1 (nothing is deployed)" in first.json()["error"]["message"]
    )
    assert "version 1 stays deployed" in second.json()["error"]["message"]
    detail = lab.owner.get(url).json()
    assert (detail["current_version"], detail["deployed_version"]) == (2, 1)
    assert dag_document.read_text() == deployed_first  # what Airflow runs is what is recorded


def test_deploy_validates_again_against_the_operators_imported_now(lab: Lab) -> None:
    created = lab.create(document())
    with lab.context.sessions() as session:
        session.delete(session.query(Repository).one())
        session.commit()

    deployed = lab.owner.post(f"{lab.url}/{created['id']}/deploy")

    assert deployed.status_code == 422
    assert "version 1 cannot be deployed" in deployed.json()["error"]["message"]
    assert set(problems_of(deployed)) == {"/document/tasks/0/operator/repository"}
    assert not any(path.exists() for path in dag_paths(lab.context.root, created["dag_id"]))


def test_a_deploy_names_the_secrets_its_tasks_need_and_the_workspace_has_not_set(
    api: TestClient, server_context: ServerContext, tmp_path: Path
) -> None:
    owner = sign_up(api, "ada@example.org")
    workspace_id = owner.post("/api/workspaces", json={"name": "lab"}).json()["id"]
    vault_model = MODEL + (
        "\n\nclass SecretsModel(BaseModel):\n    API_TOKEN: str\n    REGION_KEY: str\n"
        "    PROXY_URL: str | None = None\n"
    )
    import_repository(
        server_context, workspace_id, tmp_path / "repo", models={"VaultOperator": vault_model}
    )
    lab = Lab(owner, workspace_id, server_context)
    created = lab.create(document("vault", task("fetch", "VaultOperator")))
    url = f"{lab.url}/{created['id']}/deploy"
    secrets = f"/api/workspaces/{workspace_id}/secrets/demo"

    refused = lab.owner.post(url)
    owner.put(f"{secrets}/API_TOKEN", json={"value": "t0ken"})
    still_refused = lab.owner.post(url)
    owner.put(f"{secrets}/REGION_KEY", json={"value": "k3y"})
    deployed = lab.owner.post(url)  # PROXY_URL has a default: it may stay unset

    assert refused.status_code == still_refused.status_code == 422
    assert "secrets its tasks need are not set" in refused.json()["error"]["message"]
    assert problems_of(refused) == {
        "/document/tasks/0/operator": "task fetch (VaultOperator 0.1.0) needs the secrets "
        "API_TOKEN, REGION_KEY of repository demo, not set in this workspace: set them in the "
        "workspace's secrets"
    }
    assert problems_of(still_refused) == {
        "/document/tasks/0/operator": "task fetch (VaultOperator 0.1.0) needs the secret "
        "REGION_KEY of repository demo, not set in this workspace: set it in the workspace's "
        "secrets"
    }
    assert deployed.status_code == 200, deployed.text


# --- what deploying checks per runtime -----------------------------------------------------------


def batch_variables(lab: Lab) -> tuple[str, str]:
    """The job definition and queue variables of HelloOperator 0.1.0 in the lab's workspace."""
    return (
        batch_variable("DEFINITION", "HelloOperator", "0.1.0", lab.id),
        batch_variable("QUEUE", "HelloOperator", "0.1.0", lab.id),
    )


def compiled_runtimes(lab: Lab, dag_id: str) -> dict[str, str]:
    """Each task's runtime in the DAG document that deploying wrote."""
    dag_document = json.loads(dag_paths(lab.context.root, dag_id)[0].read_text())
    return {task_id: task["runtime"] for task_id, task in dag_document["tasks"].items()}


def test_deploy_refuses_a_batch_task_without_its_job_definition_variable(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    definition, queue = batch_variables(lab)
    assert definition == "AWS_BATCH_JOB_DEFINITION_HelloOperator_0_1_0_WORKSPACE_" + str(lab.id)
    monkeypatch.delenv(definition, raising=False)
    monkeypatch.setenv(queue, "flowui-queue")
    created = lab.create(document("batch", {**task(name={"value": "ada"}), "runtime": "aws_batch"}))
    url = f"{lab.url}/{created['id']}"

    refused = lab.owner.post(f"{url}/deploy")

    assert refused.status_code == 422
    assert refused.json()["error"]["message"] == (
        "version 1 cannot be deployed: its tasks' runtimes are not ready for it (1 problem)"
    )
    [(where, message)] = problems_of(refused).items()
    assert where == "/document/tasks/0/runtime"
    assert f"task hello (HelloOperator 0.1.0) runs in aws_batch, but {definition} " in message
    assert queue not in message
    assert not any(path.exists() for path in dag_paths(lab.context.root, created["dag_id"]))
    assert lab.owner.get(url).json()["deployed_version"] is None

    monkeypatch.setenv(definition, "flowui-hello:1")
    deployed = lab.owner.post(f"{url}/deploy")

    assert deployed.status_code == 200, deployed.text
    assert compiled_runtimes(lab, created["dag_id"]) == {"hello": "aws_batch"}


def test_deploy_refuses_a_process_task_whose_group_is_an_image(lab: Lab) -> None:
    created = lab.create(document("imaged", task("tool", "ImagedOperator")))

    refused = lab.owner.post(f"{lab.url}/{created['id']}/deploy")

    assert refused.status_code == 422
    [(where, message)] = problems_of(refused).items()
    assert where == "/document/tasks/0/runtime"
    assert message.startswith("task tool (ImagedOperator 0.1.0) runs in process, but its")
    assert "choose the docker, kubernetes or aws_batch runtime" in message
    assert not any(path.exists() for path in dag_paths(lab.context.root, created["dag_id"]))


def test_deploy_refuses_a_docker_task_whose_image_is_not_in_the_engine(
    lab: Lab,
    podman_socket: str,
    container_base_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", podman_socket)  # a real engine: Podman's Docker API
    import_repository(lab.context, lab.id, tmp_path / "tools", "tools", image=container_base_image)
    never_built = {**task("missing", "ImagedOperator"), "runtime": "docker"}
    present = {**task("present", "ImagedOperator", repository="tools"), "runtime": "docker"}
    both = lab.create(document("both", never_built, present))
    built = lab.create(document("built", present))

    refused = lab.owner.post(f"{lab.url}/{both['id']}/deploy")
    deployed = lab.owner.post(f"{lab.url}/{built['id']}/deploy")

    assert refused.status_code == 422
    [(where, message)] = problems_of(refused).items()
    assert where == "/document/tasks/0/runtime"
    assert message.startswith(
        f"task missing (ImagedOperator 0.1.0) runs in docker, but the image {NEVER_BUILT_IMAGE}"
        " of its dependency group is not built: run `flowui operators build "
    )
    assert not any(path.exists() for path in dag_paths(lab.context.root, both["dag_id"]))
    assert deployed.status_code == 200, deployed.text
    assert compiled_runtimes(lab, built["dag_id"]) == {"present": "docker"}


def test_tasks_without_a_runtime_are_compiled_with_the_workspaces_default(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in batch_variables(lab):
        monkeypatch.setenv(variable, "flowui-hello")
    own = {**task("local", name={"value": "ada"}), "runtime": "process"}
    created = lab.create(document("defaults", task(name={"value": "ada"}), own))
    workspace_url = f"/api/workspaces/{lab.id}"
    url = f"{lab.url}/{created['id']}"

    # Without a default of its own, the workspace takes the platform's: process here.
    assert lab.owner.post(f"{url}/deploy").status_code == 200
    assert compiled_runtimes(lab, created["dag_id"]) == {"hello": "process", "local": "process"}

    changed = lab.owner.patch(workspace_url, json={"default_runtime": "aws_batch"})
    assert changed.status_code == 200, changed.text
    redeployed = lab.owner.post(f"{url}/deploy")

    assert redeployed.status_code == 200, redeployed.text
    assert compiled_runtimes(lab, created["dag_id"]) == {"hello": "aws_batch", "local": "process"}
    # The stored document still names no runtime: the default is the workspace's to change.
    assert "runtime" not in lab.owner.get(url).json()["document"]["tasks"][0]


def test_tasks_without_a_runtime_take_the_platforms_default_in_a_workspace_without_one(
    server_context: ServerContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_batch = replace(server_context, default_runtime="aws_batch")
    with TestClient(create_app(on_batch)) as client:
        owner = sign_up(client, "ada@example.org")
        workspace_id = owner.post("/api/workspaces", json={"name": "lab"}).json()["id"]
        import_repository(on_batch, workspace_id, tmp_path / "repo")
        lab = Lab(owner, workspace_id, on_batch)
        for variable in batch_variables(lab):
            monkeypatch.setenv(variable, "flowui-hello")
        created = lab.create(document())

        deployed = owner.post(f"{lab.url}/{created['id']}/deploy")

        assert deployed.status_code == 200, deployed.text
        assert compiled_runtimes(lab, created["dag_id"]) == {"hello": "aws_batch"}


NOW = datetime(2026, 3, 10, 10, 20, tzinfo=UTC)  # a Tuesday


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def cron(expression: str) -> dict[str, str]:
    return {"type": "cron", "expression": expression}


def preset(name: str) -> dict[str, str]:
    return {"type": "preset", "preset": name}


def once(at: str) -> dict[str, str]:
    return {"type": "once", "at": at}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"schedule": cron("*/15 * * * *")}, utc(2026, 3, 10, 10, 30), id="cron"),
        pytest.param({"schedule": cron("0 9 * * 1-5")}, utc(2026, 3, 11, 9), id="cron-tomorrow"),
        pytest.param({"schedule": cron("0 0 * * 7")}, utc(2026, 3, 15), id="cron-7-is-sunday"),
        pytest.param({"schedule": cron("0 0 30 2 *")}, None, id="cron-never-due"),
        pytest.param({"schedule": preset("hourly")}, utc(2026, 3, 10, 11), id="hourly"),
        pytest.param({"schedule": preset("daily")}, utc(2026, 3, 11), id="daily"),
        pytest.param({"schedule": preset("weekly")}, utc(2026, 3, 15), id="weekly-on-sunday"),
        pytest.param({"schedule": preset("monthly")}, utc(2026, 4, 1), id="monthly"),
        pytest.param({"schedule": preset("yearly")}, utc(2027, 1, 1), id="yearly"),
        pytest.param(
            {"schedule": cron("0 9 * * *"), "start_date": "2026-06-01T12:00:00+00:00"},
            utc(2026, 6, 2, 9),
            id="start-date-ahead-waits-for-the-first-cron-time-after-it",
        ),
        pytest.param(
            {"schedule": preset("daily"), "start_date": "2026-06-01T00:00:00+00:00"},
            utc(2026, 6, 1),
            id="start-date-on-a-cron-time-is-the-first-run",
        ),
        pytest.param(
            {"schedule": preset("daily"), "start_date": "2025-01-01T00:00:00Z", "catchup": True},
            utc(2026, 3, 11),
            id="start-date-passed-with-catchup-is-the-next-time-on-the-schedule",
        ),
        pytest.param(
            {"schedule": preset("daily"), "start_date": "2026-01-01T00:00:00+02:00"},
            utc(2026, 3, 10, 22),
            id="cron-read-in-the-start-dates-timezone",
        ),
        pytest.param(
            {"schedule": preset("daily"), "start_date": "2026-06-01T00:00:00"},
            utc(2026, 6, 1),
            id="date-without-offset-is-utc",
        ),
        pytest.param(
            {"schedule": preset("daily"), "end_date": "2026-03-01T00:00:00Z"},
            None,
            id="end-date-passed",
        ),
        pytest.param(
            {"schedule": preset("daily"), "end_date": "2026-03-10T23:00:00Z"},
            None,
            id="end-date-before-the-next-cron-time",
        ),
        pytest.param(
            {"schedule": preset("daily"), "end_date": "2026-03-11T00:00:00Z"},
            utc(2026, 3, 11),
            id="end-date-on-the-next-cron-time",
        ),
        pytest.param(
            {"schedule": once("2026-03-10T12:00:00+01:00")}, utc(2026, 3, 10, 11), id="once-ahead"
        ),
        pytest.param({"schedule": once("2026-03-10T10:00:00Z")}, None, id="once-passed"),
        pytest.param(
            {"schedule": once("2026-05-01T00:00:00Z"), "end_date": "2026-04-01T00:00:00Z"},
            None,
            id="once-after-end-date",
        ),
        pytest.param({}, None, id="manual-only"),
    ],
)
def test_next_run_at_follows_airflows_timetable(
    fields: dict[str, Any], expected: datetime | None
) -> None:
    result = next_run_at(spec.Workflow.model_validate(document(**fields)), NOW)

    assert result == expected
    assert result is None or result.utcoffset() == timedelta(0)


def test_next_run_at_is_strictly_after_now() -> None:
    quarterly = spec.Workflow.model_validate(document(schedule=cron("*/15 * * * *")))

    assert next_run_at(quarterly, utc(2026, 3, 10, 10, 30)) == utc(2026, 3, 10, 10, 45)


def next_time_of_day(hour: int, minute: int, after: datetime) -> datetime:
    """The first hour:minute UTC strictly after `after`."""
    today = after.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return today if today > after else today + timedelta(days=1)


def next_run_of(workflow: dict[str, Any]) -> datetime | None:
    value = workflow["next_run_at"]
    return None if value is None else datetime.fromisoformat(value)


def test_next_run_at_follows_the_deployed_version_while_the_workflow_is_active(
    lab: Lab,
) -> None:
    created = lab.create(document(schedule=cron("0 9 * * *")))
    url = f"{lab.url}/{created['id']}"

    def shown() -> list[datetime | None]:
        """next_run_at as read and as listed."""
        [listed] = lab.owner.get(lab.url).json()
        return [next_run_of(lab.owner.get(url).json()), next_run_of(listed)]

    def at_nine(request: Any) -> tuple[dict[str, Any], set[datetime]]:
        """The response, and the first 09:00 UTC after the moment before or after it."""
        before = datetime.now(UTC)
        response = request()
        assert response.status_code == 200, response.text
        after = datetime.now(UTC)
        return response.json(), {next_time_of_day(9, 0, before), next_time_of_day(9, 0, after)}

    assert created["next_run_at"] is None and shown() == [None, None]  # not deployed

    deployed, nine = at_nine(lambda: lab.owner.post(f"{url}/deploy"))
    assert next_run_of(deployed) in nine and set(shown()) <= nine

    evening = document(schedule=cron("30 18 * * *"))
    saved, nine = at_nine(lambda: lab.owner.put(url, json={"document": evening}))
    assert (saved["current_version"], saved["deployed_version"]) == (2, 1)
    assert saved["schedule"] == cron("30 18 * * *")  # the current version's
    assert next_run_of(saved) in nine and set(shown()) <= nine  # the deployed version's

    paused = lab.owner.post(f"{url}/pause").json()
    assert paused["next_run_at"] is None and shown() == [None, None]
    resumed, nine = at_nine(lambda: lab.owner.post(f"{url}/resume"))
    assert next_run_of(resumed) in nine

    before = datetime.now(UTC)
    redeployed = lab.owner.post(f"{url}/deploy").json()
    after = datetime.now(UTC)
    evening_times = {next_time_of_day(18, 30, before), next_time_of_day(18, 30, after)}
    assert next_run_of(redeployed) in evening_times and set(shown()) <= evening_times


def test_the_list_tells_each_workflows_next_run(lab: Lab) -> None:
    def deployed(name: str, **fields: Any) -> str:
        url = f"{lab.url}/{lab.create(document(name, **fields))['id']}"
        assert lab.owner.post(f"{url}/deploy").status_code == 200
        return url

    lab.create(document("never deployed", schedule=preset("daily")))
    deployed("hourly", schedule=preset("hourly"), start_date="2099-01-01T00:30:00Z")
    edited = deployed("edited", schedule=preset("daily"), start_date="2099-02-01T00:00:00Z")
    lab.owner.put(edited, json={"document": document("edited", start_date="2099-03-01T00:00Z")})
    paused = deployed("paused", schedule=preset("daily"), start_date="2099-01-01T00:00:00Z")
    lab.owner.post(f"{paused}/pause")
    deployed("once", schedule=once("2099-05-01T12:00:00+02:00"))
    deployed("manual")

    listed = lab.owner.get(lab.url).json()

    assert {workflow["name"]: next_run_of(workflow) for workflow in listed} == {
        "edited": utc(2099, 2, 1),
        "hourly": utc(2099, 1, 1, 1),
        "manual": None,
        "never deployed": None,
        "once": utc(2099, 5, 1, 10),
        "paused": None,
    }
    for workflow in listed:
        read = lab.owner.get(f"{lab.url}/{workflow['id']}").json()
        assert read["next_run_at"] == workflow["next_run_at"]


def test_an_unreachable_airflow_is_a_502_that_says_what_happened(lab: Lab) -> None:
    url = f"{lab.url}/{lab.create(document())['id']}"
    assert lab.owner.post(f"{url}/deploy").status_code == 200  # by a server without Airflow
    down = AirflowConnection(f"http://127.0.0.1:{free_port()}", "admin", "admin")
    with TestClient(create_app(replace(lab.context, airflow=down))) as client:
        owner = replace(lab.owner, client=client)
        deployed = owner.post(f"{url}/deploy")
        paused = owner.post(f"{url}/pause")
        deleted = owner.delete(url)

    assert [deployed.status_code, paused.status_code, deleted.status_code] == [502] * 3
    message = deployed.json()["error"]["message"]
    assert "Airflow did not take version 1" in message and "cannot reach Airflow" in message
    kept = lab.owner.get(url).json()  # a failed delete can be tried again
    assert kept["deployed_version"] == 1 and kept["is_paused"] is False


def test_export_then_import_gives_the_same_document(lab: Lab) -> None:
    original = document("Weekly report: ünïcode/../x", description="Zürich\nline two")
    created = lab.create(original)
    url = f"{lab.url}/{created['id']}"

    exported = lab.owner.get(f"{url}/export")
    lab.owner.delete(url)
    upload = {"file": ("weekly.json", exported.content, "application/json")}
    imported = lab.owner.post(f"{lab.url}/import", files=upload)
    again = lab.owner.post(f"{lab.url}/import", files=upload)

    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == (
        'attachment; filename="weekly-report-n-code-x.json"'
    )
    assert json.loads(exported.content) == original
    assert imported.status_code == 201, imported.text
    assert imported.json()["document"] == original
    assert imported.json()["current_version"] == 1
    assert imported.json()["dag_id"] != created["dag_id"]
    assert again.status_code == 409


def test_import_reports_problems_in_the_file(lab: Lab) -> None:
    def upload(content: bytes) -> Response:
        return lab.owner.post(
            f"{lab.url}/import", files={"file": ("w.json", content, "application/json")}
        )

    not_json = upload(b"{not json")
    not_object = upload(b"[1, 2]")
    invalid = upload(json.dumps(document("x", task(operator="Nope"))).encode())

    assert [not_json.status_code, not_object.status_code, invalid.status_code] == [422] * 3
    assert set(problems_of(not_json)) == {"/body/file"}
    assert set(problems_of(not_object)) == {"/body/file"}
    assert set(problems_of(invalid)) == {"/body/file/tasks/0/operator/name"}
    assert lab.owner.get(lab.url).json() == []


def test_hostile_text_is_stored_as_data_never_as_code_or_a_path(lab: Lab) -> None:
    root = lab.context.root
    long_value = HOSTILE * 2_000
    hostile = document(
        HOSTILE,
        task(name={"value": long_value}, times={"value": 2}) | {"ui": {"label": HOSTILE}},
        description=HOSTILE * 40 + "\x00",
        tags=[HOSTILE[:100], "../x"],
    )

    created = lab.create(hostile)
    url = f"{lab.url}/{created['id']}"
    deployed = lab.owner.post(f"{url}/deploy")
    exported = lab.owner.get(f"{url}/export")
    found = lab.owner.get(lab.url, params={"search": "import os;"}).json()

    assert lab.owner.get(url).json()["document"] == hostile
    assert deployed.status_code == 200, deployed.text
    dag_id = created["dag_id"]
    assert DAG_ID.fullmatch(dag_id)
    assert sorted(path.name for path in root.airflow_dags.iterdir()) == [
        f"{dag_id}.json",
        f"{dag_id}.py",
    ]
    dag_document, stub = dag_paths(root, dag_id)
    assert stub.read_text() == DAG_STUB
    compiled = json.loads(dag_document.read_text())
    assert compiled["workflow"]["name"] == HOSTILE
    assert compiled["tasks"]["hello"]["literals"]["name"] == long_value
    assert not any("passwd" in str(path) for path in root.path.rglob("*"))
    assert re.fullmatch(
        r'attachment; filename="[a-z0-9-]+\.json"', exported.headers["content-disposition"]
    )
    assert [workflow["id"] for workflow in found] == [created["id"]]


def test_hostile_ids_and_too_long_text_are_rejected_with_pointers(lab: Lab) -> None:
    too_long = document(
        "n" * 201,
        task("../../etc/passwd"),
        description="d" * 10_001,
        tags=["t" * 101],
    )
    with_nul = document("bad\x00name")

    rejected = lab.owner.post(lab.url, json={"document": too_long})
    nul = lab.owner.post(lab.url, json={"document": with_nul})

    assert rejected.status_code == 422
    assert set(problems_of(rejected)) == {
        "/body/document/name",
        "/body/document/description",
        "/body/document/tags/0",
        "/body/document/tasks/0/id",
    }
    assert nul.status_code == 422 and set(problems_of(nul)) == {"/body/document/name"}
    assert lab.owner.get(lab.url).json() == []
    assert not lab.context.root.airflow_dags.exists() or not any(
        lab.context.root.airflow_dags.iterdir()
    )


def test_deploy_pause_and_delete_reach_airflow(
    airflow_platform: AirflowPlatform, tmp_path: Path
) -> None:
    airflow = AirflowConnection(
        airflow_platform.base_url, airflow_platform.username, airflow_platform.password
    )
    # Its own database; the shared root gets a repository name no other test module uses.
    context = ServerContext.open(
        airflow_platform.root, database=f"sqlite:///{tmp_path / 'server.db'}", airflow=airflow
    )
    repository = "workflows_api_demo"
    try:
        with TestClient(create_app(context)) as client:
            ada = sign_up(client, "ada@example.org")
            workspace_id = ada.post("/api/workspaces", json={"name": "lab"}).json()["id"]
            import_repository(context, workspace_id, tmp_path / "repo", repository)
            lab = Lab(ada, workspace_id, context)
            created = lab.create(document("on airflow", task(repository=repository)))
            url = f"{lab.url}/{created['id']}"
            dag_id = created["dag_id"]

            deployed = ada.post(f"{url}/deploy")
            assert deployed.status_code == 200, deployed.text
            dag = airflow_platform.client.get_dag(dag_id)
            assert dag is not None and dag.is_paused is False

            paused = ada.post(f"{url}/pause")
            assert paused.status_code == 200, paused.text
            dag = airflow_platform.client.get_dag(dag_id)
            assert dag is not None and dag.is_paused is True

            assert ada.delete(url).status_code == 204
            assert airflow_platform.client.get_dag(dag_id) is None
            assert not any(path.exists() for path in dag_paths(airflow_platform.root, dag_id))
    finally:
        context.close()
