"""`flowui aws plan`'s comparison (`flowui.cloud.aws.plan`): what the platform needs, as
`cloud.desired` builds it, against what AWS holds, as `Aws` reads it. No AWS here: the state is
written as the readers give it back, so each test shows what `plan` prints for one situation
(tests/test_cloud_aws.py runs the same against moto's server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowui.cloud.aws import Change, plan
from flowui.cloud.desired import Resource, desired_resources
from flowui.config import Settings, load_settings
from flowui.workflows.catalog import CatalogOperator, OperatorCatalog

State = dict[tuple[str, str], dict[str, Any]]

# One operator with an image: a repository on ECR and a job definition per tree.
COUNT = CatalogOperator(
    repository="tools",
    repository_path=Path("/nowhere/tools"),
    name="CountOperator",
    version="0.1.0",
    metadata={"container_resources": {"requests": {"cpu": 500, "memory": 512}}},
    group="group0",
    group_entry={"source_image": "ghcr.io/acme/tools:0.1.0-group0"},
)
WORKSPACE_POINT = "flowui-lab-workspace-3"
CHECKOUTS_POINT = "flowui-lab-repositories"


def settings_of(project: Path, **values: str) -> Settings:
    """Project "lab" with its network, a storage bucket and `values`; nothing from this shell."""
    return load_settings(
        project,
        {
            "PROJECT_NAME": "lab",
            "VOLUME_MOUNT_PATH_HOST": str(project / "fs"),
            "FLOWUI_AWS_SUBNETS": "subnet-a,subnet-b",
            "FLOWUI_AWS_SECURITY_GROUPS": "sg-1",
            "FLOWUI_STORAGE_BUCKET": "lab-data",
            **values,
        },
        environ={},
    )


def needed(project: Path, workspaces: tuple[int, ...] = (3,), **values: str) -> list[Resource]:
    return desired_resources(settings_of(project, **values), OperatorCatalog([COUNT]), workspaces)


def applied(resources: list[Resource]) -> State:
    """What AWS holds once `resources` were applied, as the readers give it: each managed
    property as asked, its ARN beside them, and the workspace its tags name."""
    return {
        resource.key: {
            **resource.spec,
            "arn": f"arn:aws:test:::{resource.kind}/{resource.name}",
            "workspace": resource.workspace,
        }
        for resource in resources
    }


def changed(state: State, kind: str, name: str, **properties: Any) -> State:
    return {**state, (kind, name): {**state[(kind, name)], **properties}}


def lines(changes: list[Change]) -> list[str]:
    """The changes as `flowui aws plan` prints them (before a workspace's name)."""
    return [change.describe() for change in changes]


@pytest.fixture
def resources(tmp_path: Path) -> list[Resource]:
    """The platform of project "lab" with workspace 3."""
    return needed(tmp_path)


def test_on_an_empty_account_everything_is_created_in_the_order_apply_needs(
    resources: list[Resource],
) -> None:
    changes = plan(resources, {})

    assert lines(changes) == [f"+ {resource.kind} {resource.name}" for resource in resources]
    order = [(change.kind, change.name) for change in changes]
    # What a resource refers to exists before it: the file system before its access points and
    # mount targets, an access point before the role whose policy names it, a compute
    # environment before its queue, a role before the job definitions that run as it.
    for first, then in [
        (("efs-file-system", "flowui-lab"), ("efs-access-point", WORKSPACE_POINT)),
        (("efs-file-system", "flowui-lab"), ("efs-mount-target", "subnet-a")),
        (("efs-access-point", WORKSPACE_POINT), ("iam-role", "flowui-lab-workspace-3-job")),
        (("efs-access-point", CHECKOUTS_POINT), ("iam-role", "flowui-lab-workspace-3-job")),
        (("batch-compute-environment", "flowui-lab-cpu"), ("batch-job-queue", "flowui-lab-cpu")),
        (
            ("iam-role", "flowui-lab-workspace-3-job"),
            ("batch-job-definition", "flowui-lab-tools-CountOperator-workspace-3@0.1.0"),
        ),
    ]:
        assert order.index(first) < order.index(then), (first, then)
    # The CLI names the workspace of what belongs to one.
    assert {change.name: change.workspace for change in changes if change.workspace} == {
        "lab-data-workspace-3": 3,
        WORKSPACE_POINT: 3,
        "flowui-lab-workspace-3-job": 3,
        "flowui-lab-tools-CountOperator-workspace-3@0.1.0": 3,
    }


def test_what_aws_holds_as_asked_plans_nothing(resources: list[Resource]) -> None:
    assert plan(resources, applied(resources)) == []


def _as_aws_words_it(value: Any) -> Any:
    """The same value as AWS's APIs give it back: lists, and JSON documents with other
    whitespace and their keys in another order."""

    def reordered(document: Any) -> Any:
        if isinstance(document, dict):
            return {key: reordered(document[key]) for key in reversed(list(document))}
        if isinstance(document, list):
            return [reordered(item) for item in document]
        return document

    if isinstance(value, tuple):
        return [_as_aws_words_it(item) for item in value]
    if isinstance(value, str) and value.startswith("{"):
        return json.dumps(reordered(json.loads(value)), indent=2)
    return value


def test_the_same_properties_worded_otherwise_by_aws_are_no_change(
    resources: list[Resource],
) -> None:
    state = {
        key: {name: _as_aws_words_it(value) for name, value in found.items()}
        for key, found in applied(resources).items()
    }
    role = ("iam-role", "flowui-lab-workspace-3-job")
    asked = next(resource.spec for resource in resources if resource.key == role)
    assert state[role]["policy"] != asked["policy"]  # worded otherwise indeed

    assert plan(resources, state) == []


def test_a_changed_property_is_an_update_naming_each_property_that_differs(
    resources: list[Resource],
) -> None:
    state = applied(resources)
    # Opened to everyone by hand; the compute environment shrunk and moved to one subnet.
    state = changed(state, "s3-bucket", "lab-data", public_access_blocked=False)
    state = changed(
        state, "batch-compute-environment", "flowui-lab-cpu", max_vcpus=4, subnets=("subnet-a",)
    )
    # A role whose inline policy was removed.
    state = changed(state, "iam-role", "flowui-lab-job", policy=None)

    assert lines(plan(resources, state)) == [
        "~ s3-bucket lab-data (public_access_blocked)",
        "~ iam-role flowui-lab-job (policy)",
        "~ batch-compute-environment flowui-lab-cpu (max_vcpus, subnets)",
    ]


def test_a_new_setting_shows_as_the_update_it_makes(tmp_path: Path) -> None:
    before = applied(needed(tmp_path))

    changes = plan(needed(tmp_path, FLOWUI_AWS_MAX_VCPUS="64"), before)

    assert lines(changes) == ["~ batch-compute-environment flowui-lab-cpu (max_vcpus)"]


def test_a_replaced_access_point_updates_the_role_and_job_definitions_that_use_it(
    resources: list[Resource],
) -> None:
    state = changed(
        applied(resources), "efs-access-point", WORKSPACE_POINT, root_directory="/elsewhere"
    )

    changes = plan(resources, state)

    # The platform's own role and job definition use no access point: they stay as they are.
    assert lines(changes) == [
        f"~ efs-access-point {WORKSPACE_POINT} (root_directory)",
        f"~ iam-role flowui-lab-workspace-3-job (access point {WORKSPACE_POINT} replaced)",
        "~ batch-job-definition flowui-lab-tools-CountOperator-workspace-3@0.1.0 "
        f"(access point {WORKSPACE_POINT} replaced)",
    ]
    assert {change.workspace for change in changes} == {3}


def test_what_is_no_longer_needed_is_deleted_after_the_rest_and_dependents_first(
    tmp_path: Path,
) -> None:
    # Applied with workspace 3 and a GPU environment; now neither is needed.
    before = applied(needed(tmp_path, (3,), FLOWUI_AWS_GPU_INSTANCE_TYPES="g4dn.xlarge"))

    changes = plan(needed(tmp_path, ()), before)

    assert all(change.action == "delete" for change in changes), lines(changes)
    # Kinds in the reverse of the order apply creates them in: what uses a resource goes
    # before it (the queue before the compute environment it sends jobs to).
    assert [change.kind for change in changes] == [
        "batch-job-queue",
        "batch-compute-environment",
        "efs-access-point",
        "efs-access-point",
        "s3-bucket",
        "iam-role",
    ]
    assert sorted((change.kind, change.name, change.workspace) for change in changes) == [
        ("batch-compute-environment", "flowui-lab-gpu", None),
        ("batch-job-queue", "flowui-lab-gpu", None),
        ("efs-access-point", CHECKOUTS_POINT, None),  # only workspaces' jobs mount it
        ("efs-access-point", WORKSPACE_POINT, 3),
        ("iam-role", "flowui-lab-workspace-3-job", 3),
        ("s3-bucket", "lab-data-workspace-3", 3),
    ]
    assert "- s3-bucket lab-data-workspace-3" in lines(changes)


def test_creates_and_updates_come_before_every_delete(tmp_path: Path) -> None:
    before = applied(needed(tmp_path, (3,)))
    del before[("efs-mount-target", "subnet-b")]  # a mount target lost
    before = changed(before, "ecr-repository", "acme/tools", scan_on_push=False)

    changes = plan(needed(tmp_path, ()), before)

    actions = [change.action for change in changes]
    assert actions[:2] == ["update", "create"], lines(changes)
    assert set(actions[2:]) == {"delete"}


def test_job_definitions_no_longer_needed_are_kept_for_the_runs_pinned_to_them(
    resources: list[Resource],
) -> None:
    state = applied(resources)
    # Version 0.0.9's definitions: workflows deployed with it still run on them.
    for name in ("flowui-lab-tools-CountOperator", "flowui-lab-tools-CountOperator-workspace-3"):
        state[("batch-job-definition", f"{name}@0.0.9")] = {"image": "ghcr.io/acme/tools:0.0.9"}

    assert plan(resources, state) == []
