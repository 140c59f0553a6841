"""What a platform needs on AWS, as data (`flowui.cloud.desired`): the resources built from the
project's settings, its operators and the server's workspaces, the job definitions' names, and
the variables the aws_batch runtime reads after `flowui aws apply`. No AWS here
(tests/test_cloud_aws.py applies them to moto's server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowui.cloud.desired import (
    MAX_JOB_DEFINITION_NAME,
    Resource,
    airflow_variables,
    desired_resources,
    job_definition_name,
    reference,
)
from flowui.config import ConfigError, Settings, load_settings
from flowui.workflows.catalog import CatalogOperator, OperatorCatalog


def settings_of(project: Path, **values: str) -> Settings:
    """Project "lab" with its network and `values`; nothing from this shell's environment."""
    return load_settings(
        project,
        {
            "PROJECT_NAME": "lab",
            "VOLUME_MOUNT_PATH_HOST": str(project / "fs"),
            "FLOWUI_AWS_SUBNETS": "subnet-a, subnet-b",
            "FLOWUI_AWS_SECURITY_GROUPS": "sg-1",
            **values,
        },
        environ={},
    )


def operator(
    name: str, *, image: str | None = "ghcr.io/acme/tools:0.1.0-group0", **resources: Any
) -> CatalogOperator:
    """An operator of repository "tools" 0.1.0, its group's image `image` (None: a group
    without one) and `resources` as its metadata's container_resources."""
    return CatalogOperator(
        repository="tools",
        repository_path=Path("/nowhere/tools"),
        name=name,
        version="0.1.0",
        metadata={"container_resources": resources} if resources else {},
        group="group0",
        group_entry={"source_image": image} if image else {},
    )


def by_key(resources: list[Resource]) -> dict[tuple[str, str], Resource]:
    return {resource.key: resource for resource in resources}


def named(resources: list[Resource], kind: str) -> list[str]:
    return [resource.name for resource in resources if resource.kind == kind]


