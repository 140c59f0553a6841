"""`flowui aws plan | apply | destroy` against moto's server (a real HTTP endpoint, boto3 as the
client), run as a user runs the installed `flowui`; each test has a project name of its own, so
its tagged resources are its own."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy import delete
from sqlalchemy.orm import Session

from flowui.cloud.aws import AwsError, wait_until_valid
from flowui.config import load_settings, write_config_file
from flowui.operators.install import install_repository
from flowui.platform import airflow_environment
from flowui.server.database import create_database_engine, database_url, migrate
from flowui.server.models import Workspace
from flowui.storage import FileSystemRoot
from flowui.workflows.catalog import catalog_from_root
from flowui.workflows.runtimes import runtime_environment, runtime_problems
from flowui.workflows.validate import parse_workflow
from tests.support.aws import aws_client, installed_flowui
from tests.support.paths import EXAMPLES, FLOWUI

TAG = "flowui:project"
WORKSPACE_TAG = "flowui:workspace"


def network(endpoint: str) -> tuple[str, str]:
    """Two subnets and a security group of moto's default VPC, comma-separated."""
    ec2 = aws_client(endpoint, "ec2")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"][:2]]
    group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    return ",".join(subnets), group


def make_project(tmp_path: Path, endpoint: str, **values: str) -> tuple[Path, str]:
    """A project (its own name) with the example operators imported and the network set."""
    name = f"p{secrets.token_hex(4)}"
    project = tmp_path / "project"
    project.mkdir(parents=True)
    subnets, group = network(endpoint)
    settings = load_settings(
        project,
        {
            "PROJECT_NAME": name,
            "VOLUME_MOUNT_PATH_HOST": str(project / "fs"),
            "FLOWUI_AWS_SUBNETS": subnets,
            "FLOWUI_AWS_SECURITY_GROUPS": group,
            **values,
        },
        environ={},
    )
    write_config_file(settings)
    install_repository(EXAMPLES / "operators_repository", settings.root.create())
    return project, name


def flowui_aws(endpoint: str, project: Path, *arguments: str, **environ: str) -> Any:
    """The installed `flowui aws ...` with moto's server as AWS's endpoint."""
    return installed_flowui(endpoint, project, "aws", *arguments, environ=environ)


def changes_of(result: subprocess.CompletedProcess[str]) -> list[tuple[str, str, str]]:
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    return [(c["action"], c["kind"], c["name"]) for c in report["changes"]]


def tagged(endpoint: str, project: str) -> dict[str, list[str]]:
    """Every resource in moto carrying the project's tag, by kind (asked of AWS directly)."""
    iam, ecr = aws_client(endpoint, "iam"), aws_client(endpoint, "ecr")
    efs, batch = aws_client(endpoint, "efs"), aws_client(endpoint, "batch")
    s3 = aws_client(endpoint, "s3")

    def bucket_tags(name: str) -> list[dict[str, str]]:
        try:
            tags: list[dict[str, str]] = s3.get_bucket_tagging(Bucket=name)["TagSet"]
        except s3.exceptions.ClientError:
            return []
        return tags

    def ours(found: Any) -> bool:
        if isinstance(found, list):
            found = {t["Key"]: t["Value"] for t in found}
        return (found or {}).get(TAG) == project

    found = {
        "iam-role": [
            r["RoleName"]
            for r in iam.list_roles()["Roles"]
            if ours(iam.list_role_tags(RoleName=r["RoleName"])["Tags"])
        ],
        "iam-instance-profile": [
            p["InstanceProfileName"]
            for p in iam.list_instance_profiles()["InstanceProfiles"]
            if ours(p.get("Tags"))
        ],
        # Shared by the platforms that use it: each tags it.
        "ecr-repository": [
            r["repositoryName"]
            for r in ecr.describe_repositories()["repositories"]
            if any(
                t["Key"] == f"flowui:used-by:{project}" or (t["Key"], t["Value"]) == (TAG, project)
                for t in ecr.list_tags_for_resource(resourceArn=r["repositoryArn"])["tags"]
            )
        ],
        "s3-bucket": [
            b["Name"] for b in s3.list_buckets()["Buckets"] if ours(bucket_tags(b["Name"]))
        ],
        "efs-file-system": [
            f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"] if ours(f["Tags"])
        ],
        "efs-access-point": [
            p["AccessPointId"]
            for p in efs.describe_access_points()["AccessPoints"]
            if ours(p.get("Tags"))
        ],
        "batch-compute-environment": [
            c["computeEnvironmentName"]
            for c in batch.describe_compute_environments()["computeEnvironments"]
            if ours(c.get("tags"))
        ],
        "batch-job-queue": [
            q["jobQueueName"]
            for q in batch.describe_job_queues()["jobQueues"]
            if ours(q.get("tags"))
        ],
        "batch-job-definition": [
            f"{d['jobDefinitionName']}:{d['revision']}"
            for d in batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
            if ours(d.get("tags"))
        ],
    }
    return {kind: names for kind, names in found.items() if names}


