"""Building a repository's images: the build context of each group (the repository, its
wheels, its Dockerfile) and the engine's builds."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from flowui.operators.images.base import (
    OUTPUT_TAIL_LINES,
    ImageBuildError,
    OutputCallback,
    StatusCallback,
)
from flowui.operators.images.dockerfile import render_dockerfile
from flowui.operators.images.engine import (
    ContainerEngine,
    ImagePython,
    ensure_local_image,
    probe_python,
)
from flowui.operators.images.plan import GroupImage, ImagePlan
from flowui.operators.images.wheels import (
    download_wheels,
    flowui_requirement,
    pinned_requirements,
    pip_requirement,
    wheel_project,
)
from flowui.operators.organize import (
    COMPILED_METADATA_FILE,
    DEPENDENCIES_MAP_FILE,
    FLOWUI_DIR,
)
from flowui.operators.validate import CONFIG_FILE, DEPENDENCIES_DIR, OPERATORS_DIR

# Files of the build context get this modification time, so an engine's layer cache depends on
# their content only (1980-01-01, the earliest time a zip file can hold).
CONTEXT_MTIME = 315532800

# --- build contexts and builds ---------------------------------------------------------------


def copy_repository(repository: Path, target: Path) -> None:
    """What an image carries of the repository: config.toml, .flowui/, dependencies/ and
    operators/ (no caches, nothing hidden)."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n.startswith(".") or n == "__pycache__" or n.endswith(".pyc")}

    target.mkdir(parents=True)
    shutil.copy2(repository / CONFIG_FILE, target / CONFIG_FILE)
    (target / FLOWUI_DIR).mkdir()
    for name in (COMPILED_METADATA_FILE, DEPENDENCIES_MAP_FILE):
        shutil.copy2(repository / FLOWUI_DIR / name, target / FLOWUI_DIR / name)
    for folder in (DEPENDENCIES_DIR, OPERATORS_DIR):
        if (repository / folder).is_dir():
            shutil.copytree(repository / folder, target / folder, symlinks=True, ignore=ignore)


def fix_modification_times(directory: Path) -> None:
    """Give every file of a build context CONTEXT_MTIME (the layer cache then depends on
    content only)."""
    for path in [directory, *directory.rglob("*")]:
        os.utime(path, (CONTEXT_MTIME, CONTEXT_MTIME), follow_symlinks=False)


def stage_wheels(context: Path, wheels: Sequence[Path], pip_wheel: Path) -> None:
    """Put the wheels an offline build installs, and pip's own, into the build context (new):
    `install/wheels/` and `install/pip.whl`, which the Dockerfiles mount."""
    install = context / "install" / "wheels"
    install.mkdir(parents=True)
    for wheel in wheels:
        link_or_copy(wheel, install / wheel.name)
    link_or_copy(pip_wheel, context / "install" / "pip.whl")


def write_build_context(
    plan: ImagePlan,
    group: GroupImage,
    context: Path,
    *,
    wheels: Sequence[Path],
    pip_wheel: Path,
) -> Path:
    """Lay out the build context of `group` in `context` (new); return its Dockerfile."""
    stage_wheels(context, wheels, pip_wheel)
    flowui_wheels = [wheel for wheel in wheels if wheel_project(wheel) == "flowui"]
    other_wheels = [wheel for wheel in wheels if wheel not in flowui_wheels]
    (context / "requirements.txt").write_text(pinned_requirements(other_wheels), encoding="utf-8")
    (context / "flowui-requirement.txt").write_text(
        pinned_requirements(flowui_wheels), encoding="utf-8"
    )
    copy_repository(plan.repository, context / "repository")
    dockerfile = context / "Dockerfile"
    dockerfile.write_text(render_dockerfile(plan, group), encoding="utf-8")
    fix_modification_times(context)
    return dockerfile


