"""What to build: one image per dependency group of an organized repository, tagged as its
`.flowui/dependencies_map.json` says."""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowui.config import DEFAULT_BASE_IMAGE
from flowui.operators.images.base import INTERMEDIATE_REGISTRY, ImageBuildError
from flowui.operators.inspection import DEFAULT_TIMEOUT_SECONDS
from flowui.operators.metadata import IMAGE_REFERENCE, RepositoryConfig
from flowui.operators.organize import (
    COMPILED_METADATA_FILE,
    DEPENDENCIES_MAP_FILE,
    FLOWUI_DIR,
    OrganizeResult,
    organize_repository,
)

# --- what to build ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupImage:
    """One dependency group of `.flowui/dependencies_map.json` and its image."""

    group: str
    image: str
    operators: tuple[str, ...]
    requirements_file: str | None = None
    dockerfile: str | None = None
    docker_image: str | None = None

    @property
    def built(self) -> bool:
        """Whether `flowui operators build` builds it (a `docker_image` group is used as is)."""
        return self.docker_image is None

    @property
    def kind(self) -> str:
        if self.docker_image:
            return "docker_image"
        if self.dockerfile:
            return "dockerfile"
        if self.requirements_file:
            return "requirements_file"
        return "flowui"


@dataclass(frozen=True)
class ImagePlan:
    """The images of one repository: everything the Dockerfiles are made of."""

    repository: Path
    repository_name: str
    version: str
    base_image: str
    flowui_version: str
    groups: tuple[GroupImage, ...]

    def intermediate_image(self, group: GroupImage) -> str:
        """The local tag of a group's own `Dockerfile_*` image, which its image builds on."""
        return (
            f"{INTERMEDIATE_REGISTRY}/{self.repository_name.lower()}:{self.version}-{group.group}"
        )


def flowui_version() -> str:
    try:
        return importlib.metadata.version("flowui")
    except importlib.metadata.PackageNotFoundError:  # a source tree that is not installed
        return "0.0.0"


def check_base_image(base_image: str) -> str:
    """`base_image` if it is an image reference; it is written into Dockerfiles."""
    if not IMAGE_REFERENCE.fullmatch(base_image):
        raise ImageBuildError(
            f"base image {base_image!r} is not an image reference",
            hint="give one such as python:3.11-slim or registry.example.com/team/python:3.12",
        )
    return base_image


def plan_images(
    repository: Path,
    config: RepositoryConfig,
    dependencies_map: Mapping[str, Any],
    *,
    base_image: str = DEFAULT_BASE_IMAGE,
    groups: Sequence[str] | None = None,
) -> ImagePlan:
    """The images of the groups of `dependencies_map` (all, or those named in `groups`)."""
    ordered = sorted(dependencies_map, key=_group_number)
    if groups:
        unknown = [name for name in groups if name not in dependencies_map]
        if unknown:
            raise ImageBuildError(
                f"no group {', '.join(unknown)} in {FLOWUI_DIR}/{DEPENDENCIES_MAP_FILE}",
                hint=f"the repository's groups: {', '.join(ordered) or 'none'}",
            )
        ordered = [name for name in ordered if name in groups]
    images = []
    for name in ordered:
        entry = dependencies_map[name]
        dependency = entry.get("dependency") or {}
        images.append(
            GroupImage(
                group=name,
                image=entry["source_image"],
                operators=tuple(entry.get("operators", ())),
                requirements_file=dependency.get("requirements_file"),
                dockerfile=dependency.get("dockerfile"),
                docker_image=dependency.get("docker_image"),
            )
        )
    return ImagePlan(
        repository=repository.resolve(),
        repository_name=config.name,
        version=config.version,
        base_image=check_base_image(base_image),
        flowui_version=flowui_version(),
        groups=tuple(images),
    )


def _group_number(name: str) -> tuple[int, str]:
    digits = name.removeprefix("group")
    return (int(digits), name) if digits.isdigit() else (sys.maxsize, name)


def organize_for_build(
    repository: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    on_inspecting: Callable[[int], None] | None = None,
    on_inspected: Callable[[str], None] | None = None,
) -> tuple[OrganizeResult, bool]:
    """Organize the repository (validate, then write `.flowui/`) so images are built from its
    current operators; also whether `.flowui/` was missing or out of date."""
    files = [
        repository / FLOWUI_DIR / name for name in (COMPILED_METADATA_FILE, DEPENDENCIES_MAP_FILE)
    ]
    before = [path.read_bytes() if path.is_file() else None for path in files]
    result = organize_repository(
        repository, timeout=timeout, on_inspecting=on_inspecting, on_inspected=on_inspected
    )
    changed = result.report.ok and before != [path.read_bytes() for path in files]
    return result, changed