def test_plan_on_an_empty_account_lists_what_apply_creates_and_changes_nothing(
    moto_server: str, tmp_path: Path
) -> None:
    project, name = make_project(tmp_path, moto_server)

    planned = changes_of(flowui_aws(moto_server, project, "plan", "--json"))

    assert {action for action, _, _ in planned} == {"create"}
    kinds = {kind for _, kind, _ in planned}
    assert kinds == {
        "iam-role",
        "iam-instance-profile",
        "ecr-repository",
        "efs-file-system",
        "efs-mount-target",
        "batch-compute-environment",
        "batch-job-queue",
        "batch-job-definition",
    }
    assert ("create", "ecr-repository", "flowui/flowui_examples") in planned
    assert ("create", "batch-job-queue", f"flowui-{name}-cpu") in planned
    assert not any(kind.endswith("-gpu") for _, _, kind in planned)  # no GPU types set
    assert tagged(moto_server, name) == {}
    assert not (project / "fs" / "platform" / "cloud_environment.json").exists()
    # No server database yet: no workspaces (no access point above), and none is created.
    assert not (project / "fs" / "platform" / "flowui.db").exists()


def compile_on_batch(project: Path) -> subprocess.CompletedProcess[str]:
    """`flowui workflows compile` of the example dataset workflow with every task on Batch."""
    document = json.loads((EXAMPLES / "workflows" / "dataset_update.json").read_text())
    for task in document["tasks"]:
        task["runtime"] = "aws_batch"
    path = project / "on_batch.json"
    path.write_text(json.dumps(document))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLOWUI_"))}
    return subprocess.run(
        [str(FLOWUI), "workflows", "compile", str(path), "--json"],
        capture_output=True,
        text=True,
        env=base | {"FLOWUI_PROJECT_DIR": str(project)},
        timeout=120,
        check=False,
    )


