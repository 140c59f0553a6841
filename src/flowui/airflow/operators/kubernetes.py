"""The `kubernetes` runtime: the task runs in a pod of its dependency group's image, through
Airflow's KubernetesPodOperator.

Settings (section [kubernetes], read where the DAG is parsed): FLOWUI_KUBERNETES_NAMESPACE,
FLOWUI_KUBERNETES_VOLUME_CLAIM (the ReadWriteMany PVC holding the root),
FLOWUI_KUBERNETES_NODE_SELECTOR and FLOWUI_KUBERNETES_TOLERATIONS; tasks with GPUs also
tolerate the `nvidia.com/gpu` taint.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

from flowui.airflow.operators.common import (
    FlowUITask,
    container_resources,
    finished_output,
    record_placement,
)
from flowui.config import load_settings
from flowui.storage import TaskRunPaths

GPU_RESOURCE = "nvidia.com/gpu"
_VOLUME = "flowui-root"


def kubernetes_secret_name(workspace_id: int | None, repository: str) -> str:
    """The Kubernetes Secret holding a repository's secrets in a workspace (one key per
    secret): a DNS-1123 name made from the ids."""
    readable = re.sub(r"[^a-z0-9-]+", "-", repository.lower()).strip("-")[:200] or "repository"
    workspace = f"w{workspace_id}-" if workspace_id is not None else ""
    return f"flowui-secrets-{workspace}{readable}"


def label_value(text: str) -> str:
    """`text` as a Kubernetes label value (at most 63 of [A-Za-z0-9_.-], alphanumeric ends)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:63].strip("_.-") or "none"


def _shared_mounts(task: FlowUITask) -> list[k8s.V1VolumeMount]:
    """The runs/ and dataset/ of the task's tree (its workspace's) from the claim (whose root
    is the file-system root), and the repository's checkout, read-only, for a `docker_image`
    group's image."""
    root, tree = task.file_system, task.tree
    mounts = [
        k8s.V1VolumeMount(
            name=_VOLUME, mount_path=str(path), sub_path=path.relative_to(root.path).as_posix()
        )
        for path in (tree.runs, tree.datasets)
    ]
    if not task.image_holds_repository:
        checkout = Path(task.repository_path)
        mounts.append(
            k8s.V1VolumeMount(
                name=_VOLUME,
                mount_path=str(checkout),
                sub_path=checkout.relative_to(root.path).as_posix(),
                read_only=True,
            )
        )
    return mounts


class FlowUIKubernetesOperator(KubernetesPodOperator):
    """Runs one FlowUI operator with `flowui-task` in a pod of its group's image.

    The volume claim is mounted at the `runs/` and `dataset/` of the task's tree (sub-paths of
    the claim, and the repository's checkout for a `docker_image` group);
    secrets are references to a Kubernetes Secret (`kubernetes_secret_name`), never values;
    requests, limits and GPUs come from the task's resources; labels tie the pod to its
    workflow, run and task.

    :param flowui_task: the task, as the DAG document gives it
    """

    ui_color = "#d5e8d4"

    def __init__(self, *, flowui_task: FlowUITask, **kwargs: Any) -> None:
        if not flowui_task.image:
            raise ValueError(f"{flowui_task.operator} has no image for the kubernetes runtime")
        settings = load_settings(read_config=False)  # the environment of the DAG's parse
        requests, limits, gpus = container_resources(flowui_task.resources)
        if gpus:
            limits[GPU_RESOURCE] = str(gpus)
        tolerations = [k8s.V1Toleration(**t) for t in settings.FLOWUI_KUBERNETES_TOLERATIONS]
        if gpus:
            tolerations.append(
                k8s.V1Toleration(key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")
            )
        secret = kubernetes_secret_name(flowui_task.workspace_id, flowui_task.repository)
        super().__init__(
            image=flowui_task.image,
            namespace=settings.FLOWUI_KUBERNETES_NAMESPACE,
            name=f"flowui-{flowui_task.operator.lower()}"[:50],
            cmds=["flowui-task"],
            env_vars=[
                k8s.V1EnvVar(name="PYTHONUNBUFFERED", value="1"),
                *(
                    k8s.V1EnvVar(
                        name=name,
                        value_from=k8s.V1EnvVarSource(
                            secret_key_ref=k8s.V1SecretKeySelector(name=secret, key=name)
                        ),
                    )
                    for name in flowui_task.secret_names
                ),
            ],
            volumes=[
                k8s.V1Volume(
                    name=_VOLUME,
                    persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                        claim_name=settings.FLOWUI_KUBERNETES_VOLUME_CLAIM
                    ),
                )
            ],
            volume_mounts=_shared_mounts(flowui_task),
            container_resources=k8s.V1ResourceRequirements(requests=requests, limits=limits),
            node_selector=settings.FLOWUI_KUBERNETES_NODE_SELECTOR,
            tolerations=tolerations,
            labels={
                "app.kubernetes.io/managed-by": "flowui",
                "flowui.io/operator": label_value(flowui_task.operator),
            },
            get_logs=True,
            on_finish_action="delete_succeeded_pod",
            **kwargs,
        )
        self.flowui_task = flowui_task

    def prepare(self, context: Any) -> TaskRunPaths:
        """Write the TaskSpec of this try into the run directory and point the pod at it."""
        paths = self.flowui_task.write_container_task_spec(self.dag_id, context)
        self.arguments = ["--spec", str(paths.task_spec)]
        self.labels = {
            **self.labels,
            "flowui.io/workflow": label_value(self.dag_id),
            "flowui.io/run": label_value(context["run_id"]),
            "flowui.io/task": label_value(self.task_id),
        }
        return paths

    def execute(self, context: Any) -> Any:
        paths = self.prepare(context)
        try:
            super().execute(context)
        finally:
            pod = self.pod.metadata.name if self.pod is not None else None
            record_placement(paths, "kubernetes", pod=pod, namespace=self.namespace)
        return finished_output(paths, self.flowui_task.operator, None)
