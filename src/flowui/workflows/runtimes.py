"""What each task's runtime needs beyond a valid document, checked when a workflow is deployed:
an image of its dependency group for the container runtimes, the job definition and queue
variables for AWS Batch, an environment the process runtime can build."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Final

from flowui.config import KubernetesImageCheck, Settings, load_settings
from flowui.operators.images.reference import ImageReference
from flowui.storage import FileSystemRoot, read_environment_file
from flowui.workflows.catalog import OperatorCatalog
from flowui.workflows.spec import RUNTIMES, Workflow
from flowui.workflows.validate import WorkflowError, json_pointer

DEFAULT_RUNTIME: Final = "process"
CONTAINER_RUNTIMES: Final = ("docker", "kubernetes")

# Whether an image can be had by a runtime: True, False, or a sentence saying why it cannot
# be told (an engine or registry that does not answer).
ImageLookup = Callable[[str, str], bool | str]
# (repository, operator, version, workspace id) -> whether AWS Batch has the job definition
# `flowui aws apply` registered for it, or why that could not be asked (`cloud.jobs`).
BatchLookup = Callable[[str, str, str, int | None], bool | str]


def batch_variable(kind: str, operator: str, version: str, workspace_id: int | None = None) -> str:
    """The environment variable naming the job definition (`kind` "DEFINITION") or queue
    ("QUEUE") of an operator version, as the seed names them; `1.2.0` becomes `1_2_0`, since
    variable names allow only letters, digits and '_'. A workspace's tasks run with its own
    job definitions (they mount only its tree): their names end in `_WORKSPACE_{id}`."""
    safe_version = re.sub(r"[^A-Za-z0-9_]", "_", version)
    name = f"AWS_BATCH_JOB_{kind}_{operator}_{safe_version}"
    return name if workspace_id is None else f"{name}_WORKSPACE_{workspace_id}"


def runtime_environment(
    root: FileSystemRoot, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables the runtimes read: `environ` (default os.environ) with those
    `flowui aws apply` wrote under the root (Batch job definitions and queues) over it.
    Raises ValueError naming the file when it is broken."""
    base = os.environ if environ is None else environ
    return {**base, **read_environment_file(root.cloud_environment)}


def resolved_runtime(task_runtime: str | None, default_runtime: str | None) -> str:
    """A task's runtime: its own, else the default (the workspace's or the platform's)."""
    runtime = task_runtime or default_runtime or DEFAULT_RUNTIME
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}: one of {', '.join(RUNTIMES)}")
    return runtime


def runtime_problems(
    workflow: Workflow,
    catalog: OperatorCatalog,
    *,
    default_runtime: str,
    environ: Mapping[str, str],
    image_available: ImageLookup,
    workspace_id: int | None = None,
    batch_registered: BatchLookup | None = None,
) -> list[WorkflowError]:
    """Every task whose runtime cannot run it as deployed now, each at its task's pointer
    (a workspace's tasks need the workspace's own Batch job definitions: named by `environ`,
    else, given `batch_registered`, found registered in AWS Batch)."""
    problems: list[WorkflowError] = []
    checked: dict[tuple[str, str], bool | str] = {}
    for index, task in enumerate(workflow.tasks):
        reference = task.operator
        operator = catalog.find(reference.repository, reference.name, reference.version)
        if operator is None:
            continue  # reported by validation
        runtime = resolved_runtime(task.runtime, default_runtime)
        pointer = json_pointer("tasks", index, "runtime")
        where = f"task {task.id} ({reference.name} {reference.version}) runs in {runtime}"
        dependency = operator.group_entry.get("dependency") or {}
        image = operator.group_entry.get("source_image")
        if runtime == DEFAULT_RUNTIME and (
            dependency.get("dockerfile") or dependency.get("docker_image")
        ):
            problems.append(
                WorkflowError(
                    pointer,
                    f"{where}, but its dependency group needs a container image: choose the "
                    "docker, kubernetes or aws_batch runtime",
                )
            )
        elif runtime in CONTAINER_RUNTIMES and image:
            key = (runtime, image)
            if key not in checked:
                checked[key] = image_available(runtime, image)
            found = checked[key]
            build = f"flowui operators build {operator.repository_path}"
            if runtime == "kubernetes":
                build += " --push"
            if found is False:
                problems.append(
                    WorkflowError(
                        pointer,
                        f"{where}, but the image {image} of its dependency group is not built"
                        f"{'' if runtime == 'docker' else ' (or not pushed)'}: run `{build}`",
                    )
                )
            elif isinstance(found, str):
                skip = (
                    " (when the nodes have it already, FLOWUI_KUBERNETES_IMAGE_CHECK=none skips "
                    "this check)"
                    if runtime == "kubernetes"
                    else ""
                )
                problems.append(
                    WorkflowError(
                        pointer, f"{where}, but its image {image} cannot be checked: {found}{skip}"
                    )
                )
        elif runtime == "aws_batch":
            missing = [
                name
                for name in (
                    batch_variable(kind, reference.name, reference.version, workspace_id)
                    for kind in ("DEFINITION", "QUEUE")
                )
                if not environ.get(name)
            ]
            registered: bool | str = False
            if missing and batch_registered is not None:
                registered = batch_registered(
                    reference.repository, reference.name, reference.version, workspace_id
                )
            if missing and registered is not True:
                problems.append(
                    WorkflowError(
                        pointer,
                        f"{where}, but {' and '.join(missing)} "
                        f"{'is' if len(missing) == 1 else 'are'} not set in the platform's "
                        "environment: give the job definition and queue of this operator version"
                        + ("" if workspace_id is None else " in this workspace")
                        + " (`flowui aws apply` writes them)"
                        + (
                            f"; {registered}"
                            if isinstance(registered, str)
                            else "; nor has AWS Batch one registered"
                            if batch_registered is not None
                            else ""
                        ),
                    )
                )
    return problems


