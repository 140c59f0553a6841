"""What a platform needs on AWS, as CloudFormation templates: one stack for the platform's
shared resources, one per workspace (its bucket, access point, job role and job definitions) and
one per ECR repository (shared by the platforms whose operators use it). Built from the
project's settings, the operators under its root and the server's workspaces.

Nothing here talks to AWS (`cloud.aws` does): the same settings and operators always give the
same templates, so a platform team can review them (`flowui aws template`) or deploy them
through its own pipeline.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowui import __version__
from flowui.cloud.inspection import INSPECTION_OPERATOR
from flowui.config import ConfigError, DeployMode, SandboxMode, Settings
from flowui.operators.images.reference import ImageReference
from flowui.operators.metadata import MILLICORES_PER_CPU, batch_vcpus
from flowui.storage import InvalidIdError, validate_workspace_id, workspace_bucket
from flowui.workflows.catalog import OperatorCatalog
from flowui.workflows.runtimes import batch_variable

MANAGED_BY = "flowui"
PROJECT_TAG = "flowui:project"
WORKSPACE_TAG = "flowui:workspace"  # on everything of one workspace: its id
VERSION_TAG = "flowui:operator-version"  # on each job definition revision
USER_TAG_PREFIX = "flowui:used-by:"  # on an ECR repository, one per platform that uses it
JOB_POLICY = "flowui-job-access"  # a jobs' role's one inline policy
MAX_JOB_DEFINITION_NAME = 128
# Kept when CloudFormation would delete or replace them: users' data, and the job definition
# revisions that runs pinned to an older operator version still use.
KEEP = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
EFS_CLIENT_ACTIONS = [
    "elasticfilesystem:ClientMount",
    "elasticfilesystem:ClientRootAccess",
    "elasticfilesystem:ClientWrite",
]
# The platform stack's outputs that each workspace stack takes as parameters of the same names.
SHARED_OUTPUTS = (
    "FileSystemId",
    "FileSystemArn",
    "RepositoriesAccessPointId",
    "RepositoriesAccessPointArn",
)


@dataclass(frozen=True)
class JobDefinition:
    """Which operator version (and workspace) a job definition of a stack serves, and its
    queue: what the aws_batch runtime's variables name."""

    logical_id: str
    operator: str
    version: str
    queue: str
    workspace: int | None = None


@dataclass(frozen=True)
class Stack:
    """One CloudFormation stack FlowUI deploys: its name, template, tags, the workspace it
    belongs to (None: the platform's, or an ECR repository's), its job definitions, and the
    names of its parameters, each given the platform stack's output of the same name."""

    name: str
    template: dict[str, Any]
    tags: Mapping[str, str]
    workspace: int | None = None
    job_definitions: tuple[JobDefinition, ...] = field(default=())
    parameters: tuple[str, ...] = ()

    @property
    def body(self) -> str:
        """The template as CloudFormation reads it, and as people review it."""
        return json.dumps(self.template, indent=2)

    def resource_name(self, logical_id: str) -> str:
        """A resource's own name, where the template gives it one, else its logical id."""
        properties = self.template["Resources"].get(logical_id, {}).get("Properties", {})
        for key in (
            "RoleName",
            "InstanceProfileName",
            "BucketName",
            "RepositoryName",
            "ComputeEnvironmentName",
            "JobQueueName",
            "JobDefinitionName",
            "SubnetId",
        ):
            if isinstance(properties.get(key), str):
                return str(properties[key])
        for key in ("FileSystemTags", "AccessPointTags"):
            for tag in properties.get(key, []):
                if tag["Key"] == "Name":
                    return str(tag["Value"])
        return logical_id


def tags(settings: Settings) -> dict[str, str]:
    """The tags of everything FlowUI creates for the project (CloudFormation puts a stack's
    tags on its resources too)."""
    return {PROJECT_TAG: settings.PROJECT_NAME, "flowui:managed-by": MANAGED_BY}


def prefix(settings: Settings) -> str:
    return f"flowui-{settings.PROJECT_NAME}"


def platform_stack_name(settings: Settings) -> str:
    return prefix(settings)


