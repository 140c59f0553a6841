"""`flowui deploy`: build the platform image and write the files that deploy the platform
elsewhere (docker-compose)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from flowui.cli.operators import BuildDisplay, build_failed
from flowui.cli.output import JsonOption, console, err_console, fail, print_json
from flowui.cli.project import ProjectDirOption, SetOption, parse_set_options
from flowui.config import ConfigError, ContainerEngineName, load_settings
from flowui.operators import images
from flowui.platform.compose import (
    COMPOSE_FILE_NAME,
    DEFAULT_AIRFLOW_PORT,
    DEFAULT_SERVER_PORT,
    ENV_FILE_NAME,
    ComposeOptions,
    write_compose,
)
from flowui.platform.image import (
    IMAGE_NAME,
    build_platform_image,
    default_platform_image,
    image_size,
    plan_platform_image,
    render_platform_dockerfile,
    render_system_dockerfile,
)

# A bad setting or option is a usage error: exit 2, as for a bad --set KEY=VALUE.
EXIT_BAD_CONFIGURATION = 2

app = typer.Typer(
    help="Build the platform image; write the files that deploy the platform: docker-compose.",
    no_args_is_help=True,
)


@app.command()
def compose(
    project: Path | None = ProjectDirOption,
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Directory to write docker-compose.yaml and .env into (default: the project).",
        show_default=False,
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="Celery workers (replicas); default: FLOWUI_CELERY_WORKERS.",
        show_default=False,
    ),
    image: str | None = typer.Option(
        None,
        "--image",
        help="The platform image (`flowui deploy image` builds it); default: "
        "FLOWUI_PLATFORM_IMAGE, else ghcr.io/flowui/platform:<version>.",
        show_default=False,
    ),
    airflow_port: int = typer.Option(
        DEFAULT_AIRFLOW_PORT,
        "--airflow-port",
        min=1,
        max=65535,
        help="Host port (on 127.0.0.1) of Airflow's api-server.",
    ),
    server_port: int = typer.Option(
        DEFAULT_SERVER_PORT,
        "--server-port",
        min=1,
        max=65535,
        help="Host port (on 127.0.0.1) of FlowUI's server and GUI.",
    ),
    set_values: list[str] | None = SetOption,
    json_output: bool = JsonOption,
) -> None:
    """Write docker-compose.yaml and .env: FlowUI's server, Airflow (CeleryExecutor),
    PostgreSQL and Redis, from the project's settings.

    Layers, highest first: environment, --set, config.ini, default.
    Secrets go only to .env (mode 0600): generated on the first run, kept on the next ones.

    Example: [bold]flowui deploy compose --project ./platform --workers 2 --set PROJECT_NAME=acme[/]
    """
    overrides = parse_set_options(set_values or [])
    try:
        settings = load_settings(project, overrides)
        directory = output if output is not None else settings.project_dir
        workers = workers if workers is not None else settings.FLOWUI_CELERY_WORKERS
        image = image or default_platform_image(settings)
        files = write_compose(
            settings,
            directory.absolute(),
            ComposeOptions(
                image=image, workers=workers, airflow_port=airflow_port, server_port=server_port
            ),
        )
    except ConfigError as error:
        fail(str(error), hint=error.hint, code=EXIT_BAD_CONFIGURATION)
    root = str(settings.root.path)
    if json_output:
        print_json(
            {
                "compose_file": str(files.compose_file),
                "env_file": str(files.env_file),
                "generated_secrets": list(files.generated),
                "warnings": list(files.warnings),
                "image": image,
                "workers": workers,
                "root": root,
                "server_url": f"http://127.0.0.1:{server_port}/",
                "airflow_url": f"http://127.0.0.1:{airflow_port}/",
            }
        )
        return
    console.print(f"[green]wrote[/] {escape(str(files.compose_file))}", highlight=False)
    kept = "generated " + ", ".join(files.generated) if files.generated else "all kept"
    console.print(
        f"[green]wrote[/] {escape(str(files.env_file))} (0600; secrets: {escape(kept)})",
        highlight=False,
    )
    console.print(
        f"\n  image        {escape(image)} (pull it, or build it: flowui deploy image)\n"
        f"  shared root  {escape(root)} (same path on the host and in every container)\n"
        f"  start        cd {escape(str(files.compose_file.parent))} && docker compose up -d"
        " (Podman: podman-compose up -d)\n"
        f"  FlowUI       http://127.0.0.1:{server_port}/   Airflow http://127.0.0.1:{airflow_port}/"
        f"\n  admin        password in {ENV_FILE_NAME} (FLOWUI_ADMIN_PASSWORD); "
        f"file {COMPOSE_FILE_NAME} holds no secret",
        highlight=False,
    )
    for warning in files.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


@app.command()
def image(
    project: Path | None = ProjectDirOption,
    tag: str | None = typer.Option(
        None,
        "--tag",
        "-t",
        help="The image's name (default: FLOWUI_PLATFORM_IMAGE, else "
        "ghcr.io/flowui/platform:<version>).",
        show_default=False,
    ),
    base_image: str | None = typer.Option(
        None,
        "--base-image",
        help="The image it starts from: Python >= 3.11 with venv, and apt unless it has "
        "bubblewrap and git (default: FLOWUI_BASE_IMAGE).",
        show_default=False,
    ),
    engine: ContainerEngineName | None = typer.Option(
        None,
        "--engine",
        case_sensitive=False,
        help="docker or podman (default: FLOWUI_CONTAINER_ENGINE, else docker if its engine "
        "answers, else podman).",
    ),
    push: bool = typer.Option(
        False,
        "--push",
        help="Push the image to its registry (logins as `flowui operators build --push`).",
    ),
    wheel_cache: Path | None = typer.Option(
        None,
        "--wheel-cache",
        help="Keep downloaded wheels here and use them again (default: FLOWUI_WHEEL_CACHE).",
        show_default=False,
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the two Dockerfiles (system stage, image); build nothing."
    ),
    set_values: list[str] | None = SetOption,
    json_output: bool = JsonOption,
) -> None:
    """Build FlowUI's platform image: the server with the built GUI, and Airflow 3 with the
    celery, docker, cncf-kubernetes and amazon providers, for the server, every Airflow
    component and the Celery workers (what the compose file and the Helm chart run).

    Built from this FlowUI checkout: its wheel (the GUI built by `make gui`) and the versions
    its uv.lock pins. The host downloads every wheel for the base image's Python, so only the
    system stage (apt, for bubblewrap and git) may reach the network. The image runs as
    FLOWUI_PLATFORM_UID:FLOWUI_PLATFORM_GID (default 1000:1000), never as root.

    Example: [bold]flowui deploy image --tag ghcr.io/acme/flowui-platform:0.1.0 --push[/]
    """
    overrides = parse_set_options(set_values or [])
    try:
        settings = load_settings(project, overrides)
        plan = plan_platform_image(
            settings,
            tag=tag or default_platform_image(settings),
            base_image=base_image or settings.FLOWUI_BASE_IMAGE,
        )
    except ConfigError as error:
        fail(str(error), hint=error.hint, code=EXIT_BAD_CONFIGURATION)
    except images.ImageBuildError as error:
        fail(str(error), hint=error.hint, code=EXIT_BAD_CONFIGURATION)
    if dry_run:
        dockerfiles = {
            "system": render_system_dockerfile(plan),
            "image": render_platform_dockerfile(plan),
        }
        if json_output:
            print_json({"ok": True, "image": plan.tag, "dockerfiles": dockerfiles})
            return
        for name, text in dockerfiles.items():
            console.rule(name)
            console.print(text, markup=False, highlight=False, soft_wrap=True)
        return
    chosen_engine = engine or settings.FLOWUI_CONTAINER_ENGINE
    display = None if json_output else BuildDisplay([IMAGE_NAME])
    on_status = display.status if display else None
    on_output = display.output if display else None
    try:
        chosen = images.detect_engine(chosen_engine.value if chosen_engine else None)
        live: AbstractContextManager[Any] = display or nullcontext()
        with live, images.ImagePusher(chosen, on_status=on_status, on_output=on_output) as pusher:
            if push:  # before building: wrong credentials fail in seconds
                pusher.login([(IMAGE_NAME, plan.tag)])
            result = build_platform_image(
                plan,
                chosen,
                wheel_cache=wheel_cache or settings.FLOWUI_WHEEL_CACHE,
                on_status=on_status,
                on_output=on_output,
            )
            if push:
                pusher.push(result)
    except images.ImageBuildError as error:
        build_failed(error, [], json_output)
    size = image_size(chosen, plan.tag)
    if json_output:
        print_json(
            {
                "ok": True,
                "engine": chosen.name,
                "base_image": plan.base_image,
                "user": f"{plan.uid}:{plan.gid}",
                "image": plan.tag,
                "image_id": result.image_id,
                "size_bytes": size,
                "seconds": round(result.seconds, 2),
                "pushed": result.pushed,
            }
        )
        return
    size_text = f"{size / 1e6:.0f} MB" if size else "size unknown"
    console.print(
        f"[green]built[/] {escape(plan.tag)} ({size_text}, {result.seconds:.0f} s; runs as "
        f"{plan.uid}:{plan.gid}){', pushed' if result.pushed else ''}",
        highlight=False,
    )
