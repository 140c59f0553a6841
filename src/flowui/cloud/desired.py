"""What a platform needs on AWS, as data: every resource FlowUI provisions, with the
properties it manages, built from the project's settings, the operators under its root and the
server's workspaces (each gets its own bucket, access point, job role and job definitions).

Nothing here talks to AWS (`cloud.aws` does): the same settings and operators always give the
same resources, so a plan is a comparison and an apply can be repeated.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowui.config import ConfigError, Settings
from flowui.operators.images.reference import ImageReference
from flowui.operators.metadata import MILLICORES_PER_CPU, batch_vcpus
from flowui.storage import InvalidIdError, validate_workspace_id, workspace_bucket
from flowui.workflows.catalog import OperatorCatalog
from flowui.workflows.runtimes import batch_variable

MANAGED_BY = "flowui"
PROJECT_TAG = "flowui:project"
WORKSPACE_TAG = "flowui:workspace"  # on everything of one workspace: its id
MAX_JOB_DEFINITION_NAME = 128
# Every kind FlowUI provisions, in the order apply creates them (destroy goes backwards).
KINDS = (
    "iam-role",
    "iam-instance-profile",
    "ecr-repository",
    "s3-bucket",
    "efs-file-system",
    "efs-access-point",
    "efs-mount-target",
    "batch-compute-environment",
    "batch-job-queue",
    "batch-job-definition",
)


@dataclass(frozen=True)
class Resource:
    """One resource: its kind, its unique name within the kind, the properties FlowUI manages
    (compared against AWS to tell a change), the workspace it belongs to (None: the platform's)
    and, for job definitions, the operator it serves."""

    kind: str
    name: str
    spec: Mapping[str, Any]
    # A job definition's operator (name, version) and queue: the runtime's variables.
    operator: tuple[str, str] | None = field(default=None, compare=False)
    queue: str | None = field(default=None, compare=False)
    workspace: int | None = field(default=None, compare=False)
    # The access points (by name) it is made with: replacing one changes it too.
    access_points: tuple[str, ...] = field(default=(), compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)


def tags(settings: Settings) -> dict[str, str]:
    """The tags of everything FlowUI creates for the project: destroy removes what has them."""
    return {PROJECT_TAG: settings.PROJECT_NAME, "flowui:managed-by": MANAGED_BY}


def prefix(settings: Settings) -> str:
    return f"flowui-{settings.PROJECT_NAME}"


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


def _policy(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def reference(kind: str, name: str) -> str:
    """Stands in a policy for the ARN of a resource FlowUI makes (known only at apply)."""
    return f"<{kind}:{name}>"


REFERENCE = re.compile(r"<([a-z0-9-]+):(.+)>")


def _file_system_access(
    sid: str, file_system: str, actions: list[str], access_point: str | None
) -> dict[str, Any]:
    """Mounting (and writing) the file system; only through `access_point` when one is given."""
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": reference("efs-file-system", file_system),
    }
    if access_point is not None:
        statement["Condition"] = {
            "StringEquals": {
                "elasticfilesystem:AccessPointArn": reference("efs-access-point", access_point)
            }
        }
    return statement


# Stands for the account's own principal (`arn:aws:iam::<account>:root`) in a resource policy.
ACCOUNT_ROOT = reference("aws-account", "root")
EFS_CLIENT_ACTIONS = [
    "elasticfilesystem:ClientMount",
    "elasticfilesystem:ClientRootAccess",
    "elasticfilesystem:ClientWrite",
]


def _file_system_policy(file_system: str) -> str:
    """The file system's own policy. Without one EFS lets every client that reaches a mount
    target in; with it, a client must be a principal of the account whose IAM policies allow
    it (a workspace's job role: only through its access points), over TLS."""
    resource = reference("efs-file-system", file_system)
    return _policy(
        [
            {
                "Sid": "flowuiaccount",
                "Effect": "Allow",
                "Principal": {"AWS": ACCOUNT_ROOT},
                "Action": EFS_CLIENT_ACTIONS,
                "Resource": resource,
            },
            {
                "Sid": "flowuitls",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "*",
                "Resource": resource,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ]
    )


def _bucket_access(bucket: str) -> list[dict[str, Any]]:
    """Listing the bucket, reading and writing its objects; no other bucket."""
    arn = f"arn:aws:s3:::{bucket}"
    return [
        {"Sid": "flowuibucket", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": arn},
        {
            "Sid": "flowuiobjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"{arn}/*",
        },
    ]


def _trust(service: str) -> str:
    return _policy(
        [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
    )


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


def split_revision_key(name: str) -> tuple[str, str]:
    """A job definition resource's name is `definition@version`: (definition, version)."""
    definition, _, version = name.partition("@")
    return definition, version


def desired_resources(
    settings: Settings, catalog: OperatorCatalog, workspace_ids: Iterable[int] = ()
) -> list[Resource]:
    """Every resource the platform and its workspaces (the server's, by id) need, in apply
    order; ConfigError names a missing or unusable setting."""
    subnets = _required_list(settings, "FLOWUI_AWS_SUBNETS", "the subnets of Batch and EFS")
    groups = _required_list(
        settings, "FLOWUI_AWS_SECURITY_GROUPS", "the security groups of Batch and EFS"
    )
    gpu_types = _list_setting(settings, "FLOWUI_AWS_GPU_INSTANCE_TYPES")
    workspaces = sorted(set(workspace_ids))
    base = prefix(settings)
    root = settings.root
    bucket = settings.FLOWUI_STORAGE_BUCKET
    try:
        buckets = {n: workspace_bucket(bucket, n) for n in workspaces} if bucket else {}
    except InvalidIdError as error:
        where = settings.where("FLOWUI_STORAGE_BUCKET")
        raise ConfigError(str(error), hint=f"set a shorter name in {where}") from None
    resources = [
        Resource(
            "iam-role",
            f"{base}-batch-service",
            {
                "trust": _trust("batch.amazonaws.com"),
                "managed_policies": ("arn:aws:iam::aws:policy/service-role/AWSBatchServiceRole",),
                "policy": None,
            },
        ),
        Resource(
            "iam-role",
            f"{base}-instance",
            {
                "trust": _trust("ec2.amazonaws.com"),
                "managed_policies": (
                    "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
                ),
                "policy": None,
            },
        ),
        Resource("iam-instance-profile", f"{base}-instance", {"role": f"{base}-instance"}),
    ]
    repositories = sorted(
        {
            ImageReference.parse(str(operator.group_entry["source_image"])).repository
            for operator in catalog
            if operator.group_entry.get("source_image")
        }
    )
    resources += [Resource("ecr-repository", name, {"scan_on_push": True}) for name in repositories]
    storage = {"encryption": "AES256", "public_access_blocked": True}
    if bucket:
        resources.append(Resource("s3-bucket", bucket, storage))
    resources += [Resource("s3-bucket", name, storage, workspace=n) for n, name in buckets.items()]
    resources.append(
        Resource("efs-file-system", base, {"encrypted": True, "policy": _file_system_policy(base)})
    )

    # Access points: a workspace's jobs see its tree and, read only, the repositories'
    # checkouts (a `docker_image` group's code), as the platform's user whatever their image's.
    uid, gid = (int(part) for part in settings.FLOWUI_AWS_POSIX_USER.split(":"))

    def access_point(directory: Path) -> dict[str, Any]:
        return {
            "file_system": base,
            "root_directory": "/" + directory.relative_to(root.path).as_posix(),
            "posix_user": (uid, gid),
            "creation": (uid, gid, "0750"),  # when the directory is not there yet
        }

    checkouts = f"{base}-repositories"
    points = {n: f"{base}-workspace-{n}" for n in workspaces}
    if workspaces:
        resources.append(
            Resource("efs-access-point", checkouts, access_point(root.operators_repositories))
        )
    resources += [
        Resource("efs-access-point", points[n], access_point(root.workspace(n).path), workspace=n)
        for n in workspaces
    ]

    job_trust = _trust("ecs-tasks.amazonaws.com")
    write = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    # The platform's jobs: the whole file system and the storage bucket, nothing else.
    resources.append(
        Resource(
            "iam-role",
            f"{base}-job",
            {
                "trust": job_trust,
                "managed_policies": (),
                "policy": _policy(
                    [_file_system_access("flowuiefs", base, write, None)]
                    + (_bucket_access(bucket) if bucket else [])
                ),
            },
        )
    )
    # A workspace's jobs: its tree and the checkouts, each only through its access point, and
    # its own bucket.
    resources += [
        Resource(
            "iam-role",
            f"{base}-workspace-{n}-job",
            {
                "trust": job_trust,
                "managed_policies": (),
                "policy": _policy(
                    [
                        _file_system_access("flowuiworkspace", base, write, points[n]),
                        _file_system_access(
                            "flowuirepositories", base, ["elasticfilesystem:ClientMount"], checkouts
                        ),
                    ]
                    + (_bucket_access(buckets[n]) if n in buckets else [])
                ),
            },
            workspace=n,
            access_points=(points[n], checkouts),
        )
        for n in workspaces
    ]
    resources += [
        Resource(
            "efs-mount-target", subnet, {"file_system": base, "security_groups": tuple(groups)}
        )
        for subnet in subnets
    ]
    environments = {"cpu": ["optimal"]}
    if gpu_types:
        environments["gpu"] = gpu_types
    for kind, instance_types in environments.items():
        resources.append(
            Resource(
                "batch-compute-environment",
                f"{base}-{kind}",
                {
                    "instance_types": tuple(instance_types),
                    "max_vcpus": settings.FLOWUI_AWS_MAX_VCPUS,
                    "subnets": tuple(subnets),
                    "security_groups": tuple(groups),
                    "instance_role": f"{base}-instance",
                    "service_role": f"{base}-batch-service",
                },
            )
        )
        resources.append(
            Resource("batch-job-queue", f"{base}-{kind}", {"compute_environment": f"{base}-{kind}"})
        )

    runnable = []
    for operator in sorted(catalog, key=lambda o: (o.repository, o.name, o.version)):
        image = operator.group_entry.get("source_image")
        if not image:
            continue  # a group without an image cannot run as a Batch job
        amounts = operator.metadata.get("container_resources") or {}
        requests = amounts.get("requests") or {}
        gpu = int(amounts.get("gpu") or 0)
        if gpu and not gpu_types:
            continue  # no GPU compute environment: the operator cannot run on Batch here
        runnable.append((operator, str(image), requests, gpu))

    def job_definition(
        operator: Any,
        image: str,
        requests: Mapping[str, Any],
        gpu: int,
        workspace: int | None,
    ) -> Resource:
        if workspace is None:
            # The whole root at its own path, as on every other runtime (Contract 2).
            volumes: tuple[tuple[str, str | None, str, bool], ...] = (
                ("flowui-root", None, str(root.path), False),
            )
            role = f"{base}-job"
        else:
            volumes = (
                ("flowui-workspace", points[workspace], str(root.workspace(workspace).path), False),
                ("flowui-repositories", checkouts, str(root.operators_repositories), True),
            )
            role = f"{base}-workspace-{workspace}-job"
        name = job_definition_name(settings, operator.repository, operator.name, workspace)
        return Resource(
            "batch-job-definition",
            f"{name}@{operator.version}",
            {
                "image": image,
                "vcpus": batch_vcpus(requests.get("cpu") or MILLICORES_PER_CPU),
                "memory": int(requests.get("memory") or 1024),
                "gpu": gpu,
                "job_role": role,
                "file_system": base,
                # (volume, access point or None for the whole file system, path, read only)
                "volumes": volumes,
                # Airflow retries a task with a new job: each job is attempted once.
                "attempts": 1,
            },
            operator=(operator.name, operator.version),
            queue=f"{base}-{'gpu' if gpu else 'cpu'}",
            workspace=workspace,
            access_points=tuple(point for _, point, _, _ in volumes if point),
        )

    for workspace in [None, *workspaces]:
        resources += [job_definition(*each, workspace) for each in runnable]
    return resources


def airflow_variables(
    settings: Settings, resources: list[Resource], arns: Mapping[tuple[str, str], str]
) -> dict[str, str]:
    """The environment the aws_batch runtime reads: the region, and each operator version's
    job definition (its ARN with revision) and queue under the seed's names (a workspace's
    end in `_WORKSPACE_{id}`)."""
    variables = {"AWS_REGION_NAME": settings.AWS_REGION_NAME}
    for resource in resources:
        if resource.kind != "batch-job-definition" or resource.operator is None:
            continue
        name, version = resource.operator
        variables[batch_variable("DEFINITION", name, version, resource.workspace)] = arns[
            resource.key
        ]
        variables[batch_variable("QUEUE", name, version, resource.workspace)] = str(resource.queue)
    return variables