def platform_image_lookup(environ: Mapping[str, str]) -> ImageLookup:
    """Where the platform looks for images: the Docker engine of the docker runtime
    (`DOCKER_HOST`), the registry a cluster pulls from for kubernetes (ECR through boto3, any
    other registry through its HTTP API with FLOWUI_REGISTRY_USERNAME/PASSWORD), unless
    FLOWUI_KUBERNETES_IMAGE_CHECK is none: images on the nodes, or a registry out of reach."""
    settings = load_settings(environ=environ, read_config=False)

    def available(runtime: str, image: str) -> bool | str:
        if runtime == "docker":
            return _in_engine(image, environ.get("DOCKER_HOST", DEFAULT_DOCKER_HOST))
        if settings.FLOWUI_KUBERNETES_IMAGE_CHECK is KubernetesImageCheck.NONE:
            return True
        return _in_registry(image, settings)

    return available


DEFAULT_DOCKER_HOST: Final = "unix://var/run/docker.sock"


def _in_engine(image: str, docker_host: str) -> bool | str:
    import docker  # the docker runtime's client (Airflow's docker provider brings it)
    from docker.errors import DockerException, ImageNotFound

    try:
        client = docker.DockerClient(base_url=docker_host, timeout=10)
        try:
            client.images.get(image)
        finally:
            client.close()
    except ImageNotFound:
        return False
    except DockerException as error:
        return f"the Docker engine at {docker_host} does not answer ({error})"
    return True


def _in_registry(image: str, settings: Settings) -> bool | str:
    import base64
    import urllib.error
    import urllib.request

    reference = ImageReference.parse(image)
    host, name, tag = reference.registry, reference.repository, reference.tag_or_latest
    if host is None:
        return f"{image} names no registry: set [registry] in the repository's config.toml"
    if host == "localhost":
        return (
            f"{image} is a local image: a cluster cannot pull it (set [registry] in the "
            "repository's config.toml, or load the image onto the nodes)"
        )
    if reference.ecr is not None:
        return _in_ecr(name, tag, reference.ecr[1])
    scheme = "http" if host.startswith(("127.0.0.1", "localhost:")) else "https"
    request = urllib.request.Request(
        f"{scheme}://{host}/v2/{name}/manifests/{tag}",
        method="HEAD",
        headers={
            "Accept": "application/vnd.oci.image.index.v1+json, "
            "application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.docker.distribution.manifest.v2+json"
        },
    )
    user, secret = settings.FLOWUI_REGISTRY_USERNAME, settings.FLOWUI_REGISTRY_PASSWORD
    password = secret.get_secret_value() if secret else None
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10):
            return True
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        if error.code in (401, 403):
            return (
                f"the registry {host} refused to say (HTTP {error.code}): set "
                "FLOWUI_REGISTRY_USERNAME and FLOWUI_REGISTRY_PASSWORD"
            )
        return f"the registry {host} answered HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return f"the registry {host} does not answer ({getattr(error, 'reason', error)})"


def _in_ecr(repository: str, tag: str, region: str) -> bool | str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        boto3.client("ecr", region_name=region).describe_images(
            repositoryName=repository, imageIds=[{"imageTag": tag}]
        )
    except ClientError as error:
        if error.response["Error"]["Code"] in (
            "ImageNotFoundException",
            "RepositoryNotFoundException",
        ):
            return False
        return f"ECR refused to say ({error.response['Error']['Code']})"
    except BotoCoreError as error:
        return f"ECR does not answer ({error})"
    return True
