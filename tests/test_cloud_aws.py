"""`flowui aws plan | apply | destroy` against moto's server (a real HTTP endpoint, boto3 as the
client), run as a user runs the installed `flowui`; each test has a project name of its own, so
its tagged resources are its own."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from aws import MOTO_ENVIRONMENT, aws_client
from flowui.config import load_settings, write_config_file
from flowui.operators.install import install_repository
from flowui.platform import airflow_environment
from flowui.storage import FileSystemRoot

EXAMPLES = Path(__file__).parents[1] / "examples"
FLOWUI = Path(sys.executable).parent / "flowui"
TAG = "flowui:project"


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
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLOWUI_"))}
    return subprocess.run(
        [str(FLOWUI), "aws", *arguments],
        capture_output=True,
        text=True,
        env=base
        | MOTO_ENVIRONMENT
        | {"AWS_ENDPOINT_URL": endpoint, "FLOWUI_PROJECT_DIR": str(project)}
        | environ,
        timeout=300,
        check=False,
    )


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
