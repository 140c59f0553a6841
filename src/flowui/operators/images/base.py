"""What every part of image building shares: the layout of an image (the container runtimes
rely on it), the names of its settings, and the one error a build or push raises."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# --- the image layout (the container runtimes import these) ------------------------------------

# Paths inside the image (POSIX paths, as strings).
IMAGE_FLOWUI_HOME = "/opt/flowui"
IMAGE_VENV_PATH = f"{IMAGE_FLOWUI_HOME}/venv"
IMAGE_REPOSITORY_PATH = f"{IMAGE_FLOWUI_HOME}/repository"
IMAGE_REQUIREMENTS_PATH = f"{IMAGE_FLOWUI_HOME}/requirements.txt"
IMAGE_FLOWUI_REQUIREMENT_PATH = f"{IMAGE_FLOWUI_HOME}/flowui-requirement.txt"
# Set in every image, so code in a container can find the repository without a TaskSpec.
REPOSITORY_PATH_VARIABLE = "FLOWUI_REPOSITORY_PATH"

# The settings of image builds (config.py; the base image's default is DEFAULT_BASE_IMAGE).
BASE_IMAGE_VARIABLE = "FLOWUI_BASE_IMAGE"
ENGINE_VARIABLE = "FLOWUI_CONTAINER_ENGINE"
WHEEL_CACHE_VARIABLE = "FLOWUI_WHEEL_CACHE"
# Credentials of a registry other than Amazon ECR.
REGISTRY_USERNAME_VARIABLE = "FLOWUI_REGISTRY_USERNAME"
REGISTRY_PASSWORD_VARIABLE = "FLOWUI_REGISTRY_PASSWORD"

MINIMUM_PYTHON = (3, 11)  # FlowUI's own requires-python
LABEL_PREFIX = "io.flowui"
INTERMEDIATE_REGISTRY = "localhost/flowui-base"
OUTPUT_TAIL_LINES = 25

StatusCallback = Callable[[str, str], None]  # (group, what is happening)
OutputCallback = Callable[[str, str], None]  # (group, a line of the engine's or pip's output)


class ImageBuildError(Exception):
    """A build or push that cannot go on; says what and where, with a hint and the tail of the
    failing command's output."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        group: str | None = None,
        output_tail: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.group = group
        self.output_tail = list(output_tail)

    def __str__(self) -> str:
        prefix = f"{self.group}: " if self.group else ""
        return prefix + self.message

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": str(self),
            "hint": self.hint,
            "group": self.group,
            "output_tail": self.output_tail,
        }