def workspace_stack_name(settings: Settings, workspace_id: int) -> str:
    return f"{prefix(settings)}-workspace-{workspace_id}"


def repository_stack_name(repository: str) -> str:
    """The stack of an ECR repository (not the project's: platforms share it): its name in
    the letters a stack name allows, cut to fit, and a hash of it, so that `acme/tools` and
    `acme-tools` stay apart."""
    readable = re.sub(r"[^A-Za-z0-9-]", "-", repository)[:100]
    return f"flowui-ecr-{readable}-{hashlib.sha256(repository.encode()).hexdigest()[:8]}"


def _list_setting(settings: Settings, name: str) -> list[str]:
    value = getattr(settings, name)
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _required_list(settings: Settings, name: str, what: str) -> list[str]:
    values = _list_setting(settings, name)
    if not values:
        raise ConfigError(
            f"{name} is not set: `flowui aws` needs {what}, comma-separated, in config.ini "
            "[aws] or the environment"
        )
    return values


def policy_document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def trust_policy(service: str) -> dict[str, Any]:
    return policy_document(
        [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
    )


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def _tag_list(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in values.items()]


def _logical_id(kind: str, *parts: str) -> str:
    """An id for `parts` that CloudFormation allows (letters and digits) and people can read:
    `kind`, then the parts' letters and digits, then a hash of the parts, so that two parts
    that read alike stay apart."""
    readable = re.sub(r"[^A-Za-z0-9]", "", "".join(part.title() for part in parts))[:60]
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]
    return f"{kind}{readable}{digest}"


def _file_system_access(
    sid: str, actions: list[str], file_system_arn: Any, access_point_arn: Any | None
) -> dict[str, Any]:
    """Mounting (and writing) the file system; only through an access point when one is given."""
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": file_system_arn,
    }
    if access_point_arn is not None:
        statement["Condition"] = {
            "StringEquals": {"elasticfilesystem:AccessPointArn": access_point_arn}
        }
    return statement