def link_or_copy(source: Path, target: Path) -> None:
    """Put `source` at `target` without copying its bytes where the file system allows."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@dataclass
class GroupImageResult:
    """What became of one group: built (with the id of its image) or used as is."""

    group: str
    image: str
    kind: str
    status: Literal["built", "used_as_is"]
    image_id: str | None = None
    seconds: float = 0.0
    pushed: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "image": self.image,
            "kind": self.kind,
            "status": self.status,
            "image_id": self.image_id,
            "seconds": round(self.seconds, 2),
            "pushed": self.pushed,
            "notes": self.notes,
        }


def build_images(
    plan: ImagePlan,
    engine: ContainerEngine,
    *,
    wheel_cache: Path | None = None,
    on_status: StatusCallback | None = None,
    on_output: OutputCallback | None = None,
) -> Iterator[GroupImageResult]:
    """Build the image of every group of the plan, one after the other, and tag each as the
    dependencies map says; yield each group's result as soon as it is done.

    An image is tagged only once it is completely built: a failure leaves no tag behind (the
    engine's layer cache keeps what was done, so the next build resumes quickly).
    """

    def status(group: GroupImage, text: str) -> None:
        if on_status is not None:
            on_status(group.group, text)

    def output(group: GroupImage) -> Callable[[str], None] | None:
        return None if on_output is None else (lambda line: on_output(group.group, line))

    pythons: dict[str, ImagePython] = {}
    with tempfile.TemporaryDirectory(prefix="flowui-build-") as scratch:
        work = Path(scratch)
        requirement: str | None = None
        pip_wheels: dict[ImagePython, Path] = {}
        for group in plan.groups:
            started = time.monotonic()
            if not group.built:
                status(group, "used as is (not built)")
                yield GroupImageResult(
                    group.group,
                    group.image,
                    group.kind,
                    "used_as_is",
                    notes=["a ready-made image: it must have Python >= 3.11 with flowui installed"],
                )
                continue
            try:
                if group.dockerfile:
                    base = _build_intermediate(plan, group, engine, status, output(group))
                else:
                    base = plan.base_image
                    status(group, f"checking base image {base}")
                    ensure_local_image(engine, base, on_line=output(group))
                if base not in pythons:
                    status(group, f"asking {base} for its Python")
                    pythons[base] = probe_python(engine, base)
                python = pythons[base]
                if requirement is None:
                    status(group, "building FlowUI's wheel")
                    requirement = flowui_requirement(work, on_line=output(group))
                requirements = [requirement]
                if group.requirements_file:
                    requirements_path = plan.repository / DEPENDENCIES_DIR / group.requirements_file
                    if not requirements_path.is_file():
                        raise ImageBuildError(
                            f"{DEPENDENCIES_DIR}/{group.requirements_file} not found in "
                            f"{plan.repository}",
                            hint="create it, or run `flowui operators organize` after changing "
                            "the operators' dependency",
                        )
                    requirements += ["--requirement", str(requirements_path)]
                status(group, f"downloading wheels for {python.describe()}")
                wheels = download_wheels(
                    requirements,
                    python,
                    work / group.group / "wheels",
                    wheel_cache=wheel_cache,
                    on_line=output(group),
                )
                if python not in pip_wheels:
                    pip_wheels[python] = download_wheels(
                        [pip_requirement()],
                        python,
                        work / f"pip-{len(pip_wheels)}",
                        wheel_cache=wheel_cache,
                        no_deps=True,
                    )[0]
                context = work / group.group / "context"
                dockerfile = write_build_context(
                    plan, group, context, wheels=wheels, pip_wheel=pip_wheels[python]
                )
                status(group, "building")
                image_id = build_image(
                    engine,
                    dockerfile,
                    context,
                    work / group.group / "image-id",
                    network=False,
                    on_line=output(group),
                    failure=f"building the image of {group.group} failed",
                )
                tagged = engine.capture("tag", image_id, group.image)
                if tagged.returncode != 0:
                    raise ImageBuildError(
                        f"cannot tag the built image as {group.image}",
                        output_tail=tagged.stderr.strip().splitlines()[-OUTPUT_TAIL_LINES:],
                    )
            except ImageBuildError as error:
                error.group = error.group or group.group
                raise
            status(group, "built")
            yield GroupImageResult(
                group.group,
                group.image,
                group.kind,
                "built",
                image_id=image_id,
                seconds=time.monotonic() - started,
            )


def _build_intermediate(
    plan: ImagePlan,
    group: GroupImage,
    engine: ContainerEngine,
    status: Callable[[GroupImage, str], None],
    on_line: Callable[[str], None] | None,
) -> str:
    """Build the group's own `dependencies/Dockerfile_*` (context: the repository) and tag it
    with a local name that the generated Dockerfile builds on."""
    assert group.dockerfile is not None
    path = plan.repository / DEPENDENCIES_DIR / group.dockerfile
    if not path.is_file():
        raise ImageBuildError(
            f"{DEPENDENCIES_DIR}/{group.dockerfile} not found in {plan.repository}",
            hint=f"create it, or change the dependency of {', '.join(group.operators)}",
        )
    status(group, f"building {DEPENDENCIES_DIR}/{group.dockerfile}")
    with tempfile.TemporaryDirectory(prefix="flowui-build-") as scratch:
        image_id = build_image(
            engine,
            path,
            plan.repository,
            Path(scratch) / "image-id",
            network=True,
            on_line=on_line,
            failure=f"building {DEPENDENCIES_DIR}/{group.dockerfile} failed",
        )
    name = plan.intermediate_image(group)
    tagged = engine.capture("tag", image_id, name)
    if tagged.returncode != 0:
        raise ImageBuildError(f"cannot tag {DEPENDENCIES_DIR}/{group.dockerfile}'s image as {name}")
    return name


def build_image(
    engine: ContainerEngine,
    dockerfile: Path,
    context: Path,
    id_file: Path,
    *,
    network: bool,
    on_line: Callable[[str], None] | None,
    failure: str,
) -> str:
    """Build `dockerfile` in `context` (without network unless `network`); the image's id.
    Raises ImageBuildError, saying `failure` with the end of the output, if the build fails."""
    arguments = ["build", "--file", str(dockerfile), "--iidfile", str(id_file)]
    if not network:
        arguments += ["--network", "none"]
    built = engine.stream(*arguments, str(context), on_line=on_line)
    image_id = id_file.read_text().strip() if id_file.is_file() else ""
    if not built.ok or not image_id:
        raise ImageBuildError(
            f"{failure} ({engine.name} build exited {built.returncode}); nothing was tagged",
            hint="the end of the build's output is below",
            output_tail=built.tail,
        )
    return image_id
