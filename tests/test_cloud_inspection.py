"""Imports that inspect model files as AWS Batch jobs (FLOWUI_SANDBOX=aws_batch), the
confinement of repository code where no bubblewrap sandbox starts (the platform's Fargate task):
the platform stack's inspection job definition and role, the waiter's decisions, and an import
whose job runs for real: `flowui aws apply` makes the stack on moto's server, whose Batch runs
the job as a container of the platform image through Podman, the folder of the root standing for
the EFS file system (moto mounts host folders, not EFS)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from flowui.cloud.inspection import (
    InspectionJobs,
    definition_variable,
    queue_variable,
    wait_for_jobs,
)
from flowui.cloud.templates import JOB_POLICY, platform_stacks
from flowui.config import ConfigError, Settings, load_settings
from flowui.sandbox import SandboxPolicy, SandboxUnavailable
from flowui.server.repository_import import import_repository, parse_source
from flowui.storage import FileSystemRoot
from flowui.workflows.catalog import OperatorCatalog
from tests.support.aws import MOTO_ENVIRONMENT, aws_client, moto_server
from tests.support.operator_repositories import make_repository
from tests.support.spying import report_in_schema, write_spy_at_import
from tests.test_cloud_aws import changes_of, flowui_aws, make_project
from tests.test_cloud_templates import settings_of

pytestmark = pytest.mark.timeout(900)
PLATFORM_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/flowui/platform:1.0"
SERVER_SECRET = "the-servers-own-secret-key"


# --- the platform stack's inspection job definition -----------------------------------------


def _inspection(settings: Settings) -> dict[str, Any]:
    resources: dict[str, Any] = platform_stacks(settings, OperatorCatalog([]))[0].template[
        "Resources"
    ]
    return {
        logical_id: resource
        for logical_id, resource in resources.items()
        if logical_id == "InspectionJobRole"
        or logical_id.startswith("JobDefinitionFlowuiInspection")
    }


def test_the_inspection_job_sees_only_the_checkouts_read_only_and_its_role_may_only_mount_them(
    tmp_path: Path,
) -> None:
    settings = settings_of(
        tmp_path, FLOWUI_SANDBOX="aws_batch", FLOWUI_PLATFORM_IMAGE=PLATFORM_IMAGE
    )
    found = _inspection(settings)
    role = found.pop("InspectionJobRole")["Properties"]
    [definition] = found.values()
    [policy] = role["Policies"]
    assert policy["PolicyName"] == JOB_POLICY
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["elasticfilesystem:ClientMount"]  # no write, nothing else
    assert statement["Condition"]["StringEquals"]["elasticfilesystem:AccessPointArn"] == {
        "Fn::GetAtt": ["RepositoriesAccessPoint", "Arn"]
    }
    container = definition["Properties"]["ContainerProperties"]
    assert container["Image"] == PLATFORM_IMAGE
    assert container["JobRoleArn"] == {"Fn::GetAtt": ["InspectionJobRole", "Arn"]}
    [volume] = container["Volumes"]
    assert volume["EfsVolumeConfiguration"]["AuthorizationConfig"] == {
        "Iam": "ENABLED",
        "AccessPointId": {"Ref": "RepositoriesAccessPoint"},
    }
    assert volume["EfsVolumeConfiguration"]["TransitEncryption"] == "ENABLED"
    assert container["MountPoints"] == [
        {
            "SourceVolume": volume["Name"],
            "ContainerPath": str(settings.root.operators_repositories),
            "ReadOnly": True,
        }
    ]
    assert definition["DeletionPolicy"] == "Retain"  # a server of the older version uses it
    # Without aws_batch (and outside deploy mode aws), no inspection job is made.
    assert _inspection(settings_of(tmp_path)) == {}


def test_inspection_as_jobs_without_a_platform_image_is_refused_naming_the_setting(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="FLOWUI_PLATFORM_IMAGE is not set: imports inspect"):
        platform_stacks(settings_of(tmp_path, FLOWUI_SANDBOX="aws_batch"), OperatorCatalog([]))


def test_an_import_is_refused_before_anything_is_fetched_when_apply_made_no_inspection_job(
    tmp_path: Path,
) -> None:
    root = FileSystemRoot(tmp_path / "fs").create()
    policy = SandboxPolicy(inspection_jobs=InspectionJobs(root, "us-east-1"))
    repository = make_repository(tmp_path / "repository")
    with pytest.raises(SandboxUnavailable, match=definition_variable()) as raised:
        import_repository(parse_source(str(repository)), root, "r1_none", sandbox=policy)
    assert "run `flowui aws apply`" in str(raised.value)
    assert not root.operators_repository("r1_none").exists()
    assert [p.name for p in root.operators_repositories.iterdir()] == []


# --- the waiter's decisions (a stubbed Batch client: states moto cannot make on demand) -------


@pytest.fixture
def stubbed_batch() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "batch",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber


def _jobs(statuses: dict[str, str], reason: str | None = None) -> dict[str, Any]:
    """DescribeJobs' answer: each job id with its status (FAILED ones with `reason`)."""
    jobs = []
    for job_id, status in statuses.items():
        job = {
            "jobId": job_id,
            "jobName": "flowui-inspection",
            "jobQueue": "q",
            "status": status,
            "startedAt": 1,
            "jobDefinition": "d",
        }
        jobs.append(job | ({"statusReason": reason} if reason and status == "FAILED" else {}))
    return {"jobs": jobs}