def _file_system_policy() -> dict[str, Any]:
    """The file system's own policy. Without one EFS lets every client that reaches a mount
    target in; with it, a client must be a principal of the account whose IAM policies allow
    it (a workspace's job role: only through its access points), over TLS."""
    return policy_document(
        [
            {
                "Sid": "flowuiaccount",
                "Effect": "Allow",
                "Principal": {"AWS": _sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                "Action": EFS_CLIENT_ACTIONS,
            },
            {
                "Sid": "flowuitls",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ]
    )


def _bucket_access(bucket: str) -> list[dict[str, Any]]:
    """Listing the bucket, reading and writing its objects; no other bucket."""
    arn = f"arn:${{AWS::Partition}}:s3:::{bucket}"
    return [
        {
            "Sid": "flowuibucket",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": _sub(arn),
        },
        {
            "Sid": "flowuiobjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": _sub(f"{arn}/*"),
        },
    ]


def _bucket(name: str, bucket_tags: Mapping[str, str]) -> dict[str, Any]:
    """A bucket of users' data: AES-256 by default, every public access blocked, kept when
    its stack goes; its tags say whose it is, so that `destroy` finds it again and deletes
    it once it is empty."""
    return {
        "Type": "AWS::S3::Bucket",
        **KEEP,
        "Properties": {
            "BucketName": name,
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "Tags": _tag_list(bucket_tags),
        },
    }


def _job_role(name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": name,
            "AssumeRolePolicyDocument": trust_policy("ecs-tasks.amazonaws.com"),
            "Policies": [{"PolicyName": JOB_POLICY, "PolicyDocument": policy_document(statements)}],
        },
    }


def _access_point(
    settings: Settings, file_system: Any, directory: Path, name: str
) -> dict[str, Any]:
    """Every access as the platform's user, whatever the image's; the directory is created
    (0750) when it is not there yet."""
    uid, gid = (part for part in settings.FLOWUI_AWS_POSIX_USER.split(":"))
    return {
        "Type": "AWS::EFS::AccessPoint",
        "Properties": {
            "FileSystemId": file_system,
            "PosixUser": {"Uid": uid, "Gid": gid},
            "RootDirectory": {
                "Path": "/" + directory.relative_to(settings.root.path).as_posix(),
                "CreationInfo": {"OwnerUid": uid, "OwnerGid": gid, "Permissions": "0750"},
            },
            "AccessPointTags": [{"Key": "Name", "Value": name}],
        },
    }


def job_definition_name(
    settings: Settings, repository: str, operator: str, workspace_id: int | None = None
) -> str:
    """One job definition per operator (and per workspace, ending in `-workspace-{id}`); each
    of its versions is a revision of it. A name over Batch's limit is cut and ends in a hash
    of the whole, so that two long names stay apart."""
    raw = re.sub(r"[^A-Za-z0-9_-]", "_", f"{prefix(settings)}-{repository}-{operator}")
    suffix = "" if workspace_id is None else f"-workspace-{validate_workspace_id(workspace_id)}"
    room = MAX_JOB_DEFINITION_NAME - len(suffix)
    if len(raw) > room:
        raw = raw[: room - 11] + "-" + hashlib.sha256(raw.encode()).hexdigest()[:10]
    return raw + suffix


@dataclass(frozen=True)
class _Runnable:
    """An operator version that can run as a Batch job: its image and what it asks for."""

    repository: str
    name: str
    version: str
    image: str
    vcpus: float
    memory: int
    gpu: int


def _runnable(catalog: OperatorCatalog, gpu_types: list[str]) -> list[_Runnable]:
    found = []
    for operator in sorted(catalog, key=lambda o: (o.repository, o.name, o.version)):
        image = operator.group_entry.get("source_image")
        if not image:
            continue  # a group without an image cannot run as a Batch job
        amounts = operator.metadata.get("container_resources") or {}
        requests = amounts.get("requests") or {}
        gpu = int(amounts.get("gpu") or 0)
        if gpu and not gpu_types:
            continue  # no GPU compute environment: the operator cannot run on Batch here
        found.append(
            _Runnable(
                operator.repository,
                operator.name,
                operator.version,
                str(image),
                batch_vcpus(requests.get("cpu") or MILLICORES_PER_CPU),
                int(requests.get("memory") or 1024),
                gpu,
            )
        )
    return found


def _job_definitions(
    settings: Settings,
    runnable: list[_Runnable],
    *,
    role: Any,
    file_system: Any,
    volumes: list[tuple[str, Any, str, bool]],
    resource_tags: Mapping[str, str],
    workspace: int | None,
) -> tuple[dict[str, Any], list[JobDefinition]]:
    """A job definition per operator version: the revision of its operator's definition.

    Its logical id holds a hash of everything it says, so that a changed version (a new
    image, say) is a new revision beside the old one, which stays for the runs pinned to it
    (Retain). `volumes`: (name, access point or None for the whole file system, path in the
    container, read only)."""
    resources: dict[str, Any] = {}
    served = []
    base = prefix(settings)
    for each in runnable:
        requirements = [
            {"Type": "VCPU", "Value": f"{each.vcpus:g}"},
            {"Type": "MEMORY", "Value": str(each.memory)},
        ]
        if each.gpu:
            requirements.append({"Type": "GPU", "Value": str(each.gpu)})
        efs_volumes, mounts = [], []
        for volume, point, path, read_only in volumes:
            # IAM authorization: the job role's policy says what the job may mount and write.
            authorization: dict[str, Any] = {"Iam": "ENABLED"}
            if point is not None:
                authorization["AccessPointId"] = point
            efs_volumes.append(
                {
                    "Name": volume,
                    "EfsVolumeConfiguration": {
                        "FileSystemId": file_system,
                        "RootDirectory": "/",  # an access point's own root when it has one
                        "TransitEncryption": "ENABLED",
                        "AuthorizationConfig": authorization,
                    },
                }
            )
            mount = {"SourceVolume": volume, "ContainerPath": path}
            mounts.append(mount | {"ReadOnly": True} if read_only else mount)
        properties = {
            "JobDefinitionName": job_definition_name(
                settings, each.repository, each.name, workspace
            ),
            "Type": "container",
            "ContainerProperties": {
                "Image": each.image,
                "Command": ["flowui-task", "--help"],  # each job gives its own
                "JobRoleArn": role,
                "ResourceRequirements": requirements,
                "Volumes": efs_volumes,
                "MountPoints": mounts,
            },
            # Airflow retries a task with a new job: each job is attempted once.
            "RetryStrategy": {"Attempts": 1},
            "Tags": dict(resource_tags) | {VERSION_TAG: each.version},
        }
        logical_id = _logical_id(
            "JobDefinition",
            each.repository,
            each.name,
            each.version,
            json.dumps(properties, sort_keys=True),
        )
        resources[logical_id] = {
            "Type": "AWS::Batch::JobDefinition",
            **KEEP,
            "Metadata": {"Operator": f"{each.repository}/{each.name} {each.version}"},
            "Properties": properties,
        }
        queue = f"{base}-{'gpu' if each.gpu else 'cpu'}"
        served.append(JobDefinition(logical_id, each.name, each.version, queue, workspace))
    return resources, served


def _template(description: str, resources: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": description,
        **extra,
        "Resources": resources,
    }


def _platform_task_policy(settings: Settings, file_system_arn: Any) -> list[dict[str, Any]]:
    """What the platform's own processes on ECS may do: the whole file system (as root, to
    hand the root's folders to the platform's user), the storage bucket, and jobs of the
    project's definitions on its queues, with their logs."""
    base = prefix(settings)
    batch = "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}"
    bucket = settings.FLOWUI_STORAGE_BUCKET
    return (
        [_file_system_access("flowuiefs", EFS_CLIENT_ACTIONS, file_system_arn, None)]
        + (_bucket_access(bucket) if bucket else [])
        + [
            {
                "Sid": "flowuisubmit",
                "Effect": "Allow",
                "Action": "batch:SubmitJob",
                "Resource": [
                    _sub(f"{batch}:job-definition/{base}-*"),
                    _sub(f"{batch}:job-queue/{base}-*"),
                ],
            },
            {
                "Sid": "flowuijobs",
                "Effect": "Allow",
                "Action": [
                    "batch:DescribeJobs",
                    "batch:ListJobs",
                    "batch:TerminateJob",
                    "batch:DescribeJobDefinitions",
                ],
                "Resource": "*",
            },
            {
                "Sid": "flowuijoblogs",
                "Effect": "Allow",
                "Action": "logs:GetLogEvents",
                "Resource": _sub(
                    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}"
                    ":log-group:/aws/batch/job:*"
                ),
            },
        ]
    )


