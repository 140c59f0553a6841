"""What a platform needs on AWS, as CloudFormation templates (`flowui.cloud.templates`): the
platform's stack and one per workspace, built from the project's settings, its operators and the
server's workspaces; the ECR repositories' stacks; the job definitions' names; and the variables
the aws_batch runtime reads after `flowui aws apply`. No AWS here (tests/test_cloud_aws.py
deploys them to moto's server)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest

from flowui.cloud.templates import (
    JOB_POLICY,
    KEEP,
    MAX_JOB_DEFINITION_NAME,
    PROJECT_TAG,
    USER_TAG_PREFIX,
    VERSION_TAG,
    WORKSPACE_TAG,
    JobDefinition,
    Stack,
    airflow_variables,
    image_repositories,
    job_definition_name,
    platform_stacks,
    repository_stack,
)
from flowui.config import ConfigError, Settings, load_settings
from flowui.workflows.catalog import CatalogOperator, OperatorCatalog

JOB_DEFINITION = "AWS::Batch::JobDefinition"
# What CloudFormation keeps when it would delete or replace it: users' data, and the job
# definition revisions that runs pinned to an older operator version still use.
KEPT_TYPES = {"AWS::S3::Bucket", "AWS::EFS::FileSystem", JOB_DEFINITION}


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
    name: str,
    *,
    image: str | None = "ghcr.io/acme/tools:0.1.0-group0",
    version: str = "0.1.0",
    repository: str = "tools",
    **resources: Any,
) -> CatalogOperator:
    """An operator of `repository` at `version`, its group's image `image` (None: a group
    without one) and `resources` as its metadata's container_resources."""
    return CatalogOperator(
        repository=repository,
        repository_path=Path("/nowhere") / repository,
        name=name,
        version=version,
        metadata={"container_resources": resources} if resources else {},
        group="group0",
        group_entry={"source_image": image} if image else {},
    )


def stacks_of(
    settings: Settings, *operators: CatalogOperator, workspaces: tuple[int, ...] = ()
) -> list[Stack]:
    return platform_stacks(settings, OperatorCatalog(list(operators)), workspaces)


def of_type(stack: Stack, kind: str) -> dict[str, dict[str, Any]]:
    """The stack's resources of CloudFormation type `kind`, by logical id."""
    return {
        logical_id: resource
        for logical_id, resource in stack.template["Resources"].items()
        if resource["Type"] == kind
    }


def definitions(stack: Stack) -> dict[str, dict[str, Any]]:
    """The stack's job definitions' properties, by their (Batch) name."""
    return {
        resource["Properties"]["JobDefinitionName"]: resource["Properties"]
        for resource in of_type(stack, JOB_DEFINITION).values()
    }


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of a job role's one inline policy."""
    (policy,) = role["Properties"]["Policies"]
    assert policy["PolicyName"] == JOB_POLICY
    found: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return found


def walk(value: Any) -> Iterator[Any]:
    """`value` and everything in it."""
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


# --- the stacks -----------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["FLOWUI_AWS_SUBNETS", "FLOWUI_AWS_SECURITY_GROUPS"])
def test_a_missing_network_setting_is_named(tmp_path: Path, missing: str) -> None:
    settings = settings_of(tmp_path, **{missing: " , "})  # only separators: nothing set

    with pytest.raises(ConfigError, match=f"^{missing} is not set: `flowui aws` needs"):
        stacks_of(settings, operator("Count"), workspaces=(3,))


