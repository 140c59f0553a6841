"""What a platform needs on AWS, as data: every resource FlowUI provisions, with the
properties it manages, built from the project's settings and the operators under its root.

Nothing here talks to AWS (`cloud.aws` does): the same settings and operators always give the
same resources, so a plan is a comparison and an apply can be repeated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowui.config import ConfigError, Settings
from flowui.workflows.catalog import OperatorCatalog
from flowui.workflows.runtimes import batch_variable

MANAGED_BY = "flowui"
PROJECT_TAG = "flowui:project"
# Every kind FlowUI provisions, in the order apply creates them (destroy goes backwards).
KINDS = (
    "iam-role",
    "iam-instance-profile",
    "ecr-repository",
    "s3-bucket",
    "efs-file-system",
    "efs-mount-target",
    "batch-compute-environment",
    "batch-job-queue",
    "batch-job-definition",
)


@dataclass(frozen=True)
class Resource:
    """One resource: its kind, its unique name within the kind, the properties FlowUI manages
    (compared against AWS to tell a change) and, for job definitions, the operator it serves."""

    kind: str
    name: str
    spec: Mapping[str, Any]
    # A job definition's operator (name, version) and queue: the runtime's variables.
    operator: tuple[str, str] | None = field(default=None, compare=False)
    queue: str | None = field(default=None, compare=False)

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


def _trust(service: str) -> str:
    return _policy(
        [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
    )


def image_repository(source_image: str) -> str:
    """The repository path of an image reference: `host/a/b:tag` gives `a/b`."""
    name = (
        source_image.rsplit(":", 1)[0] if ":" in source_image.rsplit("/", 1)[-1] else source_image
    )
    first, _, rest = name.partition("/")
    return rest if rest and ("." in first or ":" in first or first == "localhost") else name


def job_definition_name(settings: Settings, repository: str, operator: str) -> str:
    """One job definition per operator; each of its versions is a revision of it."""
    raw = f"{prefix(settings)}-{repository}-{operator}"
    return re.sub(r"[^A-Za-z0-9_-]", "_", raw)[:128]


def split_revision_key(name: str) -> tuple[str, str]:
    """A job definition resource's name is `definition@version`: (definition, version)."""
    definition, _, version = name.partition("@")
    return definition, version


def desired_resources(settings: Settings, catalog: OperatorCatalog) -> list[Resource]:
    """Every resource the platform needs, in apply order; ConfigError names a missing setting."""
    subnets = _required_list(settings, "FLOWUI_AWS_SUBNETS", "the subnets of Batch and EFS")
    groups = _required_list(
        settings, "FLOWUI_AWS_SECURITY_GROUPS", "the security groups of Batch and EFS"
    )
    gpu_types = _list_setting(settings, "FLOWUI_AWS_GPU_INSTANCE_TYPES")
    base = prefix(settings)
    root = str(settings.root.path)
    resources = [
        Resource(
            "iam-role",
            f"{base}-batch-service",
            {
                "trust": _trust("batch.amazonaws.com"),
                "managed_policies": ("arn:aws:iam::aws:policy/service-role/AWSBatchServiceRole",),
                "efs_client": None,
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
                "efs_client": None,
            },
        ),
        Resource("iam-instance-profile", f"{base}-instance", {"role": f"{base}-instance"}),
    ]
    repositories = sorted(
        {
            image_repository(str(operator.group_entry["source_image"]))
            for operator in catalog
            if operator.group_entry.get("source_image")
        }
    )
    resources += [Resource("ecr-repository", name, {"scan_on_push": True}) for name in repositories]
    bucket = settings.FLOWUI_STORAGE_BUCKET
    if bucket:
        resources.append(
            Resource("s3-bucket", bucket, {"encryption": "AES256", "public_access_blocked": True})
        )
    resources.append(Resource("efs-file-system", base, {"encrypted": True}))
    resources.append(
        # The jobs' own role: the platform's file system and nothing else.
        Resource(
            "iam-role",
            f"{base}-job",
            {
                "trust": _trust("ecs-tasks.amazonaws.com"),
                "managed_policies": (),
                # Mount and write the file system `efs_client` names (its ARN, at apply),
                # read and write the storage bucket's objects.
                "efs_client": base,
                "bucket": bucket,
            },
        )
    )
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
    for operator in sorted(catalog, key=lambda o: (o.repository, o.name, o.version)):
        image = operator.group_entry.get("source_image")
        if not image:
            continue  # a group without an image cannot run as a Batch job
        amounts = operator.metadata.get("container_resources") or {}
        requests = amounts.get("requests") or {}
        gpu = int(amounts.get("gpu") or 0)
        if gpu and not gpu_types:
            continue  # no GPU compute environment: the operator cannot run on Batch here
        resources.append(
            Resource(
                "batch-job-definition",
                job_definition_name(settings, operator.repository, operator.name)
                + f"@{operator.version}",
                {
                    "image": str(image),
                    "vcpus": max(float(requests.get("cpu") or 1000) / 1000, 0.25),
                    "memory": int(requests.get("memory") or 1024),
                    "gpu": gpu,
                    "job_role": f"{base}-job",
                    "file_system": base,
                    "mount_path": root,
                    # Airflow retries a task with a new job: each job is attempted once.
                    "attempts": 1,
                },
                operator=(operator.name, operator.version),
                queue=f"{base}-{'gpu' if gpu else 'cpu'}",
            )
        )
    return resources


def airflow_variables(
    settings: Settings, resources: list[Resource], arns: Mapping[tuple[str, str], str]
) -> dict[str, str]:
    """The environment the aws_batch runtime reads: the region, and each operator version's
    job definition (its ARN with revision) and queue under the seed's names."""
    variables = {"AWS_REGION_NAME": settings.AWS_REGION_NAME}
    for resource in resources:
        if resource.kind != "batch-job-definition" or resource.operator is None:
            continue
        name, version = resource.operator
        variables[batch_variable("DEFINITION", name, version)] = arns[resource.key]
        variables[batch_variable("QUEUE", name, version)] = str(resource.queue)
    return variables
