"""FlowUI's housekeeping DAG: every few hours, runs nobody has written to for a while move from
each tree to its bucket: the platform's to the platform's, each workspace's to the workspace's
(`flowui.storage.housekeeping.archive_runs`).

Airflow parses a constant stub that `flowui up` writes into the DAG folder; the settings are
the JSON file it writes beside it (`write_housekeeping_dag`), so nothing here is generated code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, BaseOperator
from airflow.sdk.exceptions import AirflowException

from flowui.storage import FileSystemRoot
from flowui.storage.housekeeping import HOUSEKEEPING_DAG_ID, HousekeepingSettings, archive_runs

# Fixed, so that starting the platform again does not move the schedule (catchup is off).
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)


class ArchiveRunsOperator(BaseOperator):
    """Archives the old runs of every tree to its bucket, logs the report and returns it (its
    XCom).

    Without a bucket it archives nothing and says so. A run that cannot be archived stays in
    its tree, and a workspace whose bucket fails keeps its runs; either fails the task, naming
    the bucket, once the other runs and trees are done (Airflow's retry tries them again).

    :param settings: the housekeeping settings, as the JSON beside the DAG's stub gives them
    """

    template_fields = ()
    ui_color = "#e8e1d5"

    def __init__(self, *, settings: HousekeepingSettings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings

    def execute(self, context: Any) -> dict[str, Any] | None:
        settings = self.settings
        if settings.bucket is None:
            self.log.info("no bucket: nothing archived (FLOWUI_STORAGE_BUCKET is not set)")
            return None
        import boto3  # credentials and endpoint: boto3's lookup in this worker's environment

        report = archive_runs(
            FileSystemRoot(Path(settings.root)),
            boto3.client("s3", region_name=settings.region),
            settings.bucket,
            timedelta(days=settings.archive_runs_after_days),
            datetime.now(UTC),
            dry_run=settings.dry_run,
        )
        for line in str(report).splitlines():
            self.log.info("%s", line)
        if report.problems:
            raise AirflowException("; ".join(report.problems))
        return report.to_dict()


def build_housekeeping_dag(settings: HousekeepingSettings) -> DAG:
    dag = DAG(
        dag_id=HOUSEKEEPING_DAG_ID,
        description="Moves runs nobody has written to for a while to their trees' buckets.",
        schedule=timedelta(hours=settings.interval_hours),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,  # two housekeepings never archive the same run at once
        is_paused_upon_creation=False,
        tags=["flowui", "housekeeping"],
    )
    ArchiveRunsOperator(
        task_id="archive_runs",
        dag=dag,
        settings=settings,
        # Soon enough that a failed try does not hold back the next runs long (one at a time).
        retries=1,
        retry_delay=timedelta(minutes=5),
    )
    return dag


def load_housekeeping_dag(stub_file: str) -> DAG:
    """The housekeeping DAG of the stub `stub_file`, from its settings (same name, .json)."""
    return build_housekeeping_dag(
        HousekeepingSettings.read(Path(stub_file).resolve().with_suffix(".json"))
    )