def test_the_platform_stack_comes_first_then_one_stack_per_workspace(tmp_path: Path) -> None:
    stacks = stacks_of(settings_of(tmp_path), operator("Count"), workspaces=(3,))

    assert [(stack.name, stack.workspace) for stack in stacks] == [
        ("flowui-lab", None),
        ("flowui-lab-workspace-3", 3),
    ]
    platform, workspace = stacks
    assert platform.tags[PROJECT_TAG] == "lab" and WORKSPACE_TAG not in platform.tags
    assert (workspace.tags[PROJECT_TAG], workspace.tags[WORKSPACE_TAG]) == ("lab", "3")
    # The body is the template, as CloudFormation reads it.
    assert json.loads(platform.body) == platform.template
    assert platform.template["AWSTemplateFormatVersion"] == "2010-09-09"
    # The platform's shared resources, its Batch network and queues.
    shared = platform.template["Resources"]
    assert {"BatchServiceRole", "InstanceRole", "InstanceProfile", "JobRole", "FileSystem"} <= set(
        shared
    )
    targets = of_type(platform, "AWS::EFS::MountTarget").values()
    assert sorted(t["Properties"]["SubnetId"] for t in targets) == ["subnet-a", "subnet-b"]
    assert {tuple(t["Properties"]["SecurityGroups"]) for t in targets} == {("sg-1",)}
    (environment,) = of_type(platform, "AWS::Batch::ComputeEnvironment").values()
    compute = environment["Properties"]["ComputeResources"]
    assert (compute["Subnets"], compute["SecurityGroupIds"]) == (["subnet-a", "subnet-b"], ["sg-1"])
    assert compute["MaxvCpus"] == 16