def _platform_stack(settings: Settings, runnable: list[_Runnable]) -> Stack:
    subnets = _required_list(settings, "FLOWUI_AWS_SUBNETS", "the subnets of Batch and EFS")
    groups = _required_list(
        settings, "FLOWUI_AWS_SECURITY_GROUPS", "the security groups of Batch and EFS"
    )
    gpu_types = _list_setting(settings, "FLOWUI_AWS_GPU_INSTANCE_TYPES")
    base = prefix(settings)
    bucket = settings.FLOWUI_STORAGE_BUCKET
    root = settings.root
    file_system = _ref("FileSystem")
    file_system_arn = _sub(
        "arn:${AWS::Partition}:elasticfilesystem:${AWS::Region}:${AWS::AccountId}"
        ":file-system/${FileSystem}"
    )
    write = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources: dict[str, Any] = {
        "BatchServiceRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": f"{base}-batch-service",
                "AssumeRolePolicyDocument": trust_policy("batch.amazonaws.com"),
                "ManagedPolicyArns": ["arn:aws:iam::aws:policy/service-role/AWSBatchServiceRole"],
            },
        },
        "InstanceRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": f"{base}-instance",
                "AssumeRolePolicyDocument": trust_policy("ec2.amazonaws.com"),
                "ManagedPolicyArns": [
                    _sub(
                        "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                        "AmazonEC2ContainerServiceforEC2Role"
                    )
                ],
            },
        },
        "InstanceProfile": {
            "Type": "AWS::IAM::InstanceProfile",
            "Properties": {
                "InstanceProfileName": f"{base}-instance",
                "Roles": [_ref("InstanceRole")],
            },
        },
        # The platform's jobs: the whole file system and the storage bucket, nothing else.
        "JobRole": _job_role(
            f"{base}-job",
            [_file_system_access("flowuiefs", write, file_system_arn, None)]
            + (_bucket_access(bucket) if bucket else []),
        ),
        "FileSystem": {
            "Type": "AWS::EFS::FileSystem",
            **KEEP,
            "Properties": {
                "Encrypted": True,
                "PerformanceMode": "generalPurpose",
                "FileSystemPolicy": _file_system_policy(),
                "FileSystemTags": [{"Key": "Name", "Value": base}],
            },
        },
    }
    if bucket:
        resources["StorageBucket"] = _bucket(bucket, tags(settings))
    for subnet in subnets:
        resources[_logical_id("MountTarget", subnet)] = {
            "Type": "AWS::EFS::MountTarget",
            "Properties": {
                "FileSystemId": file_system,
                "SubnetId": subnet,
                "SecurityGroups": groups,
            },
        }
    outputs: dict[str, Any] = {
        "FileSystemId": file_system,
        "FileSystemArn": file_system_arn,
    }
    # A workspace's `docker_image` group reads the repositories' checkouts, read only. Made
    # before the first workspace, so that the platform's outputs never change with them.
    resources["RepositoriesAccessPoint"] = _access_point(
        settings, file_system, root.operators_repositories, f"{base}-repositories"
    )
    outputs["RepositoriesAccessPointId"] = _ref("RepositoriesAccessPoint")
    outputs["RepositoriesAccessPointArn"] = {"Fn::GetAtt": ["RepositoriesAccessPoint", "Arn"]}
    environments = {"cpu": ["optimal"]}
    if gpu_types:
        environments["gpu"] = gpu_types
    for kind, instance_types in environments.items():
        environment = f"ComputeEnvironment{kind.title()}"
        resources[environment] = {
            "Type": "AWS::Batch::ComputeEnvironment",
            "Properties": {
                "ComputeEnvironmentName": f"{base}-{kind}",
                "Type": "MANAGED",
                "State": "ENABLED",
                "ServiceRole": {"Fn::GetAtt": ["BatchServiceRole", "Arn"]},
                "ComputeResources": {
                    "Type": "EC2",
                    "MinvCpus": 0,
                    "MaxvCpus": settings.FLOWUI_AWS_MAX_VCPUS,
                    "InstanceTypes": instance_types,
                    "Subnets": subnets,
                    "SecurityGroupIds": groups,
                    "InstanceRole": {"Fn::GetAtt": ["InstanceProfile", "Arn"]},
                },
            },
        }
        resources[f"JobQueue{kind.title()}"] = {
            "Type": "AWS::Batch::JobQueue",
            "Properties": {
                "JobQueueName": f"{base}-{kind}",
                "State": "ENABLED",
                "Priority": 1,
                "ComputeEnvironmentOrder": [{"Order": 1, "ComputeEnvironment": _ref(environment)}],
            },
        }
    definitions, served = _job_definitions(
        settings,
        runnable,
        role={"Fn::GetAtt": ["JobRole", "Arn"]},
        file_system=file_system,
        # The whole root at its own path, as on every other runtime (Contract 2).
        volumes=[("flowui-root", None, str(root.path), False)],
        resource_tags=tags(settings),
        workspace=None,
    )
    resources |= definitions
    if settings.FLOWUI_DEPLOY_MODE is DeployMode.AWS or (
        settings.FLOWUI_SANDBOX is SandboxMode.AWS_BATCH
    ):
        inspection, inspection_served = _inspection_jobs(settings, file_system, file_system_arn)
        resources |= inspection
        served += inspection_served
    if settings.FLOWUI_DEPLOY_MODE is DeployMode.AWS:
        from flowui.cloud.servers import server_resources  # it builds on this module

        servers, server_outputs = server_resources(
            settings,
            subnets=subnets,
            security_groups=groups,
            task_policy=_platform_task_policy(settings, file_system_arn),
            # A job definition's Ref is its ARN with revision, as `airflow_variables` gives.
            job_variables=_runtime_variables(served, lambda each: _ref(each.logical_id)),
            resource_tags=_tag_list(tags(settings)),
        )
        resources |= servers
        outputs |= server_outputs
    name = platform_stack_name(settings)
    described = {key: {"Value": value} for key, value in outputs.items()}
    return Stack(
        name,
        _template(
            f"FlowUI platform {settings.PROJECT_NAME}: IAM roles, the shared EFS file system, "
            "Batch compute environments, queues and the platform's job definitions",
            resources,
            Outputs=described,
        ),
        tags(settings),
        job_definitions=tuple(served),
    )


