"""`flowui aws template | plan | apply | destroy` against moto's server (a real HTTP endpoint,
boto3 as the client, CloudFormation included), run as a user runs the installed `flowui`; each
test has a project name of its own, so its stacks are its own."""

from __future__ import annotations

import ast
import json
import os
import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy import delete
from sqlalchemy.orm import Session

from flowui.cloud.aws import AwsError, CloudFormation, wait_until_valid
from flowui.cloud.jobs import BatchRegistrations, registered_job_definition
from flowui.cloud.templates import JOB_POLICY, VERSION_TAG, repository_stack_name
from flowui.config import load_settings, write_config_file
from flowui.operators.install import install_repository
from flowui.platform import airflow_environment
from flowui.server.database import create_database_engine, database_url, migrate
from flowui.server.models import Workspace
from flowui.storage import FileSystemRoot
from flowui.workflows.catalog import catalog_from_root
from flowui.workflows.runtimes import BatchLookup, runtime_environment, runtime_problems
from flowui.workflows.validate import parse_workflow
from tests.support.aws import aws_client, installed_flowui
from tests.support.aws import moto_server as running_moto_server
from tests.support.paths import EXAMPLES, FLOWUI

TAG = "flowui:project"
# The examples repository's images: one ECR repository, in a stack of its own.
REPOSITORY_STACK = repository_stack_name("flowui/flowui_examples")
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


