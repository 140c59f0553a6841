"""The `kubernetes` runtime's pods, built as KubernetesPodOperator builds them before it creates
one, and checked against the Kubernetes schemas of today (1.35, kubernetes-validate): image,
command, shared volume mounts, resources with GPUs, security, node selector, tolerations,
labels. Pods that run, with their secrets, are in test_kubernetes_e2e.py (a real cluster).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from kubernetes.client import ApiClient

from flowui.airflow.dag_factory import load_dag
from flowui.config import ConfigError, load_settings
from flowui.operators.images import IMAGE_REPOSITORY_PATH
from flowui.operators.install import install_repository
from flowui.storage import FileSystemRoot
from flowui.workflows.catalog import catalog_from_root
from flowui.workflows.compile import compile_workflow
from flowui.workflows.validate import parse_workflow
from tests.support.operator_repositories import make_repository, metadata, write_operator

KUBERNETES_VERSION = "1.35"
SECRETS_MODEL = """\
from pydantic import BaseModel


class InputModel(BaseModel):
    name: str = "world"
    times: int = 1


class OutputModel(BaseModel):
    message: str


class SecretsModel(BaseModel):
    API_TOKEN: str
    OTHER_KEY: str
"""
RUN_ID = "manual__2026-12-04T10:00:00.123456+00:00"


@dataclass
class TaskInstance:
    dag_id: str
    task_id: str
    run_id: str = RUN_ID
    try_number: int = 1
    map_index: int = -1


@pytest.fixture
def root(tmp_path: Path) -> FileSystemRoot:
    root = FileSystemRoot(tmp_path / "fs").create()
    repository = make_repository(tmp_path / "repo")
    write_operator(
        repository,
        "GpuOperator",
        model=SECRETS_MODEL,
        meta=metadata(
            "GpuOperator",
            container_resources={
                "requests": {"cpu": 500, "memory": 1024},
                "limits": {"cpu": 2000, "memory": 4096},
                "gpu": 1,
            },
        ),
    )
    write_operator(
        repository,
        "ToolOperator",
        meta=metadata("ToolOperator", dependency={"docker_image": "team/tool:2"}),
    )
    install_repository(repository, root)
    return root


def built_pod(root: FileSystemRoot, task: dict[str, Any], workspace_id: int | None = 7) -> dict:
    """The pod of `task` (in a one-task workflow), as the operator would create it."""
    catalog = catalog_from_root(root)
    workflow, problems = parse_workflow({"name": "pods", "tasks": [task]}, catalog)
    assert workflow is not None and not problems, problems
    compiled = compile_workflow(
        workflow, "wf_pods", catalog, root, workspace_id=workspace_id, default_runtime="process"
    )
    dag = load_dag(str(compiled.stub_path))
    operator = dag.get_task(task["id"])
    context = {
        "run_id": RUN_ID,
        "ti": TaskInstance(dag.dag_id, task["id"]),
        "params": {},
        "logical_date": None,
        "dag": dag,
    }
    operator.prepare(context)
    pod = operator.build_pod_request_obj(context, dry_run=True)
    manifest: dict[str, Any] = ApiClient().sanitize_for_serialization(pod)
    return manifest


def test_a_gpu_task_with_secrets_becomes_a_valid_pod_without_their_values(
    root: FileSystemRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWUI_KUBERNETES_NAMESPACE", "flowui-jobs")
    monkeypatch.setenv("FLOWUI_KUBERNETES_VOLUME_CLAIM", "shared-root")
    monkeypatch.setenv("FLOWUI_KUBERNETES_NODE_SELECTOR", '{"pool": "gpu"}')
    monkeypatch.setenv("API_TOKEN", "value-that-must-not-appear")
    task = {
        "id": "train_gpu",
        "operator": {"repository": "demo", "name": "GpuOperator", "version": "0.1.0"},
        "runtime": "kubernetes",
        "inputs": {"name": {"value": "ada"}},
    }

    pod = built_pod(root, task)

    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    assert "value-that-must-not-appear" not in str(pod)
    assert pod["metadata"]["namespace"] == "flowui-jobs"
    labels = pod["metadata"]["labels"]
    assert labels["flowui.io/workflow"] == "wf_pods"
    assert labels["flowui.io/task"] == "train_gpu"
    assert labels["flowui.io/run"].startswith("manual__2026-12-04T10_00_00.123456_00_00"[:40])
    [container] = pod["spec"]["containers"]
    assert container["image"] == "localhost/demo:0.1.0-group0"
    tree = root.workspace(7)  # the workspace's: its runs and datasets, nothing else
    paths = tree.task_run("wf_pods", RUN_ID, "train_gpu")
    assert [container["command"], container["args"]] == [
        ["flowui-task"],
        ["--spec", str(paths.task_spec), "--try", "1"],
    ]
    spec = paths.task_spec.read_text()
    assert IMAGE_REPOSITORY_PATH in spec and '"ada"' in spec
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1024Mi"},
        "limits": {"cpu": "2000m", "memory": "4096Mi", "nvidia.com/gpu": "1"},
    }
    mounts = {m["mountPath"]: (m["name"], m["subPath"]) for m in container["volumeMounts"]}
    assert mounts == {
        str(tree.runs): ("flowui-root", "workspaces/7/runs"),
        str(tree.datasets): ("flowui-root", "workspaces/7/dataset"),
    }
    [volume] = pod["spec"]["volumes"]
    assert volume == {"name": "flowui-root", "persistentVolumeClaim": {"claimName": "shared-root"}}
    # Secrets come as a Secret of the try, made when it starts: no name or value here.
    assert [variable["name"] for variable in container["env"]] == ["PYTHONUNBUFFERED"]
    assert pod["spec"]["nodeSelector"] == {"pool": "gpu"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"][
        "tolerations"
    ]


def test_a_task_without_gpus_asks_for_none_and_tolerates_nothing(root: FileSystemRoot) -> None:
    task = {
        "id": "hello",
        "operator": {"repository": "demo", "name": "HelloOperator", "version": "0.1.0"},
        "runtime": "kubernetes",
        "resources": {
            "requests": {"cpu": 250, "memory": 256},
            "limits": {"cpu": 500, "memory": 512},
        },
    }

    pod = built_pod(root, task, workspace_id=None)

    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    [container] = pod["spec"]["containers"]
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    assert not pod["spec"].get("tolerations")
    assert [variable["name"] for variable in container["env"]] == ["PYTHONUNBUFFERED"]


def test_a_pod_runs_as_the_task_user_unprivileged_and_without_the_token(
    root: FileSystemRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = {
        "id": "hello",
        "operator": {"repository": "demo", "name": "HelloOperator", "version": "0.1.0"},
        "runtime": "kubernetes",
    }
    monkeypatch.setenv("FLOWUI_TASK_USER", "50000:50001")

    pod = built_pod(root, task)

    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    assert pod["spec"]["securityContext"] == {
        "runAsUser": 50000,
        "runAsGroup": 50001,
        "fsGroup": 50001,
    }
    [container] = pod["spec"]["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert container["imagePullPolicy"] == "IfNotPresent"

    # Unset, the pod runs as the owner of its workspace's tree: the uid its process-runtime
    # tasks have (a platform run as root), else the worker's own.
    monkeypatch.delenv("FLOWUI_TASK_USER")
    monkeypatch.setenv("FLOWUI_KUBERNETES_SERVICE_ACCOUNT_TOKEN", "true")
    monkeypatch.setenv("FLOWUI_KUBERNETES_PULL_POLICY", "Never")
    pod = built_pod(root, task)
    sandbox_uid = load_settings(read_config=False, environ={}).sandbox_policy.uid(7)
    owner = (sandbox_uid, sandbox_uid) if sandbox_uid is not None else (os.getuid(), os.getgid())
    context = pod["spec"]["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (*owner, owner[1])
    assert pod["spec"]["automountServiceAccountToken"] is True
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"


def test_a_bad_node_selector_setting_is_named(
    root: FileSystemRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWUI_KUBERNETES_NODE_SELECTOR", "pool=gpu")
    task = {
        "id": "hello",
        "operator": {"repository": "demo", "name": "HelloOperator", "version": "0.1.0"},
        "runtime": "kubernetes",
    }
    with pytest.raises(ConfigError) as refused:
        built_pod(root, task)
    assert (
        str(refused.value) == "environment FLOWUI_KUBERNETES_NODE_SELECTOR: 'pool=gpu' is not JSON"
    )


def test_an_image_used_as_is_gets_the_repository_from_the_claim_read_only(
    root: FileSystemRoot,
) -> None:
    task = {
        "id": "tool",
        "operator": {"repository": "demo", "name": "ToolOperator", "version": "0.1.0"},
        "runtime": "kubernetes",
    }

    pod = built_pod(root, task)

    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    [container] = pod["spec"]["containers"]
    assert container["image"] == "team/tool:2"
    [checkout] = root.operators_repositories.iterdir()
    repository = (
        str(checkout / "repository") if (checkout / "repository").is_dir() else str(checkout)
    )
    assert {
        "name": "flowui-root",
        "mountPath": repository,
        "subPath": str(Path(repository).relative_to(root.path)),
        "readOnly": True,
    } in container["volumeMounts"]
    spec = root.workspace(7).task_run("wf_pods", RUN_ID, "tool").task_spec.read_text()
    assert repository in spec and IMAGE_REPOSITORY_PATH not in spec