def test_each_workspace_gets_its_own_bucket_access_point_role_and_job_definitions(
    tmp_path: Path,
) -> None:
    settings = settings_of(
        tmp_path, FLOWUI_STORAGE_BUCKET="lab-data", FLOWUI_AWS_POSIX_USER="1234:567"
    )
    platform, workspace = stacks_of(settings, operator("CountOperator"), workspaces=(3,))
    root = settings.root
    resources = workspace.template["Resources"]

    # Its bucket, and the platform's own bucket in the platform's stack; their tags say whose
    # they are (a kept bucket outlives its stack: `destroy` finds it by them).
    (own_bucket,) = of_type(platform, "AWS::S3::Bucket").values()
    assert own_bucket["Properties"]["BucketName"] == "lab-data"
    own_tags = {t["Key"]: t["Value"] for t in own_bucket["Properties"]["Tags"]}
    assert own_tags[PROJECT_TAG] == "lab" and WORKSPACE_TAG not in own_tags
    (bucket,) = of_type(workspace, "AWS::S3::Bucket").values()
    assert bucket["Properties"]["BucketName"] == "lab-data-workspace-3"
    bucket_tags = {t["Key"]: t["Value"] for t in bucket["Properties"]["Tags"]}
    assert (bucket_tags[PROJECT_TAG], bucket_tags[WORKSPACE_TAG]) == ("lab", "3")

    # Its access point: its tree and nothing above, as the platform's user, created 0750.
    (point,) = of_type(workspace, "AWS::EFS::AccessPoint").values()
    properties = point["Properties"]
    assert properties["FileSystemId"] == {"Ref": "FileSystemId"}
    assert properties["RootDirectory"] == {
        "Path": "/workspaces/3",
        "CreationInfo": {"OwnerUid": "1234", "OwnerGid": "567", "Permissions": "0750"},
    }
    assert properties["PosixUser"] == {"Uid": "1234", "Gid": "567"}
    assert workspace.resource_name("AccessPoint") == "flowui-lab-workspace-3"
    # The checkouts' access point is the platform's: every workspace mounts it.
    checkouts = platform.template["Resources"]["RepositoriesAccessPoint"]["Properties"]
    assert checkouts["RootDirectory"]["Path"] == "/operators_repositories"
    assert platform.resource_name("RepositoriesAccessPoint") == "flowui-lab-repositories"

    # Its role: its tree and the checkouts, each only through its access point, and its own
    # bucket; never the platform's bucket nor the file system as a whole.
    role = resources["JobRole"]
    assert workspace.resource_name("JobRole") == "flowui-lab-workspace-3-job"
    granted = statements(role)
    file_system_arn = {"Ref": "FileSystemArn"}
    efs = [s for s in granted if "elasticfilesystem:" in str(s["Action"])]
    assert all(s["Resource"] == file_system_arn for s in efs)
    assert [
        (s["Action"], s["Condition"]["StringEquals"]["elasticfilesystem:AccessPointArn"])
        for s in efs
    ] == [
        (
            ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
            {"Fn::GetAtt": ["AccessPoint", "Arn"]},
        ),
        (
            ["elasticfilesystem:ClientMount"],
            {"Ref": "RepositoriesAccessPointArn"},
        ),
    ]
    buckets = {s["Resource"]["Fn::Sub"] for s in granted if "s3:" in str(s["Action"])}
    assert buckets == {
        "arn:${AWS::Partition}:s3:::lab-data-workspace-3",
        "arn:${AWS::Partition}:s3:::lab-data-workspace-3/*",
    }
    assert all(s["Effect"] == "Allow" for s in granted)

    # Its job definition mounts its tree (writable) and the checkouts (read only) at their
    # paths, each through its access point, as its role.
    ((name, definition),) = definitions(workspace).items()
    assert name == "flowui-lab-tools-CountOperator-workspace-3"
    container = definition["ContainerProperties"]
    assert container["JobRoleArn"] == {"Fn::GetAtt": ["JobRole", "Arn"]}
    assert [
        (
            v["Name"],
            v["EfsVolumeConfiguration"]["FileSystemId"],
            v["EfsVolumeConfiguration"]["AuthorizationConfig"],
            v["EfsVolumeConfiguration"]["TransitEncryption"],
        )
        for v in container["Volumes"]
    ] == [
        (
            "flowui-workspace",
            {"Ref": "FileSystemId"},
            {"Iam": "ENABLED", "AccessPointId": {"Ref": "AccessPoint"}},
            "ENABLED",
        ),
        (
            "flowui-repositories",
            {"Ref": "FileSystemId"},
            {
                "Iam": "ENABLED",
                "AccessPointId": {"Ref": "RepositoriesAccessPointId"},
            },
            "ENABLED",
        ),
    ]
    assert container["MountPoints"] == [
        {"SourceVolume": "flowui-workspace", "ContainerPath": str(root.workspace(3).path)},
        {
            "SourceVolume": "flowui-repositories",
            "ContainerPath": str(root.operators_repositories),
            "ReadOnly": True,
        },
    ]
    assert definition["Tags"][WORKSPACE_TAG] == "3"
    assert workspace.job_definitions == (
        JobDefinition(
            next(iter(of_type(workspace, JOB_DEFINITION))),
            "CountOperator",
            "0.1.0",
            "flowui-lab-cpu",
            3,
        ),
    )

    # The platform's own job definition mounts the whole root, as the platform's role.
    ((name, own),) = definitions(platform).items()
    assert name == "flowui-lab-tools-CountOperator"
    assert own["ContainerProperties"]["JobRoleArn"] == {"Fn::GetAtt": ["JobRole", "Arn"]}
    assert own["ContainerProperties"]["MountPoints"] == [
        {"SourceVolume": "flowui-root", "ContainerPath": str(root.path)}
    ]
    (volume,) = own["ContainerProperties"]["Volumes"]
    assert volume["EfsVolumeConfiguration"]["AuthorizationConfig"] == {"Iam": "ENABLED"}
    assert WORKSPACE_TAG not in own["Tags"]
    assert [(d.operator, d.workspace) for d in platform.job_definitions] == [
        ("CountOperator", None)
    ]


def test_workspaces_see_nothing_of_one_another(tmp_path: Path) -> None:
    settings = settings_of(tmp_path, FLOWUI_STORAGE_BUCKET="lab-data")
    _, three, four = stacks_of(settings, operator("Count"), workspaces=(3, 4))

    # Each one's names are its own, and nothing of one is in the other's template.
    assert "workspace-4" not in three.body and "workspace-3" not in four.body
    assert "workspaces/4" not in three.body and "workspaces/3" not in four.body
    assert 'lab-data"' not in three.body  # the platform's bucket is not any workspace's