def statements(policy: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(policy)["Statement"]
    return found


# --- the resources -------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["FLOWUI_AWS_SUBNETS", "FLOWUI_AWS_SECURITY_GROUPS"])
def test_a_missing_network_setting_is_named(tmp_path: Path, missing: str) -> None:
    settings = settings_of(tmp_path, **{missing: " , "})  # only separators: nothing set

    with pytest.raises(ConfigError, match=f"^{missing} is not set: `flowui aws` needs"):
        desired_resources(settings, OperatorCatalog([]))


def test_each_workspace_gets_its_own_bucket_access_point_role_and_job_definitions(
    tmp_path: Path,
) -> None:
    settings = settings_of(tmp_path, FLOWUI_STORAGE_BUCKET="lab-data")
    resources = desired_resources(settings, OperatorCatalog([operator("CountOperator")]), [3])
    found = by_key(resources)

    assert [
        (name, found[("s3-bucket", name)].workspace) for name in named(resources, "s3-bucket")
    ] == [("lab-data", None), ("lab-data-workspace-3", 3)]
    tree = found[("efs-access-point", "flowui-lab-workspace-3")]
    assert tree.workspace == 3
    assert tree.spec["root_directory"] == "/workspaces/3"  # the workspace's tree, nothing above
    checkouts = found[("efs-access-point", "flowui-lab-repositories")]
    assert checkouts.spec["root_directory"] == "/operators_repositories"

    # The workspace's role: its tree and the checkouts, each only through its access point, and
    # its own bucket; never the platform's bucket nor the file system as a whole.
    role = found[("iam-role", "flowui-lab-workspace-3-job")]
    granted = statements(role.spec["policy"])
    conditions = [
        s["Condition"]["StringEquals"]["elasticfilesystem:AccessPointArn"]
        for s in granted
        if s["Resource"] == reference("efs-file-system", "flowui-lab")
    ]
    assert conditions == [
        reference("efs-access-point", "flowui-lab-workspace-3"),
        reference("efs-access-point", "flowui-lab-repositories"),
    ]
    buckets = {s["Resource"] for s in granted if "s3:" in str(s["Action"])}
    assert buckets == {"arn:aws:s3:::lab-data-workspace-3", "arn:aws:s3:::lab-data-workspace-3/*"}
    assert role.access_points == ("flowui-lab-workspace-3", "flowui-lab-repositories")

    # Its job definition mounts its tree (writable) and the checkouts (read only), as its role.
    definition = found[("batch-job-definition", "flowui-lab-tools-CountOperator-workspace-3@0.1.0")]
    root = settings.root
    assert definition.spec["volumes"] == (
        ("flowui-workspace", "flowui-lab-workspace-3", str(root.workspace(3).path), False),
        ("flowui-repositories", "flowui-lab-repositories", str(root.operators_repositories), True),
    )
    assert definition.spec["job_role"] == "flowui-lab-workspace-3-job"
    # The platform's own job definition mounts the whole root, as its own role.
    platform = found[("batch-job-definition", "flowui-lab-tools-CountOperator@0.1.0")]
    assert platform.spec["volumes"] == (("flowui-root", None, str(root.path), False),)
    assert platform.spec["job_role"] == "flowui-lab-job"
    assert platform.workspace is None and platform.access_points == ()


def test_without_workspaces_there_is_no_access_point_and_the_platform_role_has_no_bucket(
    tmp_path: Path,
) -> None:
    resources = desired_resources(settings_of(tmp_path), OperatorCatalog([operator("Count")]))

    assert named(resources, "efs-access-point") == []
    assert named(resources, "s3-bucket") == []  # FLOWUI_STORAGE_BUCKET unset: no S3 at all
    role = by_key(resources)[("iam-role", "flowui-lab-job")]
    assert not any("s3:" in str(s["Action"]) for s in statements(role.spec["policy"]))


def test_workspaces_are_provisioned_once_each_in_id_order(tmp_path: Path) -> None:
    resources = desired_resources(settings_of(tmp_path), OperatorCatalog([]), [5, 3, 5])

    assert named(resources, "efs-access-point") == [
        "flowui-lab-repositories",
        "flowui-lab-workspace-3",
        "flowui-lab-workspace-5",
    ]


def test_a_workspace_whose_bucket_name_would_be_too_long_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    # The longest bucket the settings accept (46 characters) leaves room for a workspace id of
    # 6 digits: S3 names have at most 63 characters, and "-workspace-1000000" is 18.
    settings = settings_of(tmp_path, FLOWUI_STORAGE_BUCKET="b" * 46)

    assert named(desired_resources(settings, OperatorCatalog([]), [999999]), "s3-bucket")[-1] == (
        "b" * 46 + "-workspace-999999"
    )
    with pytest.raises(ConfigError, match="longer than S3's 63 characters") as raised:
        desired_resources(settings, OperatorCatalog([]), [1000000])
    assert raised.value.hint is not None and "set a shorter name in" in raised.value.hint


@pytest.mark.parametrize(
    ("requests", "vcpus", "memory"),
    [
        ({"cpu": 2500, "memory": 3072}, 2.5, 3072),
        ({"cpu": 100, "memory": 256}, 0.25, 256),  # Batch gives a job a quarter vCPU at least
        ({}, 1.0, 1024),  # no requests: one vCPU, 1 GiB
    ],
)
def test_a_job_definition_asks_batch_for_the_operators_requests(
    tmp_path: Path, requests: dict[str, int], vcpus: float, memory: int
) -> None:
    # No requests: no container_resources in the operator's metadata at all.
    count = operator("Count", requests=requests) if requests else operator("Count")
    catalog = OperatorCatalog([count])

    (definition,) = [
        r
        for r in desired_resources(settings_of(tmp_path), catalog)
        if r.kind == "batch-job-definition"
    ]

    assert (definition.spec["vcpus"], definition.spec["memory"]) == (vcpus, memory)
    assert definition.spec["attempts"] == 1  # Airflow retries a task with a new job


def test_an_operator_without_an_image_gets_no_repository_nor_job_definition(
    tmp_path: Path,
) -> None:
    catalog = OperatorCatalog([operator("Local", image=None), operator("Imaged")])

    resources = desired_resources(settings_of(tmp_path), catalog)

    assert named(resources, "ecr-repository") == ["acme/tools"]
    assert named(resources, "batch-job-definition") == ["flowui-lab-tools-Imaged@0.1.0"]


def test_a_gpu_operator_runs_on_batch_only_where_gpu_instance_types_are_set(
    tmp_path: Path,
) -> None:
    catalog = OperatorCatalog([operator("Train", gpu=1), operator("Count")])

    without = desired_resources(settings_of(tmp_path), catalog)
    with_gpus = desired_resources(
        settings_of(tmp_path, FLOWUI_AWS_GPU_INSTANCE_TYPES="g4dn.xlarge, g5.xlarge"), catalog
    )

    assert named(without, "batch-job-definition") == ["flowui-lab-tools-Count@0.1.0"]
    assert named(without, "batch-job-queue") == ["flowui-lab-cpu"]
    assert named(with_gpus, "batch-job-queue") == ["flowui-lab-cpu", "flowui-lab-gpu"]
    found = by_key(with_gpus)
    environment = found[("batch-compute-environment", "flowui-lab-gpu")]
    assert environment.spec["instance_types"] == ("g4dn.xlarge", "g5.xlarge")
    train = found[("batch-job-definition", "flowui-lab-tools-Train@0.1.0")]
    count = found[("batch-job-definition", "flowui-lab-tools-Count@0.1.0")]
    assert (train.spec["gpu"], train.queue) == (1, "flowui-lab-gpu")
    assert (count.spec["gpu"], count.queue) == (0, "flowui-lab-cpu")


def test_the_same_settings_and_operators_always_give_the_same_resources(tmp_path: Path) -> None:
    catalog = OperatorCatalog([operator("Train", gpu=1), operator("Count")])
    settings = settings_of(tmp_path, FLOWUI_STORAGE_BUCKET="lab-data")

    # A plan is a comparison: the same input must give equal resources in the same order.
    assert desired_resources(settings, catalog, [4, 2]) == desired_resources(
        settings, OperatorCatalog(reversed(list(catalog))), [2, 4]
    )


# --- job definition names ----------------------------------------------------------------------


def test_a_job_definition_name_keeps_only_what_batch_allows(tmp_path: Path) -> None:
    settings = settings_of(tmp_path)

    assert job_definition_name(settings, "acme.tools", "Count Rows") == (
        "flowui-lab-acme_tools-Count_Rows"
    )
    assert job_definition_name(settings, "tools", "Count", 12) == (
        "flowui-lab-tools-Count-workspace-12"
    )


def test_long_job_definition_names_are_cut_to_batchs_limit_and_stay_apart(
    tmp_path: Path,
) -> None:
    settings = settings_of(tmp_path)
    long_a, long_b = "A" * 150 + "first", "A" * 150 + "second"

    names = [
        job_definition_name(settings, "tools", long_a),
        job_definition_name(settings, "tools", long_b),
        job_definition_name(settings, "tools", long_a, 7),
    ]

    assert all(len(name) <= MAX_JOB_DEFINITION_NAME for name in names), names
    assert len(set(names)) == 3
    assert names[2].endswith("-workspace-7")  # the workspace's suffix is never cut


# --- the runtime's variables --------------------------------------------------------------------


def test_the_runtime_variables_name_each_definitions_arn_and_queue(tmp_path: Path) -> None:
    settings = settings_of(tmp_path, AWS_REGION_NAME="eu-west-1")
    resources = desired_resources(settings, OperatorCatalog([operator("Count")]), [3])
    arns = {
        ("batch-job-definition", "flowui-lab-tools-Count@0.1.0"): "arn:definition:1",
        ("batch-job-definition", "flowui-lab-tools-Count-workspace-3@0.1.0"): "arn:definition:2",
    }

    variables = airflow_variables(settings, resources, arns)

    # The names the aws_batch runtime looks up (version 0.1.0 as 0_1_0; a workspace's tasks
    # use the definitions that mount only its tree).
    assert variables == {
        "AWS_REGION_NAME": "eu-west-1",
        "AWS_BATCH_JOB_DEFINITION_Count_0_1_0": "arn:definition:1",
        "AWS_BATCH_JOB_QUEUE_Count_0_1_0": "flowui-lab-cpu",
        "AWS_BATCH_JOB_DEFINITION_Count_0_1_0_WORKSPACE_3": "arn:definition:2",
        "AWS_BATCH_JOB_QUEUE_Count_0_1_0_WORKSPACE_3": "flowui-lab-cpu",
    }