def left_in_aws(endpoint: str, name: str, buckets: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """What of project `name` exists in moto, by kind, found by the names FlowUI gives
    (asked of AWS directly): its stacks, roles, instance profile, file system, access points,
    Batch resources, ACTIVE job definition revisions, and `buckets` that still exist."""
    prefix = f"flowui-{name}"
    iam, efs = aws_client(endpoint, "iam"), aws_client(endpoint, "efs")
    batch, s3 = aws_client(endpoint, "batch"), aws_client(endpoint, "s3")
    cloudformation = aws_client(endpoint, "cloudformation")

    def named(tags: list[dict[str, str]] | None) -> str:
        return {t["Key"]: t["Value"] for t in tags or []}.get("Name", "")

    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    found = {
        "stack": [
            s["StackName"]
            for s in cloudformation.describe_stacks()["Stacks"]
            if s["StackName"].startswith(prefix) and s["StackStatus"] != "DELETE_COMPLETE"
        ],
        "iam-role": [
            r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(prefix)
        ],
        "iam-instance-profile": [
            p["InstanceProfileName"]
            for p in iam.list_instance_profiles()["InstanceProfiles"]
            if p["InstanceProfileName"].startswith(prefix)
        ],
        "s3-bucket": [bucket for bucket in buckets if bucket in existing],
        "efs-file-system": [
            f["FileSystemId"]
            for f in efs.describe_file_systems()["FileSystems"]
            if named(f["Tags"]) == prefix
        ],
        "efs-access-point": [
            named(p.get("Tags"))
            for p in efs.describe_access_points()["AccessPoints"]
            if named(p.get("Tags")).startswith(prefix)
        ],
        "batch-compute-environment": [
            c["computeEnvironmentName"]
            for c in batch.describe_compute_environments()["computeEnvironments"]
            if c["computeEnvironmentName"].startswith(prefix)
        ],
        "batch-job-queue": [
            q["jobQueueName"]
            for q in batch.describe_job_queues()["jobQueues"]
            if q["jobQueueName"].startswith(prefix)
        ],
        "batch-job-definition": [
            f"{d['jobDefinitionName']}:{d['revision']}"
            for d in batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
            if d["jobDefinitionName"].startswith(prefix)
        ],
    }
    return {kind: sorted(names) for kind, names in found.items() if names}


def statements_of(endpoint: str, role: str, policy_name: str = JOB_POLICY) -> list[dict[str, Any]]:
    """The statements of a role's inline policy (a job role's by default). moto 5.2 keeps the
    policy of a role that CloudFormation made as the Python text of the template's object
    (single quotes), which is read back as such; AWS gives URL-encoded JSON, or boto3 a dict."""
    policy = aws_client(endpoint, "iam").get_role_policy(RoleName=role, PolicyName=policy_name)
    document = policy["PolicyDocument"]
    if isinstance(document, str):
        text = unquote(document)
        document = ast.literal_eval(text) if text.startswith("{'") else json.loads(text)
    found: list[dict[str, Any]] = document["Statement"]
    return found


def test_plan_on_an_empty_account_lists_what_apply_creates_and_changes_nothing(
    moto_server: str, tmp_path: Path
) -> None:
    project, name = make_project(tmp_path, moto_server)

    report = flowui_aws(moto_server, project, "plan", "--json")
    shown = flowui_aws(moto_server, project, "plan")

    planned = changes_of(report)
    assert {action for action, _, _ in planned} == {"add"}
    assert {kind for _, kind, _ in planned} == {
        "AWS::IAM::Role",
        "AWS::IAM::InstanceProfile",
        "AWS::ECR::Repository",
        "AWS::EFS::FileSystem",
        "AWS::EFS::MountTarget",
        "AWS::EFS::AccessPoint",  # the repositories' checkouts, for workspaces to come
        "AWS::Batch::ComputeEnvironment",
        "AWS::Batch::JobQueue",
        "AWS::Batch::JobDefinition",
    }
    assert ("add", "AWS::ECR::Repository", "flowui/flowui_examples") in planned
    assert ("add", "AWS::Batch::JobQueue", f"flowui-{name}-cpu") in planned
    assert not any(n.endswith("-gpu") for _, _, n in planned)  # no GPU types set
    stacks = json.loads(report.stdout)["stacks"]
    assert [(s["name"], s["action"]) for s in stacks] == [
        (REPOSITORY_STACK, "create"),
        (f"flowui-{name}", "create"),
    ]
    assert f"stack flowui-{name} (create)\n  + AWS::IAM::Role flowui-{name}-batch-service" in (
        shown.stdout
    )
    assert shown.stdout.rstrip().endswith(
        f"{len(planned)} to create, 0 to change, 0 to replace, 0 to delete"
    )
    # Nothing made: no stack, not even one under review, and no variables.
    assert left_in_aws(moto_server, name) == {}
    assert not (project / "fs" / "platform" / "cloud_environment.json").exists()
    # No server database yet: no workspaces (no workspace stack above), and none is created.
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


def test_apply_deploys_the_reviewed_templates_and_a_second_apply_changes_nothing(
    moto_server: str, tmp_path: Path
) -> None:
    bucket = f"flowui-data-{secrets.token_hex(4)}"
    project, name = make_project(tmp_path, moto_server, FLOWUI_STORAGE_BUCKET=bucket)
    prefix = f"flowui-{name}"
    before = compile_on_batch(project)
    reviewed = flowui_aws(moto_server, project, "template", "--stack", prefix)

    first = changes_of(flowui_aws(moto_server, project, "apply", "--json"))
    second = changes_of(flowui_aws(moto_server, project, "apply", "--json"))
    plan_after = flowui_aws(moto_server, project, "plan")

    assert len(first) > 10 and {action for action, _, _ in first} == {"add"}
    assert second == []
    assert plan_after.stdout.strip() == "No changes: AWS holds what the platform needs."
    # What CloudFormation holds is what `flowui aws template` showed for review.
    cloudformation = aws_client(moto_server, "cloudformation")
    deployed = cloudformation.get_template(StackName=prefix)["TemplateBody"]
    assert reviewed.returncode == 0, reviewed.stderr
    assert json.loads(reviewed.stdout) == (
        deployed if isinstance(deployed, dict) else json.loads(deployed)
    )
    stack = cloudformation.describe_stacks(StackName=prefix)["Stacks"][0]
    assert {t["Key"]: t["Value"] for t in stack["Tags"]}[TAG] == name
    found = left_in_aws(moto_server, name, (bucket,))
    assert found["stack"] == [prefix]
    assert found["iam-role"] == [f"{prefix}-batch-service", f"{prefix}-instance", f"{prefix}-job"]
    assert found["batch-compute-environment"] == [f"{prefix}-cpu"]
    assert found["batch-job-queue"] == [f"{prefix}-cpu"]
    # The job role reaches the platform's file system and bucket, and nothing else.
    efs = aws_client(moto_server, "efs")
    system = efs.describe_file_systems(FileSystemId=found["efs-file-system"][0])["FileSystems"][0]
    assert statements_of(moto_server, f"{prefix}-job") == [
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
    # The storage bucket: encrypted, tagged with the project.
    s3 = aws_client(moto_server, "s3")
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # moto's CloudFormation leaves a bucket's PublicAccessBlockConfiguration out: the
    # template's is checked in tests/test_cloud_templates.py.
    assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}[
        TAG
    ] == name
    assert system["Encrypted"]
    mount_targets = efs.describe_mount_targets(FileSystemId=system["FileSystemId"])
    assert len(mount_targets["MountTargets"]) == 2

    # Each operator version's job definition: its group's image, the root mounted at its path.
    batch = aws_client(moto_server, "batch")
    root = str(project / "fs")
    variables = json.loads((project / "fs" / "platform" / "cloud_environment.json").read_text())
    arn = variables["AWS_BATCH_JOB_DEFINITION_TrainModelOperator_0_1_0"]
    assert arn.endswith(f"job-definition/{prefix}-flowui_examples-TrainModelOperator:1")
    definition = batch.describe_job_definitions(jobDefinitions=[arn])["jobDefinitions"][0]
    container = definition["containerProperties"]
    assert container["image"] == "ghcr.io/flowui/flowui_examples:0.1.0-group1"
    assert container["jobRoleArn"].endswith(f"role/{prefix}-job")
    assert container["mountPoints"] == [{"sourceVolume": "flowui-root", "containerPath": root}]
    volume = container["volumes"][0]["efsVolumeConfiguration"]
    assert volume["fileSystemId"] == system["FileSystemId"]
    assert volume["transitEncryption"] == "ENABLED"
    assert {r["type"]: r["value"] for r in container["resourceRequirements"]}["MEMORY"] == "512"
    assert definition["tags"][VERSION_TAG] == "0.1.0" and definition["tags"][TAG] == name
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

    # A setting changed: the plan names the resource and the property, resource by resource.
    write_config_file(load_settings(project, {"FLOWUI_AWS_MAX_VCPUS": "32"}, environ={}))
    changed = flowui_aws(moto_server, project, "plan")
    assert f"stack {prefix} (update)\n  ~ AWS::Batch::ComputeEnvironment {prefix}-cpu" in (
        changed.stdout
    ), changed.stdout


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


def test_template_prints_or_writes_every_stack_and_names_an_unknown_one(
    moto_server: str, tmp_path: Path
) -> None:
    project, name = make_project(tmp_path, moto_server)
    nowhere = "http://127.0.0.1:9"  # nothing answers there: AWS is not asked

    every = flowui_aws(nowhere, project, "template")
    written = flowui_aws(nowhere, project, "template", "--output", str(tmp_path / "templates"))
    unknown = flowui_aws(nowhere, project, "template", "--stack", "flowui-nope")

    assert every.returncode == 0, every.stderr
    templates = json.loads(every.stdout)
    assert list(templates) == [REPOSITORY_STACK, f"flowui-{name}"]
    assert written.returncode == 0
    files = sorted(p.name for p in (tmp_path / "templates").iterdir())
    assert files == [f"{REPOSITORY_STACK}.json", f"flowui-{name}.json"]
    on_disk = json.loads((tmp_path / "templates" / f"flowui-{name}.json").read_text())
    assert on_disk == templates[f"flowui-{name}"]
    assert unknown.returncode == 2
    assert "--stack flowui-nope: no such stack" in unknown.stderr
    assert f"flowui-{name}" in unknown.stderr


def test_a_refused_change_is_named_with_awss_reason_and_writes_nothing(
    moto_server: str, tmp_path: Path
) -> None:
    """moto applies a change set at once and never rolls back (a stack it could not change
    stays broken there); CloudFormation's rollback and its events are the stubbed test's
    below. What FlowUI does with a refusal is the same in both."""
    project, name = make_project(tmp_path, moto_server)
    prefix = f"flowui-{name}"
    assert flowui_aws(moto_server, project, "apply").returncode == 0
    variables_file = project / "fs" / "platform" / "cloud_environment.json"
    written = variables_file.read_text()

    # An instance type AWS does not have: AWS refuses the GPU compute environment.
    failed = flowui_aws(
        moto_server, project, "apply", FLOWUI_AWS_GPU_INSTANCE_TYPES="g9.nonexistent"
    )

    assert failed.returncode == 1
    assert f"stack {prefix}: CloudFormation refused the change" in failed.stderr
    assert "g9.nonexistent" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert variables_file.read_text() == written  # still those of what AWS holds


def test_a_new_operator_version_is_a_new_revision_beside_the_old_one(
    moto_server: str, tmp_path: Path
) -> None:
    project, name = make_project(tmp_path, moto_server)
    prefix = f"flowui-{name}"
    assert flowui_aws(moto_server, project, "apply").returncode == 0

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
    upgraded = changes_of(flowui_aws(moto_server, project, "apply", "--json"))

    # Each 0.2.0 definition added; each 0.1.0 one leaves the template but is kept (Retain).
    assert {(a, k) for a, k, _ in upgraded} == {
        ("add", "AWS::Batch::JobDefinition"),
        ("remove", "AWS::Batch::JobDefinition"),
    }
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
    # Looked up in AWS Batch (where no variable names it), each version finds its own revision.
    settings = load_settings(project, environ={})
    for version, revision in (("0.1.0", 1), ("0.2.0", 2)):
        found = registered_job_definition(
            batch, settings, "flowui_examples", "TrainModelOperator", version
        )
        assert found == (new.replace(":2", f":{revision}"), f"{prefix}-cpu")


def test_destroy_leaves_nothing_but_a_bucket_that_holds_data_and_nothing_of_others(
    tmp_path: Path,
) -> None:
    """On a moto server of its own, where no other test's platform uses the examples' ECR
    repository: the last platform that uses it deletes it."""
    (tmp_path / "moto").mkdir()
    with running_moto_server(tmp_path / "moto") as moto_server:
        bucket = f"flowui-data-{secrets.token_hex(4)}"
        project, name = make_project(tmp_path, moto_server, FLOWUI_STORAGE_BUCKET=bucket)
        neighbour, neighbour_name = make_project(tmp_path / "neighbour", moto_server)
        iam, s3 = aws_client(moto_server, "iam"), aws_client(moto_server, "s3")
        iam.create_role(RoleName=f"flowui-{name}-by-hand", AssumeRolePolicyDocument="{}")
        for each in (project, neighbour):
            assert flowui_aws(moto_server, each, "apply").returncode == 0
        s3.put_object(Bucket=bucket, Key="dataset/sales/v0001/data.csv", Body=b"a\n1\n")
        made = left_in_aws(moto_server, name, (bucket,))

        dry = changes_of(flowui_aws(moto_server, project, "destroy", "--dry-run", "--json"))
        still = left_in_aws(moto_server, name, (bucket,))
        keeping = flowui_aws(moto_server, project, "destroy", "--yes")
        left = left_in_aws(moto_server, name, (bucket,))
        s3.delete_object(Bucket=bucket, Key="dataset/sales/v0001/data.csv")
        result = flowui_aws(moto_server, project, "destroy", "--yes")

        # Every resource of its stacks goes; the repository its neighbour uses only loses its tag.
        assert {action for action, _, kind in dry if kind != "flowui/flowui_examples"} == {"remove"}
        assert ("modify", "AWS::ECR::Repository", "flowui/flowui_examples") in dry
        assert ("remove", "AWS::S3::Bucket", bucket) in dry
        assert still == made  # a dry run deletes nothing
        # A bucket with users' data stays (exit 1, saying so); everything else goes, the file
        # system and the job definition revisions CloudFormation keeps included.
        assert keeping.returncode == 1
        assert f"kept: s3-bucket {bucket} holds objects" in keeping.stderr
        assert left == {"iam-role": [f"flowui-{name}-by-hand"], "s3-bucket": [bucket]}
        assert result.returncode == 0, result.stderr
        assert left_in_aws(moto_server, name, (bucket,)) == {"iam-role": [f"flowui-{name}-by-hand"]}
        assert not (project / "fs" / "platform" / "cloud_environment.json").exists()
        # Another project's stacks and the ECR repository it still uses are left alone.
        assert left_in_aws(moto_server, neighbour_name)["stack"] == [f"flowui-{neighbour_name}"]
        # moto's CloudFormation does not carry a repository's changed tags to ECR: the users
        # are read where FlowUI keeps them, in the repository stack's template.
        cloudformation = aws_client(moto_server, "cloudformation")
        body = cloudformation.get_template(StackName=REPOSITORY_STACK)["TemplateBody"]
        template = body if isinstance(body, dict) else json.loads(body)
        tags = template["Resources"]["Repository"]["Properties"]["Tags"]
        users = {t["Key"] for t in tags if t["Key"].startswith("flowui:used-by:")}
        assert users == {f"flowui:used-by:{neighbour_name}"}
        # The last platform that used the repository deletes it with its own stacks.
        assert flowui_aws(moto_server, neighbour, "destroy", "--yes").returncode == 0
        assert aws_client(moto_server, "ecr").describe_repositories()["repositories"] == []


def test_what_exists_outside_the_stacks_is_named_and_apply_changes_nothing(
    moto_server: str, tmp_path: Path
) -> None:
    """What FlowUI 0.1's engine made (untagged by CloudFormation, named as the stacks name
    theirs), or a bucket an earlier destroy kept: CloudFormation cannot adopt them here, so
    apply refuses before it starts rather than fail half-way."""
    bucket = f"flowui-data-{secrets.token_hex(4)}"
    project, name = make_project(tmp_path, moto_server, FLOWUI_STORAGE_BUCKET=bucket)
    iam, s3 = aws_client(moto_server, "iam"), aws_client(moto_server, "s3")
    iam.create_role(
        RoleName=f"flowui-{name}-batch-service",
        AssumeRolePolicyDocument="{}",
        Tags=[{"Key": TAG, "Value": name}],
    )
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="dataset/sales/v0001/data.csv", Body=b"a\n1\n")

    refused = flowui_aws(moto_server, project, "apply")

    assert refused.returncode == 1
    assert (
        f"already on AWS, outside FlowUI's stacks: AWS::IAM::Role flowui-{name}-batch-service; "
        f"AWS::S3::Bucket {bucket}" in refused.stderr
    ), refused.stderr
    assert "Nothing was changed" in refused.stderr
    assert left_in_aws(moto_server, name, (bucket,)) == {
        "iam-role": [f"flowui-{name}-batch-service"],
        "s3-bucket": [bucket],
    }
    assert s3.get_object(Bucket=bucket, Key="dataset/sales/v0001/data.csv")["Body"].read()


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