def test_without_workspaces_there_is_only_the_repositories_access_point_and_no_bucket(
    tmp_path: Path,
) -> None:
    (platform,) = stacks_of(settings_of(tmp_path), operator("Count"))

    # Made before the first workspace: the platform's outputs never change with workspaces.
    assert list(of_type(platform, "AWS::EFS::AccessPoint")) == ["RepositoriesAccessPoint"]
    assert of_type(platform, "AWS::S3::Bucket") == {}  # FLOWUI_STORAGE_BUCKET unset: no S3
    granted = statements(platform.template["Resources"]["JobRole"])
    assert not any("s3:" in str(s["Action"]) for s in granted)
    # Its jobs mount the whole file system: no access point condition.
    assert [s.get("Condition") for s in granted] == [None]
    assert set(platform.template["Outputs"]) == {
        "FileSystemId",
        "FileSystemArn",
        "RepositoriesAccessPointId",
        "RepositoriesAccessPointArn",
    }


def test_the_platform_role_reaches_the_storage_bucket_when_one_is_set(tmp_path: Path) -> None:
    (platform,) = stacks_of(settings_of(tmp_path, FLOWUI_STORAGE_BUCKET="lab-data"))

    granted = statements(platform.template["Resources"]["JobRole"])
    assert {s["Resource"]["Fn::Sub"] for s in granted if "s3:" in str(s["Action"])} == {
        "arn:${AWS::Partition}:s3:::lab-data",
        "arn:${AWS::Partition}:s3:::lab-data/*",
    }


def test_workspaces_are_provisioned_once_each_in_id_order(tmp_path: Path) -> None:
    stacks = stacks_of(settings_of(tmp_path), workspaces=(5, 3, 5))

    assert [stack.name for stack in stacks] == [
        "flowui-lab",
        "flowui-lab-workspace-3",
        "flowui-lab-workspace-5",
    ]
    assert [stack.workspace for stack in stacks] == [None, 3, 5]


def test_a_workspace_whose_bucket_name_would_be_too_long_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    # The longest bucket the settings accept (46 characters) leaves room for a workspace id of
    # 6 digits: S3 names have at most 63 characters, and "-workspace-1000000" is 18.
    settings = settings_of(tmp_path, FLOWUI_STORAGE_BUCKET="b" * 46)

    last = stacks_of(settings, workspaces=(999999,))[-1]
    assert last.resource_name("Bucket") == "b" * 46 + "-workspace-999999"
    with pytest.raises(ConfigError, match="longer than S3's 63 characters") as raised:
        stacks_of(settings, workspaces=(1000000,))
    assert raised.value.hint is not None and "set a shorter name in" in raised.value.hint


# --- job definitions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "asked"),
    [
        ({"requests": {"cpu": 2500, "memory": 3072}}, {"VCPU": "2.5", "MEMORY": "3072"}),
        # Batch gives a job a quarter vCPU at least.
        ({"requests": {"cpu": 100, "memory": 256}}, {"VCPU": "0.25", "MEMORY": "256"}),
        ({}, {"VCPU": "1", "MEMORY": "1024"}),  # no requests: one vCPU, 1 GiB
        (
            {"requests": {"cpu": 4000, "memory": 8192}, "gpu": 2},
            {"VCPU": "4", "MEMORY": "8192", "GPU": "2"},
        ),
    ],
)
def test_a_job_definition_asks_batch_for_the_operators_requests(
    tmp_path: Path, resources: dict[str, Any], asked: dict[str, str]
) -> None:
    settings = settings_of(tmp_path, FLOWUI_AWS_GPU_INSTANCE_TYPES="g4dn.xlarge")
    stacks = stacks_of(settings, operator("Count", **resources), workspaces=(3,))

    for stack in stacks:
        (definition,) = definitions(stack).values()
        requirements = definition["ContainerProperties"]["ResourceRequirements"]
        assert {r["Type"]: r["Value"] for r in requirements} == asked
        assert definition["RetryStrategy"] == {"Attempts": 1}  # Airflow retries with a new job
        assert definition["ContainerProperties"]["Image"] == "ghcr.io/acme/tools:0.1.0-group0"
        assert definition["Tags"][VERSION_TAG] == "0.1.0"