def test_apply_provisions_the_platform_and_a_second_apply_changes_nothing(
    moto_server: str, tmp_path: Path
) -> None:
    bucket = f"flowui-data-{secrets.token_hex(4)}"
    project, name = make_project(tmp_path, moto_server, FLOWUI_STORAGE_BUCKET=bucket)
    prefix = f"flowui-{name}"
    before = compile_on_batch(project)

    first = changes_of(flowui_aws(moto_server, project, "apply", "--json"))
    second = changes_of(flowui_aws(moto_server, project, "apply", "--json"))
    plan_after = flowui_aws(moto_server, project, "plan")

    assert len(first) > 10 and {action for action, _, _ in first} == {"create"}
    assert second == []
    assert "No changes" in plan_after.stdout
    found = tagged(moto_server, name)
    assert sorted(found["iam-role"]) == [
        f"{prefix}-batch-service",
        f"{prefix}-instance",
        f"{prefix}-job",
    ]
    assert found["batch-compute-environment"] == [f"{prefix}-cpu"]
    assert found["batch-job-queue"] == [f"{prefix}-cpu"]
    # The job role reaches the platform's file system and bucket, and nothing else.
    iam, efs = aws_client(moto_server, "iam"), aws_client(moto_server, "efs")
    policy = iam.get_role_policy(RoleName=f"{prefix}-job", PolicyName="flowui-job-access")
    statements = policy["PolicyDocument"]["Statement"]
    system = efs.describe_file_systems(FileSystemId=found["efs-file-system"][0])["FileSystems"][0]
    assert statements == [
        {
            "Sid": "flowuiefs",
            "Effect": "Allow",
            "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
            "Resource": system["FileSystemArn"],
        },
        {
            "Sid": "flowuibucket",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{bucket}",
        },
        {
            "Sid": "flowuiobjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"arn:aws:s3:::{bucket}/*",
        },
    ]
    # The storage bucket: encrypted, no public access, tagged.
    s3 = aws_client(moto_server, "s3")
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    assert found["s3-bucket"] == [bucket]
    assert system["Encrypted"]
    mount_targets = efs.describe_mount_targets(FileSystemId=system["FileSystemId"])
    assert len(mount_targets["MountTargets"]) == 2
    # The file system's own policy: no anonymous client (the account's IAM policies decide, so
    # a workspace's role reaches only its access points), and TLS only.
    account = aws_client(moto_server, "sts").get_caller_identity()["Account"]
    file_system_policy = json.loads(
        efs.describe_file_system_policy(FileSystemId=system["FileSystemId"])["Policy"]
    )
    assert file_system_policy["Statement"] == [
        {
            "Sid": "flowuiaccount",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": [
                "elasticfilesystem:ClientMount",
                "elasticfilesystem:ClientRootAccess",
                "elasticfilesystem:ClientWrite",
            ],
            "Resource": system["FileSystemArn"],
        },
        {
            "Sid": "flowuitls",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "*",
            "Resource": system["FileSystemArn"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ]
    # Opened to everyone by hand: the plan says so and the next apply closes it again.
    efs.put_file_system_policy(
        FileSystemId=system["FileSystemId"],
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": "elasticfilesystem:ClientMount",
                        "Resource": system["FileSystemArn"],
                    }
                ],
            }
        ),
    )
    opened = flowui_aws(moto_server, project, "plan")
    assert f"~ efs-file-system {prefix} (policy)" in opened.stdout, opened.stdout
    assert changes_of(flowui_aws(moto_server, project, "apply", "--json")) == [
        ("update", "efs-file-system", prefix)
    ]
    restored = efs.describe_file_system_policy(FileSystemId=system["FileSystemId"])["Policy"]
    assert json.loads(restored)["Statement"] == file_system_policy["Statement"]

    # Each operator version's job definition: its group's image, the root mounted at its path.
    batch = aws_client(moto_server, "batch")
    root = str(project / "fs")
    variables = json.loads((project / "fs" / "platform" / "cloud_environment.json").read_text())
    arn = variables["AWS_BATCH_JOB_DEFINITION_TrainModelOperator_0_1_0"]
    definition = batch.describe_job_definitions(jobDefinitions=[arn])["jobDefinitions"][0]
    container = definition["containerProperties"]
    assert container["image"] == "ghcr.io/flowui/flowui_examples:0.1.0-group1"
    assert container["jobRoleArn"].endswith(f"role/{prefix}-job")
    assert container["mountPoints"] == [{"sourceVolume": "flowui-root", "containerPath": root}]
    volume = container["volumes"][0]["efsVolumeConfiguration"]
    assert volume["fileSystemId"] == system["FileSystemId"]
    assert volume["transitEncryption"] == "ENABLED"
    assert {r["type"]: r["value"] for r in container["resourceRequirements"]}["MEMORY"] == "512"
    assert variables["AWS_BATCH_JOB_QUEUE_TrainModelOperator_0_1_0"] == f"{prefix}-cpu"
    assert variables["AWS_REGION_NAME"] == "us-east-1"

    # Deploying a workflow on Batch needs the variables; the platform's Airflow gets them.
    assert before.returncode == 1
    assert "AWS_BATCH_JOB_DEFINITION_LoadDatasetOperator_0_1_0" in before.stdout + before.stderr
    after = compile_on_batch(project)
    assert after.returncode == 0, after.stdout + after.stderr
    settings = load_settings(project, environ={})
    environment = airflow_environment(settings, 8080, environ={})
    assert environment["AWS_BATCH_JOB_DEFINITION_TrainModelOperator_0_1_0"] == arn


def test_a_broken_variables_file_is_named_where_it_is_read(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    settings = load_settings(project, {"VOLUME_MOUNT_PATH_HOST": str(project / "fs")}, environ={})
    write_config_file(settings)
    install_repository(EXAMPLES / "operators_repository", settings.root.create())
    settings.root.platform.mkdir(parents=True, exist_ok=True)
    settings.root.cloud_environment.write_text('{"AWS_REGION_NAME": 3}')

    compiled = compile_on_batch(project)

    assert compiled.returncode == 1
    assert f"{settings.root.cloud_environment}: not a JSON object of text values" in compiled.stderr
    assert "flowui aws apply" in compiled.stderr


def test_a_failed_apply_is_completed_by_the_next_and_a_new_version_is_a_new_revision(
    moto_server: str, tmp_path: Path
) -> None:
    project, name = make_project(tmp_path, moto_server)
    prefix = f"flowui-{name}"

    # An instance type AWS does not have: the GPU compute environment fails, half-way.
    failed = flowui_aws(
        moto_server, project, "apply", FLOWUI_AWS_GPU_INSTANCE_TYPES="g9.nonexistent"
    )
    half = tagged(moto_server, name)
    fixed = changes_of(
        flowui_aws(
            moto_server, project, "apply", "--json", FLOWUI_AWS_GPU_INSTANCE_TYPES="g4dn.xlarge"
        )
    )

    assert failed.returncode == 1
    assert f"batch-compute-environment {prefix}-gpu" in failed.stderr
    assert "g9.nonexistent" in failed.stderr
    assert half["batch-job-queue"] == [f"{prefix}-cpu"] and "batch-job-definition" not in half
    assert ("create", "batch-compute-environment", f"{prefix}-gpu") in fixed
    assert ("create", "batch-job-queue", f"{prefix}-gpu") in fixed
    assert not any(kind == "iam-role" for _, kind, _ in fixed)  # those were made the first time
    assert sorted(tagged(moto_server, name)["batch-job-queue"]) == [
        f"{prefix}-cpu",
        f"{prefix}-gpu",
    ]

    # Version 0.2.0 of the repository, built and imported: its own revision of each definition.
    source = tmp_path / "operators_repository"
    subprocess.run(["cp", "-r", str(EXAMPLES / "operators_repository"), str(source)], check=True)
    text = (source / "config.toml").read_text().replace('VERSION = "0.1.0"', 'VERSION = "0.2.0"')
    (source / "config.toml").write_text(text)
    organize = subprocess.run(
        [str(FLOWUI), "operators", "organize", str(source)], capture_output=True, text=True
    )
    assert organize.returncode == 0, organize.stderr
    install_repository(source, FileSystemRoot(project / "fs"))
    environ = {"FLOWUI_AWS_GPU_INSTANCE_TYPES": "g4dn.xlarge"}
    upgraded = changes_of(flowui_aws(moto_server, project, "apply", "--json", **environ))

    assert upgraded and {(a, k) for a, k, _ in upgraded} == {("create", "batch-job-definition")}
    variables = json.loads((project / "fs" / "platform" / "cloud_environment.json").read_text())
    new = variables["AWS_BATCH_JOB_DEFINITION_TrainModelOperator_0_2_0"]
    assert new.endswith(f"{prefix}-flowui_examples-TrainModelOperator:2")
    # The root now holds 0.2.0 only; 0.1.0's revision stays for runs pinned to it.
    assert "AWS_BATCH_JOB_DEFINITION_TrainModelOperator_0_1_0" not in variables
    batch = aws_client(moto_server, "batch")
    revisions = batch.describe_job_definitions(
        jobDefinitionName=f"{prefix}-flowui_examples-TrainModelOperator", status="ACTIVE"
    )["jobDefinitions"]
    images = {d["revision"]: d["containerProperties"]["image"] for d in revisions}
    assert {revision: image.rsplit(":", 1)[1] for revision, image in images.items()} == {
        1: "0.1.0-group1",
        2: "0.2.0-group1",
    }


def test_destroy_removes_what_flowui_created_and_nothing_else(
    moto_server: str, tmp_path: Path
) -> None:
    bucket = f"flowui-data-{secrets.token_hex(4)}"
    project, name = make_project(tmp_path, moto_server, FLOWUI_STORAGE_BUCKET=bucket)
    neighbour, neighbour_name = make_project(tmp_path / "neighbour", moto_server)
    iam, s3 = aws_client(moto_server, "iam"), aws_client(moto_server, "s3")
    iam.create_role(RoleName=f"flowui-{name}-by-hand", AssumeRolePolicyDocument="{}")
    for each in (project, neighbour):
        assert flowui_aws(moto_server, each, "apply").returncode == 0
    s3.put_object(Bucket=bucket, Key="dataset/sales/v0001/data.csv", Body=b"a\n1\n")

    dry = changes_of(flowui_aws(moto_server, project, "destroy", "--dry-run", "--json"))
    still = tagged(moto_server, name)
    keeping = flowui_aws(moto_server, project, "destroy", "--yes")
    left = tagged(moto_server, name)
    s3.delete_object(Bucket=bucket, Key="dataset/sales/v0001/data.csv")
    result = flowui_aws(moto_server, project, "destroy", "--yes")

    assert {action for action, _, _ in dry} == {"delete"} and len(dry) == len(
        [name for names in still.values() for name in names]
    ) + 2  # the two mount targets, which carry no tags of their own
    # A bucket with users' data stays (exit 1, saying so); everything else goes.
    assert keeping.returncode == 1
    assert f"kept: s3-bucket {bucket} holds objects" in keeping.stderr
    assert left == {"s3-bucket": [bucket]}
    assert result.returncode == 0, result.stderr
    assert tagged(moto_server, name) == {}
    assert not (project / "fs" / "platform" / "cloud_environment.json").exists()
    assert iam.get_role(RoleName=f"flowui-{name}-by-hand")  # untagged: not FlowUI's
    assert tagged(moto_server, neighbour_name) != {}  # another project's: left alone


def test_a_missing_network_setting_is_named_before_aws_is_asked(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    write_config_file(load_settings(project, environ={}))

    result = flowui_aws("http://127.0.0.1:9", project, "plan")

    assert result.returncode == 2
    assert "FLOWUI_AWS_SUBNETS is not set" in result.stderr


def add_workspaces(root: FileSystemRoot, *names: str, first_id: int | None = None) -> list[int]:
    """Workspaces in the platform server's database (created and migrated as the server
    does); returns their ids."""
    engine = create_database_engine(database_url(None, root))
    try:
        migrate(engine)
        with Session(engine) as session, session.begin():
            workspaces = [Workspace(name=name) for name in names]
            if first_id is not None:
                for offset, workspace in enumerate(workspaces):
                    workspace.id = first_id + offset
            session.add_all(workspaces)
            session.flush()
            return [workspace.id for workspace in workspaces]
    finally:
        engine.dispose()


def remove_workspace(root: FileSystemRoot, workspace_id: int) -> None:
    engine = create_database_engine(database_url(None, root))
    try:
        with Session(engine) as session, session.begin():
            session.execute(delete(Workspace).where(Workspace.id == workspace_id))
    finally:
        engine.dispose()


def batch_problems(root: FileSystemRoot, workspace_id: int) -> list[str]:
    """What deploying the example dataset workflow on Batch in a workspace finds missing."""
    document = json.loads((EXAMPLES / "workflows" / "dataset_update.json").read_text())
    for task in document["tasks"]:
        task["runtime"] = "aws_batch"
    catalog = catalog_from_root(root)
    workflow, errors = parse_workflow(document, catalog)
    assert workflow is not None, errors
    problems = runtime_problems(
        workflow,
        catalog,
        default_runtime="process",
        environ=runtime_environment(root, environ={}),
        image_available=lambda _runtime, _image: True,
        workspace_id=workspace_id,
    )
    return [str(problem) for problem in problems]


def test_each_workspace_gets_its_own_bucket_tree_role_and_job_definitions(
    moto_server: str, tmp_path: Path
) -> None:
    bucket = f"flowui-data-{secrets.token_hex(4)}"
    project, name = make_project(
        tmp_path, moto_server, FLOWUI_STORAGE_BUCKET=bucket, FLOWUI_AWS_POSIX_USER="1001:1002"
    )
    prefix = f"flowui-{name}"
    root = FileSystemRoot(project / "fs")
    first, second = add_workspaces(root, "Alpha", "Beta")
    before = batch_problems(root, first)

    applied = changes_of(flowui_aws(moto_server, project, "apply", "--json"))
    again = changes_of(flowui_aws(moto_server, project, "plan", "--json"))

    assert again == []
    assert before and f"_WORKSPACE_{first} " in before[0]
    assert batch_problems(root, first) == [] and batch_problems(root, second) == []
    assert {(kind, n) for _, kind, n in applied} >= {
        ("s3-bucket", f"{bucket}-workspace-{first}"),
        ("efs-access-point", f"{prefix}-workspace-{first}"),
        ("efs-access-point", f"{prefix}-repositories"),
        ("iam-role", f"{prefix}-workspace-{first}-job"),
    }
    iam, efs = aws_client(moto_server, "iam"), aws_client(moto_server, "efs")
    s3, batch = aws_client(moto_server, "s3"), aws_client(moto_server, "batch")
    system = efs.describe_file_systems(CreationToken=prefix)["FileSystems"][0]
    points = {
        {t["Key"]: t["Value"] for t in p["Tags"]}["Name"]: p
        for p in efs.describe_access_points(FileSystemId=system["FileSystemId"])["AccessPoints"]
    }
    checkouts = points[f"{prefix}-repositories"]
    assert checkouts["RootDirectory"]["Path"] == "/operators_repositories"
    assert checkouts["PosixUser"] == {"Uid": 1001, "Gid": 1002}
    variables = json.loads(root.cloud_environment.read_text())
    for workspace in (first, second):
        own_bucket = f"{bucket}-workspace-{workspace}"
        point = points[f"{prefix}-workspace-{workspace}"]
        # Its own bucket: encrypted, no public access, tagged with the workspace.
        rules = s3.get_bucket_encryption(Bucket=own_bucket)["ServerSideEncryptionConfiguration"]
        assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        block = s3.get_public_access_block(Bucket=own_bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4
        bucket_tags = {
            t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=own_bucket)["TagSet"]
        }
        assert bucket_tags[WORKSPACE_TAG] == str(workspace) and bucket_tags[TAG] == name
        # Its tree, through its access point, as the platform's user.
        assert point["RootDirectory"] == {
            "Path": f"/workspaces/{workspace}",
            "CreationInfo": {"OwnerUid": 1001, "OwnerGid": 1002, "Permissions": "0750"},
        }
        assert point["PosixUser"] == {"Uid": 1001, "Gid": 1002}
        assert {t["Key"]: t["Value"] for t in point["Tags"]}[WORKSPACE_TAG] == str(workspace)
        # Its role: its tree and the checkouts, each only through its access point; its bucket.
        policy = iam.get_role_policy(
            RoleName=f"{prefix}-workspace-{workspace}-job", PolicyName="flowui-job-access"
        )
        assert policy["PolicyDocument"]["Statement"] == [
            {
                "Sid": "flowuiworkspace",
                "Effect": "Allow",
                "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                "Resource": system["FileSystemArn"],
                "Condition": {
                    "StringEquals": {"elasticfilesystem:AccessPointArn": point["AccessPointArn"]}
                },
            },
            {
                "Sid": "flowuirepositories",
                "Effect": "Allow",
                "Action": ["elasticfilesystem:ClientMount"],
                "Resource": system["FileSystemArn"],
                "Condition": {
                    "StringEquals": {
                        "elasticfilesystem:AccessPointArn": checkouts["AccessPointArn"]
                    }
                },
            },
            {
                "Sid": "flowuibucket",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{own_bucket}",
            },
            {
                "Sid": "flowuiobjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{own_bucket}/*",
            },
        ]
        # Its job definitions: its role, its tree at the tree's path, the checkouts read only.
        arn = variables[f"AWS_BATCH_JOB_DEFINITION_TrainModelOperator_0_1_0_WORKSPACE_{workspace}"]
        assert arn.endswith(f"{prefix}-flowui_examples-TrainModelOperator-workspace-{workspace}:1")
        assert variables[f"AWS_BATCH_JOB_QUEUE_TrainModelOperator_0_1_0_WORKSPACE_{workspace}"] == (
            f"{prefix}-cpu"
        )
        definition = batch.describe_job_definitions(jobDefinitions=[arn])["jobDefinitions"][0]
        assert definition["tags"][WORKSPACE_TAG] == str(workspace)
        container = definition["containerProperties"]
        assert container["image"] == "ghcr.io/flowui/flowui_examples:0.1.0-group1"
        assert container["jobRoleArn"].endswith(f"role/{prefix}-workspace-{workspace}-job")
        assert container["volumes"] == [
            {
                "name": volume,
                "efsVolumeConfiguration": {
                    "fileSystemId": system["FileSystemId"],
                    "rootDirectory": "/",
                    "transitEncryption": "ENABLED",
                    "authorizationConfig": {
                        "accessPointId": access["AccessPointId"],
                        "iam": "ENABLED",
                    },
                },
            }
            for volume, access in (("flowui-workspace", point), ("flowui-repositories", checkouts))
        ]
        assert container["mountPoints"] == [
            {
                "sourceVolume": "flowui-workspace",
                "containerPath": str(root.workspace(workspace).path),
            },
            {
                "sourceVolume": "flowui-repositories",
                "containerPath": str(root.operators_repositories),
                "readOnly": True,
            },
        ]
        memory = {r["type"]: r["value"] for r in container["resourceRequirements"]}["MEMORY"]
        assert memory == "512"

    # A workspace created later: only its own resources are planned, then made.
    (third,) = add_workspaces(root, "Gamma")
    planned = flowui_aws(moto_server, project, "plan", "--json")
    shown = flowui_aws(moto_server, project, "plan")
    added = changes_of(flowui_aws(moto_server, project, "apply", "--json"))

    report = json.loads(planned.stdout)["changes"]
    assert report and all(c["action"] == "create" and c["workspace"] == third for c in report)
    assert {c["kind"] for c in report} == {
        "s3-bucket",
        "efs-access-point",
        "iam-role",
        "batch-job-definition",
    }
    assert f"+ iam-role {prefix}-workspace-{third}-job [workspace {third} 'Gamma']" in shown.stdout
    assert added == [(c["action"], c["kind"], c["name"]) for c in report]
    assert batch_problems(root, third) == []

    # Drift: a role's policy widened by hand is planned back; a new POSIX user replaces every
    # access point (EFS cannot change one), and what mounts or names them follows.
    iam.put_role_policy(
        RoleName=f"{prefix}-workspace-{second}-job",
        PolicyName="flowui-job-access",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    widened = changes_of(flowui_aws(moto_server, project, "plan", "--json"))
    write_config_file(load_settings(project, {"FLOWUI_AWS_POSIX_USER": "1003:1004"}, environ={}))
    replacing = changes_of(flowui_aws(moto_server, project, "apply", "--json"))
    settled = changes_of(flowui_aws(moto_server, project, "plan", "--json"))

    assert widened == [("update", "iam-role", f"{prefix}-workspace-{second}-job")]
    assert {(action, kind) for action, kind, _ in replacing} == {
        ("update", "efs-access-point"),
        ("update", "iam-role"),
        ("update", "batch-job-definition"),
    }
    assert len([kind for _, kind, _ in replacing if kind == "efs-access-point"]) == 4
    assert f"{prefix}-job" not in {n for _, _, n in replacing}  # the platform's: no access point
    assert settled == []
    replaced = {
        p["AccessPointId"]: p
        for p in efs.describe_access_points(FileSystemId=system["FileSystemId"])["AccessPoints"]
    }
    assert len(replaced) == 4 and not set(replaced) & {p["AccessPointId"] for p in points.values()}
    assert all(p["PosixUser"] == {"Uid": 1003, "Gid": 1004} for p in replaced.values())
    variables = json.loads(root.cloud_environment.read_text())
    arn = variables[f"AWS_BATCH_JOB_DEFINITION_TrainModelOperator_0_1_0_WORKSPACE_{second}"]
    assert arn.endswith(":2")
    volumes = batch.describe_job_definitions(jobDefinitions=[arn])["jobDefinitions"][0][
        "containerProperties"
    ]["volumes"]
    assert all(
        v["efsVolumeConfiguration"]["authorizationConfig"]["accessPointId"] in replaced
        for v in volumes
    )

    # A workspace deleted from the server: its bucket, access point and role go (the bucket
    # stays while it holds data); its job definitions stay for runs pinned to them.
    remove_workspace(root, first)
    s3.put_object(Bucket=f"{bucket}-workspace-{first}", Key="dataset/a/v0001/a.csv", Body=b"a\n")
    gone = flowui_aws(moto_server, project, "plan")
    removed = flowui_aws(moto_server, project, "apply")

    assert f"- s3-bucket {bucket}-workspace-{first} [workspace {first}, no longer" in gone.stdout
    assert f"- efs-access-point {prefix}-workspace-{first} [workspace {first}" in gone.stdout
    assert "batch-job-definition" not in gone.stdout
    assert removed.returncode == 1
    assert f"kept: s3-bucket {bucket}-workspace-{first} holds objects" in removed.stderr
    left = tagged(moto_server, name)
    assert f"{prefix}-workspace-{first}-job" not in left["iam-role"]
    assert f"{bucket}-workspace-{first}" in left["s3-bucket"]
    assert len(left["efs-access-point"]) == 3  # the repositories', the two workspaces' left
    assert any(f"-workspace-{first}:" in d for d in left["batch-job-definition"])
    variables = json.loads(root.cloud_environment.read_text())
    assert not any(key.endswith(f"_WORKSPACE_{first}") for key in variables)

    # destroy takes every workspace's resources with the platform's.
    s3.delete_object(Bucket=f"{bucket}-workspace-{first}", Key="dataset/a/v0001/a.csv")
    destroyed = flowui_aws(moto_server, project, "destroy", "--yes")

    assert destroyed.returncode == 0, destroyed.stderr
    assert tagged(moto_server, name) == {}


def test_workspaces_that_cannot_be_provisioned_are_named_before_aws_is_asked(
    moto_server: str, tmp_path: Path
) -> None:
    # The longest platform bucket name the setting accepts, and a workspace id past what it
    # leaves room for.
    project, _ = make_project(tmp_path, moto_server, FLOWUI_STORAGE_BUCKET="b" * 46)
    add_workspaces(FileSystemRoot(project / "fs"), "Huge", first_id=1_000_000)
    nowhere = "http://127.0.0.1:9"  # nothing answers there: AWS is not asked

    too_long = flowui_aws(nowhere, project, "plan")
    unreachable = flowui_aws(
        nowhere, project, "plan", FLOWUI_DATABASE_URL="postgresql://flowui:pw@127.0.0.1:9/flowui"
    )

    assert too_long.returncode == 2
    assert f"the bucket of workspace 1000000, {'b' * 46}-workspace-1000000" in too_long.stderr
    assert unreachable.returncode == 1
    assert (
        "cannot read the workspaces from the server's database "
        "postgresql+psycopg2://flowui:***@127.0.0.1:9/flowui" in unreachable.stderr
    )
    assert "pw@" not in unreachable.stderr


def _compute_environment(status: str, reason: str = "") -> dict[str, Any]:
    found = {
        "computeEnvironmentName": "flowui-cpu",
        "computeEnvironmentArn": "arn:aws:batch:us-east-1:123456789012:compute-environment/x",
        "status": status,
    }
    return {"computeEnvironments": [{**found, "statusReason": reason} if reason else found]}


@pytest.mark.parametrize("deleting", [False, True])
def test_a_compute_environment_aws_makes_invalid_fails_the_apply_naming_it_and_why(
    deleting: bool,
) -> None:
    """moto never makes a compute environment INVALID; AWS does (a role, subnet or instance
    type it refuses). Its answers are given to botocore's real client and waiter through
    botocore's Stubber: the one place in these tests where AWS's answers are made up."""
    batch = boto3.client(
        "batch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    reason = "CLIENT_ERROR - The security group 'sg-0' does not exist"
    with Stubber(batch) as stub:
        stub.add_response("describe_compute_environments", _compute_environment("CREATING"))
        stub.add_response("describe_compute_environments", _compute_environment("INVALID", reason))
        if deleting:  # a destroy gets rid of it all the same
            wait_until_valid(batch, "computeEnvironments", "flowui-cpu", deleting=True)
            return
        with pytest.raises(AwsError) as failed:
            wait_until_valid(batch, "computeEnvironments", "flowui-cpu")

    assert str(failed.value) == (
        f"AWS Batch made the compute environment flowui-cpu INVALID: {reason}"
    )
