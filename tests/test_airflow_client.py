"""The Airflow REST client against a real Airflow (the session's platform)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from flowui.platform import is_process_running
from flowui.server.airflow_client import AirflowApiError, AirflowClient, TaskInstance

if TYPE_CHECKING:
    from tests.support.airflow_platform import AirflowPlatform

DAG_ID = "flowui_test_hello"
DELETE_DAG_ID = "flowui_test_delete"
# Plain Airflow, no FlowUI: the client must work with any DAG.
HELLO_DAG = f'''
import time

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG


def greet(**context):
    conf = context["dag_run"].conf or {{}}
    time.sleep(conf.get("sleep", 0))
    print("hello " + conf.get("name", "nobody"))
    return {{"greeting": "hello " + conf.get("name", "nobody")}}


with DAG("{DAG_ID}", schedule=None, catchup=False, tags=["flowui-test"]):
    PythonOperator(task_id="greet", python_callable=greet) >> PythonOperator(
        task_id="again", python_callable=greet
    )
'''
DELETE_DAG = f'''
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG("{DELETE_DAG_ID}", schedule=None, catchup=False):
    BashOperator(task_id="nothing", bash_command="true")
'''
BROKEN_DAG = "from airflow.sdk import DAG\nthis is not python\n"
RUN_TIMEOUT = 90.0


@dataclass(frozen=True)
class FinishedRun:
    run_id: str


@pytest.fixture(scope="module")
def airflow(airflow_platform: AirflowPlatform) -> Iterator[AirflowClient]:
    """The platform's client, with the test DAG files in its dags folder (all parsed)."""
    dags = airflow_platform.root.airflow_dags
    files = {"hello.py": HELLO_DAG, "delete_me.py": DELETE_DAG, "broken.py": BROKEN_DAG}
    for name, text in files.items():
        (dags / name).write_text(text, encoding="utf-8")
    client = airflow_platform.client
    client.wait_for_dag(DAG_ID, timeout=60)
    client.wait_for_dag(DELETE_DAG_ID, timeout=30)
    yield client
    for name in files:
        (dags / name).unlink(missing_ok=True)
    client.delete_dag(DAG_ID, missing_ok=True)


@pytest.fixture(scope="module")
def greeting_run(airflow: AirflowClient) -> FinishedRun:
    run = airflow.trigger_run(DAG_ID, {"name": "Ada"})
    assert run.state == "queued"
    assert run.conf == {"name": "Ada"}
    finished = airflow.wait_for_run(DAG_ID, run.run_id, timeout=RUN_TIMEOUT)
    assert finished.state == "success", airflow.task_instances(DAG_ID, run.run_id)
    return FinishedRun(run.run_id)


def test_health_reports_database_scheduler_and_dag_processor_healthy(
    airflow_platform: AirflowPlatform,
) -> None:
    health = airflow_platform.client.health()
    assert health.healthy
    assert health.scheduler.status == "healthy"


def test_version_is_airflow_3_3(airflow_platform: AirflowPlatform) -> None:
    assert airflow_platform.client.version().version.startswith("3.3.")


def test_wrong_password_is_refused_with_status_and_airflow_message(
    airflow_platform: AirflowPlatform,
) -> None:
    client = AirflowClient(airflow_platform.base_url, "admin", "not-the-password")
    with client, pytest.raises(AirflowApiError) as caught:
        client.get_dag("anything")
    assert caught.value.status_code == 401
    assert caught.value.message
    assert "/auth/token" in str(caught.value)


def test_rejected_token_is_replaced_by_a_new_one(airflow_platform: AirflowPlatform) -> None:
    with AirflowClient(
        airflow_platform.base_url, airflow_platform.username, airflow_platform.password
    ) as client:
        client._token = "not-a-jwt"  # as a token signed by another Airflow's secret
        assert client.get_dag("flowui_no_such_dag") is None


def test_unknown_dag_is_none_and_unknown_run_is_a_404_error(airflow: AirflowClient) -> None:
    assert airflow.get_dag("flowui_no_such_dag") is None
    with pytest.raises(AirflowApiError) as caught:
        airflow.get_run(DAG_ID, "no-such-run")
    assert caught.value.status_code == 404
    assert "no-such-run" in caught.value.message


def test_dag_file_dropped_in_the_dags_folder_appears_unpaused(airflow: AirflowClient) -> None:
    dag = airflow.get_dag(DAG_ID)
    assert dag is not None
    assert not dag.is_paused
    assert dag.relative_fileloc == "hello.py"
    assert [tag.name for tag in dag.tags] == ["flowui-test"]