def test_an_operator_without_an_image_gets_no_repository_nor_job_definition(
    tmp_path: Path,
) -> None:
    catalog = OperatorCatalog([operator("Local", image=None), operator("Imaged")])

    platform, workspace = platform_stacks(settings_of(tmp_path), catalog, [3])

    assert image_repositories(catalog) == ["acme/tools"]
    assert list(definitions(platform)) == ["flowui-lab-tools-Imaged"]
    assert list(definitions(workspace)) == ["flowui-lab-tools-Imaged-workspace-3"]
    assert [d.operator for d in platform.job_definitions + workspace.job_definitions] == [
        "Imaged",
        "Imaged",
    ]


def test_image_repositories_are_each_repository_once_in_order(tmp_path: Path) -> None:
    catalog = OperatorCatalog(
        [
            operator("B", image="ghcr.io/zoo/models:1.0.0-group0"),
            operator("A"),
            operator("C", image="ghcr.io/acme/tools:0.2.0-group1", version="0.2.0"),
        ]
    )

    assert image_repositories(catalog) == ["acme/tools", "zoo/models"]


def test_a_gpu_operator_runs_on_batch_only_where_gpu_instance_types_are_set(
    tmp_path: Path,
) -> None:
    operators = (operator("Train", gpu=1), operator("Count"))

    (without,) = stacks_of(settings_of(tmp_path), *operators)
    (with_gpus,) = stacks_of(
        settings_of(tmp_path, FLOWUI_AWS_GPU_INSTANCE_TYPES="g4dn.xlarge, g5.xlarge"), *operators
    )

    assert list(definitions(without)) == ["flowui-lab-tools-Count"]
    queues = [without.resource_name(q) for q in of_type(without, "AWS::Batch::JobQueue")]
    assert queues == ["flowui-lab-cpu"]
    environments = of_type(with_gpus, "AWS::Batch::ComputeEnvironment")
    assert {
        with_gpus.resource_name(e): r["Properties"]["ComputeResources"]["InstanceTypes"]
        for e, r in environments.items()
    } == {"flowui-lab-cpu": ["optimal"], "flowui-lab-gpu": ["g4dn.xlarge", "g5.xlarge"]}
    queues = [with_gpus.resource_name(q) for q in of_type(with_gpus, "AWS::Batch::JobQueue")]
    assert queues == ["flowui-lab-cpu", "flowui-lab-gpu"]
    # Each queue sends its jobs to its own compute environment.
    for queue in of_type(with_gpus, "AWS::Batch::JobQueue").values():
        (order,) = queue["Properties"]["ComputeEnvironmentOrder"]
        kind = queue["Properties"]["JobQueueName"].rsplit("-", 1)[1]
        assert order["ComputeEnvironment"] == {"Ref": f"ComputeEnvironment{kind.title()}"}
    assert {(d.operator, d.queue) for d in with_gpus.job_definitions} == {
        ("Train", "flowui-lab-gpu"),
        ("Count", "flowui-lab-cpu"),
    }


def test_the_same_settings_and_operators_always_give_the_same_templates(tmp_path: Path) -> None:
    operators = [operator("Train", gpu=1), operator("Count"), operator("Count", version="0.2.0")]
    settings = settings_of(
        tmp_path, FLOWUI_STORAGE_BUCKET="lab-data", FLOWUI_AWS_GPU_INSTANCE_TYPES="g4dn.xlarge"
    )

    # Reviewed, then deployed: the same input gives the same text, whatever the order it came in.
    first = platform_stacks(settings, OperatorCatalog(operators), [4, 2])
    again = platform_stacks(settings, OperatorCatalog(list(reversed(operators))), [2, 4])

    assert [(s.name, s.body, dict(s.tags), s.job_definitions) for s in first] == [
        (s.name, s.body, dict(s.tags), s.job_definitions) for s in again
    ]