def batch_problems(
    root: FileSystemRoot,
    workspace_id: int,
    environ: dict[str, str] | None = None,
    batch_registered: BatchLookup | None = None,
) -> list[str]:
    """What deploying the example dataset workflow on Batch in a workspace finds missing, with
    the variables `apply` wrote (or `environ`), and `batch_registered` where they are not."""
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
        environ=runtime_environment(root, environ={}) if environ is None else environ,
        image_available=lambda _runtime, _image: True,
        workspace_id=workspace_id,
        batch_registered=batch_registered,
    )
    return [str(problem) for problem in problems]


def test_each_workspace_gets_its_own_stack_bucket_tree_role_and_job_definitions(
    moto_server: str, moto_environment: str, tmp_path: Path
) -> None:
    bucket = f"flowui-data-{secrets.token_hex(4)}"
    project, name = make_project(
        tmp_path, moto_server, FLOWUI_STORAGE_BUCKET=bucket, FLOWUI_AWS_POSIX_USER="1001:1002"
    )
    prefix = f"flowui-{name}"
    root = FileSystemRoot(project / "fs")
    first, second = add_workspaces(root, "Alpha", "Beta")
    before = batch_problems(root, first)

    applied = flowui_aws(moto_server, project, "apply", "--json")
    again = changes_of(flowui_aws(moto_server, project, "plan", "--json"))

    assert again == []
    assert before and f"_WORKSPACE_{first} " in before[0]
    assert batch_problems(root, first) == [] and batch_problems(root, second) == []
    report = json.loads(applied.stdout)
    assert [s["name"] for s in report["stacks"]] == [
        REPOSITORY_STACK,
        prefix,
        f"{prefix}-workspace-{first}",
        f"{prefix}-workspace-{second}",
    ]
    assert {(c["kind"], c["name"], c["workspace"]) for c in report["changes"]} >= {
        ("AWS::S3::Bucket", f"{bucket}-workspace-{first}", first),
        ("AWS::EFS::AccessPoint", f"{prefix}-workspace-{first}", first),
        ("AWS::EFS::AccessPoint", f"{prefix}-repositories", None),
        ("AWS::IAM::Role", f"{prefix}-workspace-{first}-job", first),
    }
    efs = aws_client(moto_server, "efs")
    s3, batch = aws_client(moto_server, "s3"), aws_client(moto_server, "batch")
    (system,) = [
        f
        for f in efs.describe_file_systems()["FileSystems"]
        if {t["Key"]: t["Value"] for t in f["Tags"]}.get("Name") == prefix
    ]
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
        # Its own bucket: encrypted, tagged with the workspace.
        rules = s3.get_bucket_encryption(Bucket=own_bucket)["ServerSideEncryptionConfiguration"]
        assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
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
        # Its role: its tree and the checkouts, each only through its access point; its bucket.
        assert statements_of(moto_server, f"{prefix}-workspace-{workspace}-job") == [
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

    # Where the environment names none (the ECS task of deploy mode aws), AWS Batch is asked,
    # at deploy and at run time: the revision apply registered for the operator's version.
    settings = load_settings(project, environ={})
    wanted = ("flowui_examples", "TrainModelOperator")
    assert registered_job_definition(batch, settings, *wanted, "0.1.0", second) == (
        variables[f"AWS_BATCH_JOB_DEFINITION_TrainModelOperator_0_1_0_WORKSPACE_{second}"],
        variables[f"AWS_BATCH_JOB_QUEUE_TrainModelOperator_0_1_0_WORKSPACE_{second}"],
    )
    assert registered_job_definition(batch, settings, *wanted, "9.9.9", second) is None
    lookup = BatchRegistrations(settings)  # boto3's own credentials and endpoint: moto's
    assert batch_problems(root, second, {}, lookup) == []
    unprovisioned = batch_problems(root, 999, {}, lookup)
    assert unprovisioned and all(
        "_WORKSPACE_999 " in problem and problem.endswith("nor has AWS Batch one registered")
        for problem in unprovisioned
    ), unprovisioned

    # A workspace created later: only its own stack is planned, then made.
    (third,) = add_workspaces(root, "Gamma")
    planned = flowui_aws(moto_server, project, "plan", "--json")
    shown = flowui_aws(moto_server, project, "plan")
    added = changes_of(flowui_aws(moto_server, project, "apply", "--json"))

    report = json.loads(planned.stdout)
    assert report["stacks"] == [
        {"name": f"{prefix}-workspace-{third}", "action": "create", "workspace": third}
    ]
    assert {c["kind"] for c in report["changes"]} == {
        "AWS::S3::Bucket",
        "AWS::EFS::AccessPoint",
        "AWS::IAM::Role",
        "AWS::Batch::JobDefinition",
    }
    assert f"stack {prefix}-workspace-{third} (create) [workspace {third} 'Gamma']" in shown.stdout
    assert added == [(c["action"], c["kind"], c["name"]) for c in report["changes"]]
    assert batch_problems(root, third) == []

    # A workspace deleted from the server: its stack goes with its access point and role; its
    # bucket stays while it holds data, its job definitions for the runs pinned to them.
    remove_workspace(root, first)
    s3.put_object(Bucket=f"{bucket}-workspace-{first}", Key="dataset/a/v0001/a.csv", Body=b"a\n")
    gone = flowui_aws(moto_server, project, "plan")
    removed = flowui_aws(moto_server, project, "apply")

    assert (
        f"stack {prefix}-workspace-{first} (delete) [workspace {first}, no longer in the "
        "server's database]" in gone.stdout
    )
    assert f"  - AWS::S3::Bucket {bucket}-workspace-{first} (deleted once empty)" in gone.stdout
    assert removed.returncode == 1
    assert f"kept: s3-bucket {bucket}-workspace-{first} holds objects" in removed.stderr
    left = left_in_aws(moto_server, name, (f"{bucket}-workspace-{first}",))
    assert f"{prefix}-workspace-{first}" not in left["stack"]
    assert f"{prefix}-workspace-{first}-job" not in left["iam-role"]
    assert f"{prefix}-workspace-{first}" not in left["efs-access-point"]
    assert left["s3-bucket"] == [f"{bucket}-workspace-{first}"]
    assert any(f"-workspace-{first}:" in d for d in left["batch-job-definition"])
    variables = json.loads(root.cloud_environment.read_text())
    assert not any(key.endswith(f"_WORKSPACE_{first}") for key in variables)

    # destroy takes every workspace's stack with the platform's, and the bucket once empty.
    s3.delete_object(Bucket=f"{bucket}-workspace-{first}", Key="dataset/a/v0001/a.csv")
    destroyed = flowui_aws(moto_server, project, "destroy", "--yes")

    assert destroyed.returncode == 0, destroyed.stderr
    buckets = (bucket, *(f"{bucket}-workspace-{n}" for n in (first, second, third)))
    assert left_in_aws(moto_server, name, buckets) == {}


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


def test_a_stack_that_fails_names_the_resource_and_cloudformations_reason() -> None:
    """moto applies a change set at once and never rolls back; CloudFormation on AWS rolls the
    stack back and says why in its events. Its answers are given to botocore's real client and
    waiter through botocore's Stubber, as for the INVALID compute environment below."""
    cloudformation = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stack = "flowui-lab"
    now = datetime.now(UTC)
    reason = 'Resource handler returned message: "Instance role arn:... is not valid"'

    def event(
        logical_id: str, status: str, why: str = "", kind: str = "AWS::Batch::ComputeEnvironment"
    ) -> dict[str, Any]:
        return {
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/flowui-lab/1",
            "EventId": secrets.token_hex(4),
            "StackName": stack,
            "LogicalResourceId": logical_id,
            "ResourceType": kind,
            "Timestamp": now,
            "ResourceStatus": status,
            **({"ResourceStatusReason": why} if why else {}),
        }

    rolled_back = {
        "Stacks": [
            {"StackName": stack, "StackStatus": "UPDATE_ROLLBACK_COMPLETE", "CreationTime": now}
        ]
    }
    with Stubber(cloudformation) as stub:
        stub.add_response("execute_change_set", {})
        stub.add_response("describe_stacks", rolled_back)  # the waiter's one look: a failure state
        stub.add_response(
            "describe_stack_events",
            {
                "StackEvents": [
                    event(stack, "UPDATE_ROLLBACK_COMPLETE", kind="AWS::CloudFormation::Stack"),
                    event(
                        "JobQueueGpu",
                        "CREATE_FAILED",
                        "Resource creation cancelled",
                        "AWS::Batch::JobQueue",
                    ),
                    event("ComputeEnvironmentGpu", "CREATE_FAILED", reason),
                    event("ComputeEnvironmentGpu", "CREATE_IN_PROGRESS"),
                ]
            },
        )
        stub.add_response("describe_stacks", rolled_back)
        cloud = CloudFormation.__new__(CloudFormation)
        cloud._clients = {"cloudformation": cloudformation}
        with pytest.raises(AwsError) as failed:
            cloud._execute(stack, "change-set-arn", now.timestamp())

    assert str(failed.value) == (
        f"stack {stack}: AWS::Batch::ComputeEnvironment ComputeEnvironmentGpu CREATE_FAILED: "
        f"{reason}; the stack is UPDATE_ROLLBACK_COMPLETE"
    )