def _inspection_jobs(
    settings: Settings, file_system: Any, file_system_arn: Any
) -> tuple[dict[str, Any], list[JobDefinition]]:
    """Where imports inspect model files (FLOWUI_SANDBOX=aws_batch, `cloud.inspection`): a job
    definition of the platform image, one revision per FlowUI version, that mounts the
    repositories' checkouts read only and whose role may mount them and do nothing else."""
    image = settings.FLOWUI_PLATFORM_IMAGE
    if image is None:  # the local default is in no registry
        raise ConfigError(
            "FLOWUI_PLATFORM_IMAGE is not set: imports inspect model files as AWS Batch jobs "
            "of the platform image (FLOWUI_SANDBOX=aws_batch), which must be in a registry "
            "that Batch pulls from",
            hint="push it (`flowui deploy image`, then to ECR) and set its reference in "
            "config.ini [deploy] or the environment",
        )
    resources = {
        "InspectionJobRole": _job_role(
            f"{prefix(settings)}-inspection-job",
            [
                _file_system_access(
                    "flowuirepositories",
                    ["elasticfilesystem:ClientMount"],
                    file_system_arn,
                    {"Fn::GetAtt": ["RepositoriesAccessPoint", "Arn"]},
                )
            ],
        )
    }
    definitions, served = _job_definitions(
        settings,
        [_Runnable(MANAGED_BY, INSPECTION_OPERATOR, __version__, image, 1, 2048, 0)],
        role={"Fn::GetAtt": ["InspectionJobRole", "Arn"]},
        file_system=file_system,
        volumes=[
            (
                "flowui-repositories",
                _ref("RepositoriesAccessPoint"),
                str(settings.root.operators_repositories),
                True,
            )
        ],
        resource_tags=tags(settings),
        workspace=None,
    )
    return resources | definitions, served