def test_users_data_and_job_definitions_are_kept_and_nothing_else(tmp_path: Path) -> None:
    settings = settings_of(tmp_path, FLOWUI_STORAGE_BUCKET="lab-data")
    stacks = [
        *stacks_of(settings, operator("Count"), workspaces=(3,)),
        repository_stack("acme/tools", ["lab"]),
    ]

    kept, not_kept = set(), set()
    for stack in stacks:
        for logical_id, resource in stack.template["Resources"].items():
            policies = {key: resource[key] for key in KEEP if key in resource}
            if resource["Type"] in KEPT_TYPES:
                assert policies == KEEP, (stack.name, logical_id)
                kept.add(resource["Type"])
            else:
                assert policies == {}, (stack.name, logical_id)
                not_kept.add(resource["Type"])
    assert kept == KEPT_TYPES  # each kind was there to check
    assert KEEP == {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    assert {"AWS::ECR::Repository", "AWS::EFS::AccessPoint", "AWS::IAM::Role"} <= not_kept


def _job_definition_ids(stacks: list[Stack]) -> dict[tuple[str, str], str]:
    """(operator, stack) to the logical id of its one job definition there."""
    found = {}
    for stack in stacks:
        for served in stack.job_definitions:
            key = (served.operator, stack.name)
            assert key not in found, key
            found[key] = served.logical_id
    return found


@pytest.mark.parametrize(
    "changed",
    [
        operator("Count", image="ghcr.io/acme/tools:0.1.0-group0-rebuilt"),  # same version
        operator("Count", image="ghcr.io/acme/tools:0.2.0-group0", version="0.2.0"),
    ],
)
def test_a_changed_operator_version_is_a_job_definition_of_its_own(
    tmp_path: Path, changed: CatalogOperator
) -> None:
    settings = settings_of(tmp_path)
    before = stacks_of(settings, operator("Count"), operator("Other"), workspaces=(3,))
    after = stacks_of(settings, changed, operator("Other"), workspaces=(3,))
    old, new = _job_definition_ids(before), _job_definition_ids(after)

    # CloudFormation then registers a new revision of the operator's definition (same name)
    # and keeps the old one (Retain) for the runs pinned to it; the others stay as they were.
    for stack in ("flowui-lab", "flowui-lab-workspace-3"):
        assert new[("Count", stack)] != old[("Count", stack)]
        assert new[("Other", stack)] == old[("Other", stack)]
    for was, now in zip(before, after, strict=True):
        assert set(definitions(was)) == set(definitions(now))
        assert (
            of_type(now, JOB_DEFINITION)[new[("Count", now.name)]]["Properties"][
                "ContainerProperties"
            ]["Image"]
            == changed.group_entry["source_image"]
        )


def test_two_versions_of_an_operator_are_two_revisions_of_its_definition(tmp_path: Path) -> None:
    (platform,) = stacks_of(
        settings_of(tmp_path),
        operator("Count"),
        operator("Count", image="ghcr.io/acme/tools:0.2.0-group0", version="0.2.0"),
    )

    found = of_type(platform, JOB_DEFINITION)
    assert len(found) == 2
    assert {r["Properties"]["JobDefinitionName"] for r in found.values()} == {
        "flowui-lab-tools-Count"
    }
    assert sorted(r["Properties"]["Tags"][VERSION_TAG] for r in found.values()) == [
        "0.1.0",
        "0.2.0",
    ]
    assert sorted((d.version, d.logical_id in found) for d in platform.job_definitions) == [
        ("0.1.0", True),
        ("0.2.0", True),
    ]


# --- the file system and what the stacks share ---------------------------------------------------


def test_the_file_system_is_encrypted_and_only_the_account_over_tls_may_use_it(
    tmp_path: Path,
) -> None:
    (platform,) = stacks_of(settings_of(tmp_path))

    properties = platform.template["Resources"]["FileSystem"]["Properties"]
    assert properties["Encrypted"] is True
    assert platform.resource_name("FileSystem") == "flowui-lab"
    allow, deny = properties["FileSystemPolicy"]["Statement"]
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    }
    assert "elasticfilesystem:ClientMount" in allow["Action"]
    assert "Condition" not in allow
    assert deny["Effect"] == "Deny"
    assert (deny["Principal"], deny["Action"]) == ({"AWS": "*"}, "*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_workspace_stacks_take_the_platform_stacks_outputs_as_parameters(
    tmp_path: Path,
) -> None:
    platform, *workspaces = stacks_of(settings_of(tmp_path), operator("Count"), workspaces=(3, 4))

    outputs = platform.template["Outputs"]
    assert outputs["FileSystemId"]["Value"] == {"Ref": "FileSystem"}
    assert outputs["RepositoriesAccessPointId"]["Value"] == {"Ref": "RepositoriesAccessPoint"}
    assert platform.parameters == () and "Parameters" not in platform.template
    for workspace in workspaces:
        # Each parameter is an output of the platform's, and each is used.
        assert set(workspace.parameters) == set(outputs)
        assert set(workspace.template["Parameters"]) == set(outputs)
        assert set(workspace.parameters) <= _references(workspace.template)
        assert "Outputs" not in workspace.template


