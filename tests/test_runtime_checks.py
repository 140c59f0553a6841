"""What deploying checks per runtime (`workflows.runtimes`), below the server and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowui.operators.install import install_repository
from flowui.storage import FileSystemRoot
from flowui.workflows.catalog import catalog_from_root
from flowui.workflows.runtimes import (
    ImageLookup,
    batch_variable,
    platform_image_lookup,
    resolved_runtime,
    runtime_problems,
)
from flowui.workflows.validate import parse_workflow
from tests.support.operator_repositories import make_repository, metadata, write_operator

HELLO = {"repository": "demo", "name": "HelloOperator", "version": "0.1.0"}
IMAGED = {"repository": "demo", "name": "ImagedOperator", "version": "0.1.0"}


@pytest.mark.parametrize(
    ("version", "variable"),
    [
        ("1.2.0", "AWS_BATCH_JOB_DEFINITION_TrainModelOperator_1_2_0"),
        ("2.0.0-rc.1", "AWS_BATCH_JOB_DEFINITION_TrainModelOperator_2_0_0_rc_1"),
    ],
)
def test_a_version_becomes_part_of_a_valid_variable_name(version: str, variable: str) -> None:
    assert batch_variable("DEFINITION", "TrainModelOperator", version) == variable
    # A workspace's tasks have job definitions of their own (they mount only its tree).
    assert batch_variable("DEFINITION", "TrainModelOperator", version, 7) == (
        f"{variable}_WORKSPACE_7"
    )


def test_a_task_without_a_runtime_takes_the_default_then_process() -> None:
    assert resolved_runtime("docker", "kubernetes") == "docker"
    assert resolved_runtime(None, "aws_batch") == "aws_batch"
    assert resolved_runtime(None, None) == "process"
    with pytest.raises(ValueError, match="unknown runtime 'dock'"):
        resolved_runtime(None, "dock")


def problems_of(
    tmp_path: Path,
    tasks: list[dict],
    environ: dict[str, str],
    workspace_id: int | None = None,
    *,
    image: str = "team/tool:1",
    image_available: ImageLookup | None = None,
) -> list[str]:
    repository = make_repository(tmp_path / "repo")
    write_operator(
        repository,
        "ImagedOperator",
        meta=metadata("ImagedOperator", dependency={"docker_image": image}),
    )
    root = FileSystemRoot(tmp_path / "fs").create()
    install_repository(repository, root)
    catalog = catalog_from_root(root)
    workflow, errors = parse_workflow({"name": "checks", "tasks": tasks}, catalog)
    assert workflow is not None and not errors, errors

    def no_lookup(runtime: str, image: str) -> bool | str:
        raise AssertionError(f"no image lookup expected for {runtime} {image}")

    found = runtime_problems(
        workflow,
        catalog,
        default_runtime="process",
        environ=environ,
        image_available=image_available or no_lookup,
        workspace_id=workspace_id,
    )
    return [str(problem) for problem in found]


def test_a_batch_task_needs_its_job_definition_and_queue_variables(tmp_path: Path) -> None:
    tasks = [{"id": "hello", "operator": HELLO, "runtime": "aws_batch"}]
    definition = "AWS_BATCH_JOB_DEFINITION_HelloOperator_0_1_0"
    queue = "AWS_BATCH_JOB_QUEUE_HelloOperator_0_1_0"

    assert problems_of(tmp_path / "none", tasks, {}) == [
        f"/tasks/0/runtime: task hello (HelloOperator 0.1.0) runs in aws_batch, but {definition}"
        f" and {queue} are not set in the platform's environment: give the job definition and"
        " queue of this operator version (`flowui aws apply` writes them)"
    ]
    platform_wide = {definition: "def", queue: "q"}
    assert problems_of(tmp_path / "both", tasks, platform_wide) == []
    # A workspace's task needs the workspace's own: the platform's would mount the whole root.
    assert problems_of(tmp_path / "workspace", tasks, platform_wide, workspace_id=3) == [
        f"/tasks/0/runtime: task hello (HelloOperator 0.1.0) runs in aws_batch, but"
        f" {definition}_WORKSPACE_3 and {queue}_WORKSPACE_3 are not set in the platform's"
        " environment: give the job definition and queue of this operator version in this"
        " workspace (`flowui aws apply` writes them)"
    ]
    own = {f"{definition}_WORKSPACE_3": "def-3", f"{queue}_WORKSPACE_3": "q"}
    assert problems_of(tmp_path / "own", tasks, own, workspace_id=3) == []


def test_a_process_task_cannot_run_a_group_that_needs_an_image(tmp_path: Path) -> None:
    tasks = [{"id": "tool", "operator": IMAGED}]

    [problem] = problems_of(tmp_path, tasks, {})

    assert problem.startswith("/tasks/0/runtime: task tool (ImagedOperator 0.1.0) runs in process")
    assert "choose the docker, kubernetes or aws_batch runtime" in problem


def test_a_kubernetes_image_is_checked_in_its_registry_unless_the_setting_says_none(
    tmp_path: Path,
) -> None:
    tasks = [{"id": "tool", "operator": IMAGED, "runtime": "kubernetes"}]
    image = "127.0.0.1:1/team/tool:1"  # a registry that does not answer, as an air-gapped one

    [problem] = problems_of(
        tmp_path / "registry", tasks, {}, image=image, image_available=platform_image_lookup({})
    )
    # Images loaded onto the nodes: the kubelet finds them when the pod starts.
    unchecked = platform_image_lookup({"FLOWUI_KUBERNETES_IMAGE_CHECK": "none"})

    assert problem.startswith(
        "/tasks/0/runtime: task tool (ImagedOperator 0.1.0) runs in kubernetes, but its image "
        f"{image} cannot be checked: the registry 127.0.0.1:1 does not answer ("
    )
    assert problem.endswith(
        "(when the nodes have it already, FLOWUI_KUBERNETES_IMAGE_CHECK=none skips this check)"
    )
    assert problems_of(tmp_path / "none", tasks, {}, image=image, image_available=unchecked) == []