def _workspace_stack(
    settings: Settings, workspace: int, bucket: str | None, runnable: list[_Runnable]
) -> Stack:
    """A workspace's jobs see its tree (at its own path) and the checkouts read only, each
    only through its access point, and its own bucket; nothing of another workspace."""
    base = prefix(settings)
    root = settings.root
    workspace_tags = tags(settings) | {WORKSPACE_TAG: str(workspace)}
    file_system = _ref("FileSystemId")
    point_arn = {"Fn::GetAtt": ["AccessPoint", "Arn"]}
    resources: dict[str, Any] = {
        "AccessPoint": _access_point(
            settings, file_system, root.workspace(workspace).path, f"{base}-workspace-{workspace}"
        ),
        "JobRole": _job_role(
            f"{base}-workspace-{workspace}-job",
            [
                _file_system_access(
                    "flowuiworkspace",
                    ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                    _ref("FileSystemArn"),
                    point_arn,
                ),
                _file_system_access(
                    "flowuirepositories",
                    ["elasticfilesystem:ClientMount"],
                    _ref("FileSystemArn"),
                    _ref("RepositoriesAccessPointArn"),
                ),
            ]
            + (_bucket_access(bucket) if bucket else []),
        ),
    }
    if bucket:
        resources["Bucket"] = _bucket(bucket, workspace_tags)
    definitions, served = _job_definitions(
        settings,
        runnable,
        role={"Fn::GetAtt": ["JobRole", "Arn"]},
        file_system=file_system,
        volumes=[
            ("flowui-workspace", _ref("AccessPoint"), str(root.workspace(workspace).path), False),
            (
                "flowui-repositories",
                _ref("RepositoriesAccessPointId"),
                str(root.operators_repositories),
                True,
            ),
        ],
        resource_tags=workspace_tags,
        workspace=workspace,
    )
    resources |= definitions
    return Stack(
        workspace_stack_name(settings, workspace),
        _template(
            f"FlowUI platform {settings.PROJECT_NAME}, workspace {workspace}: its bucket, EFS "
            "access point, job role and job definitions",
            resources,
            Parameters={
                name: {
                    "Type": "String",
                    "Description": f"The {name} output of stack {platform_stack_name(settings)}",
                }
                for name in SHARED_OUTPUTS
            },
        ),
        workspace_tags,
        workspace=workspace,
        job_definitions=tuple(served),
        parameters=SHARED_OUTPUTS,
    )