def _references(template: dict[str, Any]) -> set[str]:
    """What the template's Ref, Fn::GetAtt and Fn::Sub name (pseudo parameters aside)."""
    found = set()
    for value in walk(template):
        if not isinstance(value, dict):
            continue
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        if "Fn::Sub" in value:
            found |= set(re.findall(r"\$\{([^}.]+)", value["Fn::Sub"]))
    return {name for name in found if not name.startswith("AWS::")}


def test_every_reference_is_to_a_resource_of_its_own_stack(tmp_path: Path) -> None:
    settings = settings_of(
        tmp_path, FLOWUI_STORAGE_BUCKET="lab-data", FLOWUI_AWS_GPU_INSTANCE_TYPES="g4dn.xlarge"
    )
    stacks = stacks_of(settings, operator("Count"), operator("Train", gpu=1), workspaces=(3,))

    for stack in [*stacks, repository_stack("acme/tools", ["lab"])]:
        referred = _references(stack.template)
        own = set(stack.template["Resources"]) | set(stack.template.get("Parameters", {}))
        assert referred <= own, (stack.name, referred)
    assert "FileSystem" in _references(stacks[0].template)
    assert {"AccessPoint", "JobRole"} <= _references(stacks[1].template)


def test_every_logical_id_is_letters_and_digits_and_each_resource_has_its_own(
    tmp_path: Path,
) -> None:
    settings = settings_of(tmp_path, FLOWUI_STORAGE_BUCKET="lab-data")
    # Names that read alike once only letters and digits are kept stay apart.
    operators = [
        operator("Count-Rows"),
        operator("Count_Rows"),
        operator("CountRows", repository="acme.tools"),
        operator("CountRows", repository="acme-tools"),
        operator("Zählen", version="1.0.0-rc.1"),
        operator("X" * 200),
    ]
    stacks = stacks_of(settings, *operators, workspaces=(3,))

    for stack in stacks:
        resources = stack.template["Resources"]
        assert all(re.fullmatch(r"[A-Za-z0-9]{1,255}", i) for i in resources), list(resources)
        assert len(of_type(stack, JOB_DEFINITION)) == len(operators)
        served = [d.logical_id for d in stack.job_definitions]
        assert len(set(served)) == len(operators)
        assert set(served) == set(of_type(stack, JOB_DEFINITION))
        assert all(re.fullmatch(r"[A-Za-z0-9]+", o) for o in stack.template.get("Outputs", {}))
    assert len(definitions(stacks[0])) == len(operators)  # Batch names stay apart too