def test_the_wait_ends_when_every_job_succeeded(stubbed_batch: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed_batch
    both = {"jobs": ["job-0", "job-1"]}
    stubber.add_response("describe_jobs", _jobs({"job-0": "RUNNING", "job-1": "SUCCEEDED"}), both)
    for _ in range(2):  # the waiter's success, then the answer it returns
        stubber.add_response(
            "describe_jobs", _jobs({"job-0": "SUCCEEDED", "job-1": "SUCCEEDED"}), both
        )
    ended = wait_for_jobs(client, ["job-0", "job-1"], 30)
    assert {job["status"] for job in ended.values()} == {"SUCCEEDED"}
    stubber.assert_no_pending_responses()


def test_a_failed_job_is_reported_with_aws_reason_and_the_others_are_still_waited_for(
    stubbed_batch: tuple[Any, Stubber],
) -> None:
    client, stubber = stubbed_batch
    reason = "CannotPullContainerError: image not found"
    both = {"jobs": ["job-0", "job-1"]}
    stubber.add_response(
        "describe_jobs", _jobs({"job-0": "FAILED", "job-1": "RUNNING"}, reason), both
    )
    stubber.add_response("describe_jobs", _jobs({"job-1": "SUCCEEDED"}), {"jobs": ["job-1"]})
    stubber.add_response(
        "describe_jobs", _jobs({"job-0": "FAILED", "job-1": "SUCCEEDED"}, reason), both
    )
    ended = wait_for_jobs(client, ["job-0", "job-1"], 30)
    assert ended["job-0"]["status"] == "FAILED" and ended["job-0"]["statusReason"] == reason
    assert ended["job-1"]["status"] == "SUCCEEDED"
    stubber.assert_no_pending_responses()


def test_a_job_not_ended_in_time_is_terminated(stubbed_batch: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed_batch
    one = {"jobs": ["job-0"]}
    for _ in range(2):  # the waiter's one attempt, then the answer it returns
        stubber.add_response("describe_jobs", _jobs({"job-0": "RUNNABLE"}), one)
    stubber.add_response("terminate_job", {}, {"jobId": "job-0", "reason": "not ended within 1 s"})
    ended = wait_for_jobs(client, ["job-0"], 1)
    assert ended["job-0"]["statusReason"] == "not ended within 1 s"
    stubber.assert_no_pending_responses()


# --- an import whose inspection runs as a Batch job of the platform image ----------------------


@pytest.fixture
def batch_platform(
    tmp_path: Path,
    podman_socket: str,
    platform_image: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Settings, str]]:
    """A project with FLOWUI_SANDBOX=aws_batch whose stacks `flowui aws apply` made on a moto
    server that runs Batch jobs in Podman; this process reaches that server as the platform's
    server would. Yields the settings and the endpoint."""
    efs_root = tmp_path / "project" / "fs"  # make_project's root
    extra = {"DOCKER_HOST": podman_socket, "FLOWUI_MOTO_EFS_ROOT": str(efs_root)}
    with moto_server(tmp_path, extra) as endpoint:
        project, _name = make_project(
            tmp_path,
            endpoint,
            FLOWUI_SANDBOX="aws_batch",
            FLOWUI_PLATFORM_IMAGE=platform_image,
        )
        changes_of(flowui_aws(endpoint, project, "apply", "--json"))
        for name, value in (MOTO_ENVIRONMENT | {"AWS_ENDPOINT_URL": endpoint}).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("FLOWUI_SECRET_KEY", SERVER_SECRET)  # what the server's process holds
        yield load_settings(project, environ={}), endpoint


def test_an_import_inspects_model_files_in_a_batch_job_that_sees_none_of_the_server(
    tmp_path: Path, batch_platform: tuple[Settings, str]
) -> None:
    settings, endpoint = batch_platform
    root = settings.root
    policy = settings.sandbox_policy
    assert policy.inspection_jobs is not None
    repository = make_repository(tmp_path / "repository", ("HelloOperator", "ByeOperator"))
    # The platform's files beside the checkouts: its cloud environment, Airflow's, the trees.
    private = [root.cloud_environment, *root.private_paths]
    root.workspace(1).path.mkdir(parents=True)
    assert root.cloud_environment.is_file()
    write_spy_at_import(repository, private, [])

    imported = import_repository(parse_source(str(repository)), root, "r1_batch", sandbox=policy)

    # The same schemas as an import inspected in bubblewrap on this machine.
    local = import_repository(parse_source(str(repository)), root, "r1_local")
    schemas = ("input_schema", "output_schema", "secrets_schema")
    for name in ("HelloOperator", "ByeOperator"):
        for schema in schemas:
            assert imported.operators[name].get(schema) == local.operators[name].get(schema)
    assert imported.operators["HelloOperator"]["input_schema"]["properties"]
    # The spy ran in the job's container: none of the server's variables, none of its files.
    found = report_in_schema(imported.operators["SpyOperator"]["input_schema"])
    assert found["environ"].get("AWS_BATCH_JOB_ID")  # Batch's container, not the server
    assert SERVER_SECRET not in json.dumps(found)
    assert not [name for name in found["environ"] if name.startswith("FLOWUI_")]
    assert "AWS_SECRET_ACCESS_KEY" not in found["environ"]
    assert set(found["reads"].values()) == {"FileNotFoundError"}, found["reads"]
    # One job of the platform stack's inspection job definition, on its queue, succeeded.
    batch = aws_client(endpoint, "batch")
    environ = json.loads(root.cloud_environment.read_text())
    listed = batch.list_jobs(jobQueue=environ[queue_variable()], jobStatus="SUCCEEDED")
    [summary] = listed["jobSummaryList"]
    [job] = batch.describe_jobs(jobs=[summary["jobId"]])["jobs"]
    assert job["jobDefinition"] == environ[definition_variable()]
    assert root.operators_repository("r1_batch").is_dir()