def repository_stack(repository: str, users: Iterable[str]) -> Stack:
    """An ECR repository, shared by the platforms whose operators use it: each one's
    `flowui:used-by:<project>` tag is on it, and the last one's destroy deletes it."""
    users_tags = {USER_TAG_PREFIX + user: "uses" for user in sorted(set(users))}
    resources = {
        "Repository": {
            "Type": "AWS::ECR::Repository",
            "Properties": {
                "RepositoryName": repository,
                "ImageScanningConfiguration": {"ScanOnPush": True},
                "Tags": _tag_list({"flowui:managed-by": MANAGED_BY} | users_tags),
            },
        }
    }
    return Stack(
        repository_stack_name(repository),
        _template(f"FlowUI: the ECR repository {repository} of operators' images", resources),
        {"flowui:managed-by": MANAGED_BY},
    )


def image_repositories(catalog: OperatorCatalog) -> list[str]:
    """The ECR repositories of the imported operators' images (their groups' `source_image`)."""
    return sorted(
        {
            ImageReference.parse(str(operator.group_entry["source_image"])).repository
            for operator in catalog
            if operator.group_entry.get("source_image")
        }
    )


def platform_stacks(
    settings: Settings, catalog: OperatorCatalog, workspace_ids: Iterable[int] = ()
) -> list[Stack]:
    """The project's stacks, in the order apply deploys them: the platform's, then one per
    workspace (the server's, by id), which take its file system from its outputs.
    ConfigError names a missing or unusable setting."""
    workspaces = sorted(set(workspace_ids))
    bucket = settings.FLOWUI_STORAGE_BUCKET
    try:
        buckets = {n: workspace_bucket(bucket, n) for n in workspaces} if bucket else {}
    except InvalidIdError as error:
        where = settings.where("FLOWUI_STORAGE_BUCKET")
        raise ConfigError(str(error), hint=f"set a shorter name in {where}") from None
    runnable = _runnable(catalog, _list_setting(settings, "FLOWUI_AWS_GPU_INSTANCE_TYPES"))
    stacks = [_platform_stack(settings, runnable)]
    stacks += [_workspace_stack(settings, n, buckets.get(n), runnable) for n in workspaces]
    return stacks


def airflow_variables(
    settings: Settings, stacks: Iterable[Stack], arns: Mapping[tuple[str, str], str]
) -> dict[str, str]:
    """The environment the aws_batch runtime reads: the region, and each operator version's
    job definition (its ARN with revision; `arns` by (stack, logical id)) and queue under the
    seed's names (a workspace's end in `_WORKSPACE_{id}`)."""
    variables = {"AWS_REGION_NAME": settings.AWS_REGION_NAME}
    for stack in stacks:
        revisions = {each: arns[(stack.name, each.logical_id)] for each in stack.job_definitions}
        variables |= _runtime_variables(stack.job_definitions, revisions.__getitem__)
    return variables


def _runtime_variables(
    served: Iterable[JobDefinition], definition: Callable[[JobDefinition], Any]
) -> dict[str, Any]:
    """The aws_batch runtime's two variables of each job definition: its `definition` (an ARN,
    or a reference to one) and its queue."""
    variables = {}
    for each in served:
        name = (each.operator, each.version, each.workspace)
        variables[batch_variable("DEFINITION", *name)] = definition(each)
        variables[batch_variable("QUEUE", *name)] = each.queue
    return variables
