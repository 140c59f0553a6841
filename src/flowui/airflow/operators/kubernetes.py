"""The `kubernetes` runtime: the task runs in a pod of its dependency group's image, through
Airflow's KubernetesPodOperator.

Settings (section [kubernetes], read where the DAG is parsed): FLOWUI_KUBERNETES_NAMESPACE,
FLOWUI_KUBERNETES_VOLUME_CLAIM (the ReadWriteMany PVC holding the root),
FLOWUI_KUBERNETES_NODE_SELECTOR and FLOWUI_KUBERNETES_TOLERATIONS (tasks with GPUs also
tolerate the `nvidia.com/gpu` taint), FLOWUI_KUBERNETES_PULL_POLICY,
FLOWUI_KUBERNETES_SERVICE_ACCOUNT_TOKEN; and FLOWUI_TASK_USER, the uid and gid of the pods
(unset: the owner of the task's tree, `FlowUITask.container_user`).
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from pathlib import Path
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk.bases.xcom import BaseXCom
from kubernetes.client import models as k8s
from kubernetes.client.exceptions import ApiException

from flowui.airflow.operators.common import (
    CONTAINER_SECRETS_FILE,
    FlowUITask,
    container_command,
    container_resources,
    end_container_try,
    finished_output,
    record_placement,
)
from flowui.config import load_settings
from flowui.runtime.secrets import SECRETS_FILE_VARIABLE
from flowui.storage import TaskRunPaths

GPU_RESOURCE = "nvidia.com/gpu"
MANAGED_BY = {"app.kubernetes.io/managed-by": "flowui"}
_VOLUME = "flowui-root"
_SECRETS_VOLUME = "flowui-secrets"
_SECRETS_KEY = "secrets.json"
# How often the pod's start is checked: the provider's default (5 s) was half of a short task.
_STARTUP_CHECK_SECONDS = 1


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


def _waiting_reason(pod: k8s.V1Pod | None) -> str | None:
    """Why the pod's container has not started (an image that cannot be had, a bad
    configuration), as the kubelet says it; None when it started or nothing is known."""
    statuses = (pod.status.container_statuses if pod is not None and pod.status else None) or []
    for status in statuses:
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason:
            return f"{waiting.reason}: {waiting.message}" if waiting.message else waiting.reason
    return None


class FlowUIKubernetesOperator(KubernetesPodOperator):
    """Runs one FlowUI operator with `flowui-task` in a pod of its group's image.

    - The volume claim is mounted at the `runs/` and `dataset/` of the task's tree (sub-paths
      of the claim, and the repository's checkout for a `docker_image` group).
    - Secrets: the values the operator declares, from FlowUI's server (or the worker's
      environment), go into a Secret made for this try alone, mounted as a read-only file;
      the Secret belongs to the pod, so Kubernetes deletes it with the pod, and it is deleted
      when the try ends anyway. A value never enters the pod's spec.
    - The pod runs as the user that owns the task's tree (`FlowUITask.container_user`: so that
      the root's files have one owner), without privilege escalation or capabilities, and
      without the namespace's service-account token unless a setting asks for it.
    - The pod is deleted when its try ends, whatever the end; a pod that still starts after
      it finds no spec and writes nothing.
    - Requests, limits and GPUs come from the task's resources; labels tie the pod to its
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
        uid, gid = flowui_task.container_user(settings)
        super().__init__(
            image=flowui_task.image,
            image_pull_policy=settings.FLOWUI_KUBERNETES_PULL_POLICY.value,
            namespace=settings.FLOWUI_KUBERNETES_NAMESPACE,
            name=f"flowui-{flowui_task.operator.lower()}"[:50],
            cmds=["flowui-task"],
            env_vars=[k8s.V1EnvVar(name="PYTHONUNBUFFERED", value="1")],
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
            security_context=k8s.V1PodSecurityContext(
                run_as_user=uid, run_as_group=gid, fs_group=gid
            ),
            container_security_context=k8s.V1SecurityContext(
                allow_privilege_escalation=False,
                capabilities=k8s.V1Capabilities(drop=["ALL"]),
            ),
            automount_service_account_token=settings.FLOWUI_KUBERNETES_SERVICE_ACCOUNT_TOKEN,
            labels={**MANAGED_BY, "flowui.io/operator": label_value(flowui_task.operator)},
            get_logs=True,
            # Every try gets a pod of its own, deleted when the try ends: a pod of an ended try
            # is never reattached to, nor left to start later.
            durable=False,
            on_finish_action="delete_pod",
            startup_check_interval_seconds=_STARTUP_CHECK_SECONDS,
            log_events_on_failure=True,
            **kwargs,
        )
        self.flowui_task = flowui_task
        self.task_user = uid, gid
        self.secret_name: str | None = None

    def prepare(self, context: Any) -> TaskRunPaths:
        """Write the TaskSpec of this try into the run directory and point the pod at it."""
        paths = self.flowui_task.write_container_task_spec(self.dag_id, context, self.task_user)
        self.arguments = container_command(paths, context)[1:]
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
            self._give_secrets(self.flowui_task.secrets())
            super().execute(context)
        except Exception as error:
            # A pod that never ran its container wrote no log: log.txt still says why (the
            # first line: the provider's messages go on with the whole pod).
            why = (str(error).strip().splitlines() or [type(error).__name__])[0][:500]
            if waiting := _waiting_reason(self.remote_pod):
                why += f" ({waiting})"
            with paths.log.open("a", encoding="utf-8") as log:
                log.write(f"===== try {context['ti'].try_number} failed in Kubernetes: {why}\n")
            raise
        finally:
            end_container_try(paths)
            self._delete_secret()
            pod = self.remote_pod or self.pod
            record_placement(
                paths,
                "kubernetes",
                host=pod.spec.node_name if pod is not None and pod.spec is not None else None,
                pod=pod.metadata.name if pod is not None else None,
                namespace=self.namespace,
            )
        output = finished_output(paths, self.flowui_task.operator, None)
        # do_xcom_push means the provider's sidecar here (off): the output is pushed as every
        # other runtime's return value is.
        context["ti"].xcom_push(BaseXCom.XCOM_RETURN_KEY, output)
        return output

    def await_pod_start(self, pod: k8s.V1Pod) -> None:
        """Waits for the pod's start, then notes the pod as it is: its node (where the task
        ran) and, when it could not start, why."""
        try:
            super().await_pod_start(pod)
        finally:
            with contextlib.suppress(ApiException):
                self.remote_pod = self.pod_manager.read_pod(pod)

    def _give_secrets(self, values: dict[str, str]) -> None:
        """A Secret of this try holding `values` as one JSON file, mounted where flowui-task
        reads it; nothing when the operator has no secret set."""
        if not values:
            return
        self.secret_name = f"flowui-task-secrets-{secrets.token_hex(8)}"
        self.client.create_namespaced_secret(
            self.namespace,
            k8s.V1Secret(
                metadata=k8s.V1ObjectMeta(name=self.secret_name, labels=dict(self.labels)),
                string_data={_SECRETS_KEY: json.dumps(values)},
                type="Opaque",
            ),
        )
        self.volumes = [
            *self.volumes,
            k8s.V1Volume(
                name=_SECRETS_VOLUME,
                secret=k8s.V1SecretVolumeSource(
                    secret_name=self.secret_name,
                    items=[
                        k8s.V1KeyToPath(key=_SECRETS_KEY, path=Path(CONTAINER_SECRETS_FILE).name)
                    ],
                    default_mode=0o440,  # the pod's group (fsGroup) reads it
                ),
            ),
        ]
        self.volume_mounts = [
            *self.volume_mounts,
            k8s.V1VolumeMount(
                name=_SECRETS_VOLUME,
                mount_path=str(Path(CONTAINER_SECRETS_FILE).parent),
                read_only=True,
            ),
        ]
        self.env_vars = [
            *self.env_vars,
            k8s.V1EnvVar(name=SECRETS_FILE_VARIABLE, value=CONTAINER_SECRETS_FILE),
        ]

    def get_or_create_pod(self, pod_request_obj: k8s.V1Pod, context: Any) -> k8s.V1Pod:
        """The pod, and its Secret made the pod's own: should this worker die, Kubernetes
        still deletes the Secret with the pod."""
        pod = super().get_or_create_pod(pod_request_obj, context)
        if self.secret_name is not None:
            created = self.client.read_namespaced_pod(pod.metadata.name, self.namespace)
            owner = k8s.V1OwnerReference(
                api_version="v1", kind="Pod", name=created.metadata.name, uid=created.metadata.uid
            )
            self.client.patch_namespaced_secret(
                self.secret_name, self.namespace, {"metadata": {"ownerReferences": [owner]}}
            )
        return pod

    def _delete_secret(self) -> None:
        if self.secret_name is None:
            return
        try:
            self.client.delete_namespaced_secret(self.secret_name, self.namespace)
        except ApiException as error:
            if error.status != 404:  # already gone with its pod
                raise
        self.secret_name = None