def test_waiting_for_a_dag_that_does_not_load_names_the_import_error(
    airflow: AirflowClient,
) -> None:
    with pytest.raises(TimeoutError, match=r"broken\.py"):
        airflow.wait_for_dag("flowui_test_broken", timeout=1)


def test_triggered_run_carries_conf_and_succeeds(
    airflow: AirflowClient, greeting_run: FinishedRun
) -> None:
    run = airflow.get_run(DAG_ID, greeting_run.run_id)
    assert run.state == "success"
    assert run.conf == {"name": "Ada"}
    assert run.logical_date is None
    assert run.run_id in [r.run_id for r in airflow.list_runs(DAG_ID)]


def test_task_instances_report_state_try_and_times(
    airflow: AirflowClient, greeting_run: FinishedRun
) -> None:
    instances = {ti.task_id: ti for ti in airflow.task_instances(DAG_ID, greeting_run.run_id)}
    assert set(instances) == {"greet", "again"}
    for instance in instances.values():
        assert instance.state == "success"
        assert instance.try_number == 1
        assert instance.start_date is not None and instance.end_date is not None
        assert instance.duration is not None and instance.duration >= 0
    assert instances["greet"].end_date <= instances["again"].start_date  # type: ignore[operator]


def test_task_log_holds_what_the_task_printed(
    airflow: AirflowClient, greeting_run: FinishedRun
) -> None:
    log = airflow.task_log(DAG_ID, greeting_run.run_id, "greet", try_number=1)
    assert "hello Ada" in log.text


def test_xcom_is_the_tasks_return_value(airflow: AirflowClient, greeting_run: FinishedRun) -> None:
    assert airflow.xcom(DAG_ID, greeting_run.run_id, "greet") == {"greeting": "hello Ada"}


def test_cleared_task_runs_again_as_a_new_try(
    airflow: AirflowClient, greeting_run: FinishedRun
) -> None:
    cleared = airflow.clear_task(DAG_ID, greeting_run.run_id, ["again"])
    assert [ti.task_id for ti in cleared] == ["again"]
    run = airflow.wait_for_run(DAG_ID, greeting_run.run_id, timeout=RUN_TIMEOUT)
    assert run.state == "success"
    again = [ti for ti in airflow.task_instances(DAG_ID, run.run_id) if ti.task_id == "again"]
    assert again[0].try_number == 2


def wait_until(condition: Callable[[], bool], what: str, timeout: float = RUN_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:g} s")
        time.sleep(0.2)


def test_cancelled_run_is_failed_and_its_running_task_stopped(airflow: AirflowClient) -> None:
    run = airflow.trigger_run(DAG_ID, {"name": "Grace", "sleep": 120})

    def greet() -> TaskInstance:
        return next(t for t in airflow.task_instances(DAG_ID, run.run_id) if t.task_id == "greet")

    wait_until(lambda: greet().state == "running", "greet did not start")
    task_pid = greet().pid
    assert task_pid is not None and is_process_running(task_pid)

    assert airflow.cancel_run(DAG_ID, run.run_id).state == "failed"
    assert airflow.wait_for_run(DAG_ID, run.run_id, timeout=10).state == "failed"
    assert greet().state == "failed"
    wait_until(lambda: not is_process_running(task_pid), "the task's process did not stop", 30)
    states = {t.task_id: t.state for t in airflow.task_instances(DAG_ID, run.run_id)}
    assert states["again"] != "success"


def test_paused_dag_can_be_unpaused(airflow: AirflowClient) -> None:
    assert airflow.patch_dag(DAG_ID, is_paused=True).is_paused
    assert not airflow.patch_dag(DAG_ID, is_paused=False).is_paused


def test_deleted_dag_is_forgotten(
    airflow_platform: AirflowPlatform, airflow: AirflowClient
) -> None:
    (airflow_platform.root.airflow_dags / "delete_me.py").unlink()  # else it is parsed again
    assert airflow.delete_dag(DELETE_DAG_ID)
    assert airflow.get_dag(DELETE_DAG_ID) is None
    assert not airflow.delete_dag(DELETE_DAG_ID, missing_ok=True)
    with pytest.raises(AirflowApiError) as caught:
        airflow.delete_dag(DELETE_DAG_ID)
    assert caught.value.status_code == 404
