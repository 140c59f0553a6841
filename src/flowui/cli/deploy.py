"""`flowui deploy`: write the files that deploy the platform elsewhere (docker-compose)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from flowui.cli.output import JsonOption, console, fail, print_json
from flowui.cli.project import ProjectDirOption, SetOption, parse_set_options
from flowui.config import ConfigError, load_settings
from flowui.platform.compose import (
    COMPOSE_FILE_NAME,
    DEFAULT_AIRFLOW_PORT,
    DEFAULT_IMAGE,
    DEFAULT_SERVER_PORT,
    ENV_FILE_NAME,
    ComposeOptions,
    write_compose,
)

# A bad setting or option is a usage error: exit 2, as for a bad --set KEY=VALUE.
EXIT_BAD_CONFIGURATION = 2

app = typer.Typer(
    help="Write the files that deploy the platform: docker-compose.",
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
    image: str = typer.Option(
        DEFAULT_IMAGE, "--image", help="FlowUI platform image (FlowUI + Airflow); not built here."
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
        f"\n  image        {escape(image)} (build or pull it first)\n"
        f"  shared root  {escape(root)} (same path on the host and in every container)\n"
        f"  start        cd {escape(str(files.compose_file.parent))} && docker compose up -d\n"
        f"  FlowUI       http://127.0.0.1:{server_port}/   Airflow http://127.0.0.1:{airflow_port}/"
        f"\n  admin        password in {ENV_FILE_NAME} (FLOWUI_ADMIN_PASSWORD); "
        f"file {COMPOSE_FILE_NAME} holds no secret",
        highlight=False,
    )
