"""Container images of an operators repository: one per dependency group, built with docker or
podman from generated Dockerfiles, and pushed to the repository's registry. Each module holds
one reason to change (the layout, what to build, the Dockerfile, the engine, the wheels, the
build, references and registries); this package gives their public names.

Image builds need no network: the host downloads every wheel a group needs (for the Python and
machine of the base image, asked once from the image itself) into the build context, and the
Dockerfile installs them with `pip install --no-index`. The same repository, base image and
FlowUI version always give byte-identical Dockerfiles.

What an image holds (the container runtimes rely on it):

    /opt/flowui/venv/              a virtualenv on PATH: FlowUI's task part (`flowui` without
                                   extras: `flowui-task`, the SDK, storage) and the group's
                                   requirements
    /opt/flowui/requirements.txt   what was installed, pinned, with hashes; FlowUI itself is
    /opt/flowui/flowui-requirement.txt   in the second file (installed in a layer of its own)
    /opt/flowui/repository/        config.toml, .flowui/, dependencies/ and operators/ of the
                                   repository: a TaskSpec's `operator.repository_path`
"""

from __future__ import annotations

from flowui.config import DEFAULT_BASE_IMAGE
from flowui.operators.images.base import (
    BASE_IMAGE_VARIABLE,
    ENGINE_VARIABLE,
    IMAGE_FLOWUI_HOME,
    IMAGE_FLOWUI_REQUIREMENT_PATH,
    IMAGE_REPOSITORY_PATH,
    IMAGE_REQUIREMENTS_PATH,
    IMAGE_VENV_PATH,
    INTERMEDIATE_REGISTRY,
    LABEL_PREFIX,
    MINIMUM_PYTHON,
    OUTPUT_TAIL_LINES,
    REGISTRY_PASSWORD_VARIABLE,
    REGISTRY_USERNAME_VARIABLE,
    REPOSITORY_PATH_VARIABLE,
    WHEEL_CACHE_VARIABLE,
    ImageBuildError,
    OutputCallback,
    StatusCallback,
)
from flowui.operators.images.build import (
    CONTEXT_MTIME,
    GroupImageResult,
    build_images,
    copy_repository,
    write_build_context,
)
from flowui.operators.images.dockerfile import (
    render_dockerfile,
)
from flowui.operators.images.engine import (
    ENGINES,
    PROBE_TIMEOUT_SECONDS,
    ContainerEngine,
    EngineName,
    EngineResult,
    ImagePython,
    detect_engine,
    ensure_local_image,
    probe_python,
    stream_command,
)
from flowui.operators.images.plan import (
    GroupImage,
    ImagePlan,
    check_base_image,
    flowui_version,
    organize_for_build,
    plan_images,
)
from flowui.operators.images.reference import (
    DOCKER_HUB,
    ImageReference,
    ecr_registry,
    ensure_ecr_repository_exists,
)
from flowui.operators.images.registry import (
    ImagePusher,
    RegistryCredentials,
    ecr_credentials,
    ensure_ecr_repository,
    push_images,
    registry_credentials,
)
from flowui.operators.images.wheels import (
    download_wheels,
    flowui_requirement,
    pinned_requirements,
    pip_command,
    pip_requirement,
    wheel_project,
)

__all__ = [
    "BASE_IMAGE_VARIABLE",
    "CONTEXT_MTIME",
    "DEFAULT_BASE_IMAGE",
    "DOCKER_HUB",
    "ENGINES",
    "ENGINE_VARIABLE",
    "IMAGE_FLOWUI_HOME",
    "IMAGE_FLOWUI_REQUIREMENT_PATH",
    "IMAGE_REPOSITORY_PATH",
    "IMAGE_REQUIREMENTS_PATH",
    "IMAGE_VENV_PATH",
    "INTERMEDIATE_REGISTRY",
    "LABEL_PREFIX",
    "MINIMUM_PYTHON",
    "OUTPUT_TAIL_LINES",
    "PROBE_TIMEOUT_SECONDS",
    "REGISTRY_PASSWORD_VARIABLE",
    "REGISTRY_USERNAME_VARIABLE",
    "REPOSITORY_PATH_VARIABLE",
    "WHEEL_CACHE_VARIABLE",
    "ContainerEngine",
    "EngineName",
    "EngineResult",
    "GroupImage",
    "GroupImageResult",
    "ImageBuildError",
    "ImagePlan",
    "ImagePusher",
    "ImagePython",
    "ImageReference",
    "OutputCallback",
    "RegistryCredentials",
    "StatusCallback",
    "build_images",
    "check_base_image",
    "copy_repository",
    "detect_engine",
    "download_wheels",
    "ecr_credentials",
    "ecr_registry",
    "ensure_ecr_repository",
    "ensure_ecr_repository_exists",
    "ensure_local_image",
    "flowui_requirement",
    "flowui_version",
    "organize_for_build",
    "pinned_requirements",
    "pip_command",
    "pip_requirement",
    "plan_images",
    "probe_python",
    "push_images",
    "registry_credentials",
    "render_dockerfile",
    "stream_command",
    "wheel_project",
    "write_build_context",
]