def test_a_repository_stack_tags_the_repository_with_each_platform_that_uses_it() -> None:
    stack = repository_stack("acme/tools", ["lab", "zoo", "lab"])

    assert stack.name == f"flowui-ecr-acme-tools-{sha256(b'acme/tools').hexdigest()[:8]}"
    # Repositories whose names read alike in a stack's letters keep stacks of their own.
    assert (
        len({repository_stack(r, []).name for r in ("acme/tools", "acme-tools", "acme.tools")}) == 3
    )
    assert stack.workspace is None and stack.job_definitions == ()
    assert PROJECT_TAG not in stack.tags  # platforms share it: no one project's
    (repository,) = of_type(stack, "AWS::ECR::Repository").values()
    properties = repository["Properties"]
    assert stack.resource_name("Repository") == "acme/tools"
    assert properties["ImageScanningConfiguration"] == {"ScanOnPush": True}
    used_by = sorted(t["Key"] for t in properties["Tags"] if t["Key"].startswith(USER_TAG_PREFIX))
    assert used_by == ["flowui:used-by:lab", "flowui:used-by:zoo"]
    assert json.loads(stack.body) == stack.template


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
        job_definition_name(settings, "tools", long_b, 7),
    ]

    assert all(len(name) <= MAX_JOB_DEFINITION_NAME for name in names), names
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", name) for name in names), names
    assert len(set(names)) == 4
    assert names[2].endswith("-workspace-7")  # the workspace's suffix is never cut
    # A name within the limit is kept whole.
    fits = "B" * (MAX_JOB_DEFINITION_NAME - len("flowui-lab-tools-"))
    assert job_definition_name(settings, "tools", fits) == f"flowui-lab-tools-{fits}"


# --- the runtime's variables --------------------------------------------------------------------


def test_the_runtime_variables_name_each_definitions_arn_and_queue(tmp_path: Path) -> None:
    settings = settings_of(
        tmp_path, AWS_REGION_NAME="eu-west-1", FLOWUI_AWS_GPU_INSTANCE_TYPES="g4dn.xlarge"
    )
    stacks = stacks_of(settings, operator("Count"), operator("Train", gpu=1), workspaces=(3,))
    arns = {
        (stack.name, served.logical_id): f"arn:{served.operator}:{stack.workspace}:1"
        for stack in stacks
        for served in stack.job_definitions
    }

    variables = airflow_variables(settings, stacks, arns)

    # The names the aws_batch runtime looks up (version 0.1.0 as 0_1_0; a workspace's tasks
    # use the definitions that mount only its tree).
    assert variables == {
        "AWS_REGION_NAME": "eu-west-1",
        "AWS_BATCH_JOB_DEFINITION_Count_0_1_0": "arn:Count:None:1",
        "AWS_BATCH_JOB_QUEUE_Count_0_1_0": "flowui-lab-cpu",
        "AWS_BATCH_JOB_DEFINITION_Train_0_1_0": "arn:Train:None:1",
        "AWS_BATCH_JOB_QUEUE_Train_0_1_0": "flowui-lab-gpu",
        "AWS_BATCH_JOB_DEFINITION_Count_0_1_0_WORKSPACE_3": "arn:Count:3:1",
        "AWS_BATCH_JOB_QUEUE_Count_0_1_0_WORKSPACE_3": "flowui-lab-cpu",
        "AWS_BATCH_JOB_DEFINITION_Train_0_1_0_WORKSPACE_3": "arn:Train:3:1",
        "AWS_BATCH_JOB_QUEUE_Train_0_1_0_WORKSPACE_3": "flowui-lab-gpu",
    }
