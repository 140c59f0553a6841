"""`flowui aws template | plan | apply | destroy | status`: what the platform needs on AWS, as
CloudFormation stacks made from the project's settings, the operators imported under its root
and the server's workspaces."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.markup import escape

from flowui.cli.output import JsonOption, console, err_console, fail, print_json
from flowui.cli.project import ProjectDirOption, settings_or_exit
from flowui.config import ConfigError, Settings

# A bad setting is a usage error, as for the other commands that read settings.
EXIT_BAD_CONFIGURATION = 2
HEALTH_TIMEOUT = 10

app = typer.Typer(
    help="Provision what the platform needs on AWS as CloudFormation stacks: ECR, Batch, EFS, IAM "
    "(template, plan, apply, destroy, status).",
    no_args_is_help=True,
)


def _workspaces(settings: Settings) -> dict[int, str]:
    """The server's workspaces (id: name), read without changing its database; none while the
    embedded SQLite file does not exist yet (the server creates it at its first start)."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from flowui.server.database import database_url
    from flowui.server.models import Workspace

    url = make_url(database_url(settings.FLOWUI_DATABASE_URL, settings.root))
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return {}
    # Connecting to a server that does not answer should fail soon, not hang the plan.
    timeout = {"connect_timeout": 10} if url.get_backend_name() == "postgresql" else {}
    engine = create_engine(url, connect_args=timeout)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(Workspace.id, Workspace.name)).all()
    except SQLAlchemyError as error:
        fail(
            f"cannot read the workspaces from the server's database {shown}: "
            f"{getattr(error, 'orig', None) or error}",
            hint="check FLOWUI_DATABASE_URL ([platform]) and that the database answers; "
            "`flowui server run` creates and migrates it",
        )
    finally:
        engine.dispose()
    return {int(workspace_id): str(name) for workspace_id, name in rows}


def _stacks(settings: Settings) -> tuple[list[Any], list[str], dict[int, str]]:
    """The project's stacks, the ECR repositories its operators use, and the names of the
    server's workspaces."""
    from flowui.cloud.templates import image_repositories, platform_stacks
    from flowui.workflows.catalog import CatalogError, catalog_from_root

    try:
        catalog = catalog_from_root(settings.root)
        workspaces = _workspaces(settings)
        stacks = platform_stacks(settings, catalog, workspaces)
        return stacks, image_repositories(catalog), workspaces
    except ConfigError as error:
        fail(str(error), hint=error.hint, code=EXIT_BAD_CONFIGURATION)
    except CatalogError as error:
        fail(str(error))


def _aws_failed(error: Exception) -> NoReturn:
    fail(
        str(error),
        hint="what CloudFormation finished stays as it is and a stack it could not change is "
        "rolled back: fix the cause and run the command again",
    )


def _plans_json(plans: list[Any]) -> dict[str, Any]:
    return {
        "stacks": [{"name": p.name, "action": p.action, "workspace": p.workspace} for p in plans],
        "changes": [
            {
                "action": c.action,
                "stack": c.stack,
                "logical_id": c.logical_id,
                "kind": c.resource_type,
                "name": c.name,
                "detail": c.detail,
                "workspace": c.workspace,
            }
            for p in plans
            for c in p.changes
        ],
    }


def _heading(plan: Any, workspaces: Mapping[int, str] | None) -> str:
    """A stack as people read it, with the workspace it is for (`workspaces`: the server's,
    by id; None when the database was not read)."""
    line = f"stack {plan.name} ({plan.action})"
    if plan.workspace is None:
        return line
    if workspaces is None:
        return f"{line} [workspace {plan.workspace}]"
    if plan.workspace in workspaces:
        return f"{line} [workspace {plan.workspace} {workspaces[plan.workspace]!r}]"
    return f"{line} [workspace {plan.workspace}, no longer in the server's database]"


def _print_plans(
    plans: list[Any], json_output: bool, done: bool, workspaces: Mapping[int, str] | None
) -> None:
    if json_output:
        print_json(_plans_json(plans))
        return
    if not plans:
        console.print("No changes: AWS holds what the platform needs.")
        return
    for plan in plans:
        console.print(escape(_heading(plan, workspaces)), highlight=False)
        for change in plan.changes:
            console.print("  " + escape(change.describe()), highlight=False)
    changes = [c for p in plans for c in p.changes]
    words = {"add": "create", "modify": "change", "replace": "replace", "remove": "delete"}
    counts = ", ".join(
        f"{sum(c.action == action for c in changes)} {'' if done else 'to '}{word}"
        for action, word in words.items()
    )
    console.print(counts, highlight=False)


def _ordered(plans: list[Any]) -> list[Any]:
    """Deleted workspaces' stacks first (they mount the platform's file system); then creates
    and updates as planned (repositories, the platform, whose outputs the workspaces' stacks
    take, then workspaces); then the other deletions."""
    workspaces_deleted = [p for p in plans if p.action == "delete" and p.workspace is not None]
    changed = [p for p in plans if p.action != "delete"]
    deleted = [p for p in plans if p.action == "delete" and p.workspace is None]
    return workspaces_deleted + changed + deleted


@app.command()
def template(
    project: Path | None = ProjectDirOption,
    stack: str | None = typer.Option(
        None, "--stack", help="Print only this stack's template, as CloudFormation reads it."
    ),
    output: Path | None = typer.Option(
        None, "--output", help="Write each stack's template to DIRECTORY/<stack>.json instead."
    ),
) -> None:
    """Print the CloudFormation templates `flowui aws apply` deploys (one JSON object, by
    stack name), for review or for your own pipeline. Asks AWS nothing.

    Example: [bold]flowui aws template --project ./platform --stack flowui-demo[/]
    """

    from flowui.cloud.templates import repository_stack

    settings = settings_or_exit(project, code=EXIT_BAD_CONFIGURATION)
    stacks, repositories, _ = _stacks(settings)
    every = [repository_stack(r, [settings.PROJECT_NAME]) for r in repositories] + stacks
    if stack is not None:
        chosen = [s for s in every if s.name == stack]
        if not chosen:
            fail(
                f"--stack {stack}: no such stack",
                hint="the stacks are: " + ", ".join(s.name for s in every),
                code=EXIT_BAD_CONFIGURATION,
            )
        every = chosen
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        for each in every:
            (output / f"{each.name}.json").write_text(each.body + "\n", encoding="utf-8")
        console.print(f"wrote {len(every)} templates to {escape(str(output))}", highlight=False)
    elif stack is not None:
        print(every[0].body)
    else:
        print(json.dumps({each.name: each.template for each in every}, indent=2))


@app.command()
def plan(project: Path | None = ProjectDirOption, json_output: bool = JsonOption) -> None:
    """Print what `flowui aws apply` would do, stack by stack and resource by resource:
    create (+), change (~), replace (±) and delete (-). Changes nothing: each change set it
    makes is deleted again.

    Example: [bold]flowui aws plan --project ./platform[/]
    """
    from flowui.cloud.aws import AwsError, CloudFormation

    settings = settings_or_exit(project, code=EXIT_BAD_CONFIGURATION)
    stacks, repositories, workspaces = _stacks(settings)
    cloud = CloudFormation(settings)
    try:
        plans = _ordered(cloud.plan(stacks, repositories))
        cloud.discard(plans)
    except AwsError as error:
        fail(str(error))
    _print_plans(plans, json_output, done=False, workspaces=workspaces)


@app.command()
def apply(project: Path | None = ProjectDirOption, json_output: bool = JsonOption) -> None:
    """Deploy the stacks (change sets executed and waited on), then write the variables of
    the aws_batch runtime where the platform reads them. A second apply changes nothing.

    Example: [bold]flowui aws apply --project ./platform[/]
    """
    from flowui.cloud.aws import AwsError, CloudFormation
    from flowui.cloud.templates import airflow_variables
    from flowui.storage import write_json_atomically

    settings = settings_or_exit(project, code=EXIT_BAD_CONFIGURATION)
    stacks, repositories, workspaces = _stacks(settings)
    cloud = CloudFormation(settings)

    def progress(line: str) -> None:
        if not json_output:
            err_console.print(escape(line), highlight=False)

    kept: list[str] = []
    try:
        if existing := cloud.outside_stacks(stacks):
            fail(
                "already on AWS, outside FlowUI's stacks: " + "; ".join(existing),
                hint="a bucket that `flowui aws destroy` kept holds data: empty and delete it "
                "(or set another FLOWUI_STORAGE_BUCKET); roles and buckets that FlowUI 0.1 "
                "made: delete them with that version's `flowui aws destroy` (it keeps buckets "
                "that hold data). Nothing was changed",
            )
        plans = _ordered(cloud.plan(stacks, repositories))
        for position, each in enumerate(plans):
            try:
                if each.action == "delete":  # a deleted workspace: its empty bucket goes too
                    buckets = [
                        r
                        for r in cloud.retained(each.name)
                        if r["ResourceType"] == "AWS::S3::Bucket"
                    ]
                    cloud.execute(each, progress)
                    kept += cloud.remove_retained(buckets)
                else:
                    cloud.execute(each, progress)
            except AwsError:
                cloud.discard(plans[position + 1 :])
                raise
        cloud.check_compute_environments(stacks[0])
        arns = cloud.physical_ids(stacks)
    except AwsError as error:
        _aws_failed(error)
    variables = airflow_variables(settings, stacks, arns)
    target = settings.root.cloud_environment
    write_json_atomically(target, dict(sorted(variables.items())))
    if json_output:
        print_json(
            _plans_json(plans)
            | {"environment_file": str(target), "variables": variables, "kept": kept}
        )
    else:
        _print_plans(plans, json_output=False, done=True, workspaces=workspaces)
        console.print(
            f"wrote {len(variables)} variables to {escape(str(target))}; a running platform "
            "reads them at its next `flowui up`",
            highlight=False,
        )
    if kept:
        fail("kept: " + "; ".join(kept))


@app.command()
def destroy(
    project: Path | None = ProjectDirOption,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would be deleted; delete nothing."
    ),
    yes: bool = typer.Option(False, "--yes", help="Delete without asking."),
    json_output: bool = JsonOption,
) -> None:
    """Delete the project's stacks (its workspaces' first), what they kept on purpose (the
    file system, job definition revisions, buckets once empty) and its use of the shared ECR
    repositories; nothing else.

    Example: [bold]flowui aws destroy --project ./platform --dry-run[/]
    """
    from flowui.cloud.aws import AwsError, CloudFormation

    settings = settings_or_exit(project, code=EXIT_BAD_CONFIGURATION)
    if not dry_run and not yes:
        typer.confirm(f"Delete every AWS resource of project {settings.PROJECT_NAME}?", abort=True)
    cloud = CloudFormation(settings)
    kept: list[str] = []
    try:
        plans = _ordered(cloud.plan([], []))
        if dry_run:
            cloud.discard(plans)
        else:
            for each in plans:
                retained = cloud.retained(each.name) if each.action == "delete" else []
                cloud.execute(each, lambda line: None if json_output else err_console.print(line))
                cloud.remove_retained(
                    [r for r in retained if r["ResourceType"] != "AWS::S3::Bucket"]
                )
            # Every bucket of the project: those just kept, and those an earlier destroy or a
            # deleted workspace kept while they held objects.
            kept = cloud.remove_retained(cloud.kept_buckets())
            cloud.deregister_job_definitions()
    except AwsError as error:
        _aws_failed(error)
    if not dry_run:
        settings.root.cloud_environment.unlink(missing_ok=True)
    if not plans and not json_output:
        console.print(f"No stack of project {settings.PROJECT_NAME} on AWS.")
    else:
        _print_plans(plans, json_output, done=not dry_run, workspaces=None)
    if kept:
        fail("kept: " + "; ".join(kept))


def _health(url: str) -> dict[str, Any]:
    """What FlowUI's readiness route at `url` answers, or why it could not be asked."""
    import urllib.error
    import urllib.request

    route = url.rstrip("/") + "/api/health/ready"
    try:
        with urllib.request.urlopen(route, timeout=HEALTH_TIMEOUT) as response:
            return {"url": route, "reachable": True, **json.loads(response.read())}
    except urllib.error.HTTPError as error:  # 503: not ready, and FlowUI says why
        try:
            return {"url": route, "reachable": True, **json.loads(error.read())}
        except ValueError:
            return {"url": route, "reachable": True, "status": f"HTTP {error.code}"}
    except (OSError, ValueError) as error:
        return {"url": route, "reachable": False, "status": f"not reachable: {error}"}


@app.command()
def status(
    project: Path | None = ProjectDirOption,
    url: str | None = typer.Option(
        None,
        "--url",
        help="The platform's address, for its health (default: the load balancer's, from "
        "the stack); give the name your certificate is for.",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Show the project's stacks as CloudFormation holds them, the state of Batch's compute
    environments and job queues and, in deploy mode aws, of the platform's servers: its ECS
    service and processes, database and load balancer, and what FlowUI's own health route
    answers.

    Example: [bold]flowui aws status --project ./platform[/]
    """
    from flowui.cloud.aws import AwsError, CloudFormation, refused
    from flowui.cloud.templates import platform_stack_name

    settings = settings_or_exit(project, code=EXIT_BAD_CONFIGURATION)
    cloud = CloudFormation(settings)
    try:
        deployed = cloud.deployed()
        mine = {
            name: found
            for name, found in deployed.items()
            if not name.startswith("flowui-ecr-")
            or settings.PROJECT_NAME in cloud.repository_users(name)
        }
        batch = []
        with refused("reading Batch's compute environments and queues"):
            client = cloud.client("batch")
            prefix = f"flowui-{settings.PROJECT_NAME}-"
            for kind, describe, key, name_key in (
                (
                    "compute environment",
                    client.describe_compute_environments,
                    "computeEnvironments",
                    "computeEnvironmentName",
                ),
                ("job queue", client.describe_job_queues, "jobQueues", "jobQueueName"),
            ):
                for each in describe()[key]:
                    if each[name_key].startswith(prefix):
                        batch.append(
                            {
                                "kind": kind,
                                "name": each[name_key],
                                "state": each.get("state"),
                                "status": each.get("status"),
                                "reason": each.get("statusReason") or "",
                            }
                        )
        outputs = {
            output["OutputKey"]: output["OutputValue"]
            for output in mine.get(platform_stack_name(settings), {}).get("Outputs", [])
        }
        servers = cloud.servers(outputs)
    except AwsError as error:
        fail(str(error))
    address = url or outputs.get("ServerUrl")
    health = _health(address) if servers and address else None
    stacks = [
        {
            "name": name,
            "status": found["StackStatus"],
            "reason": found.get("StackStatusReason") or "",
            "updated": str(found.get("LastUpdatedTime") or found.get("CreationTime")),
        }
        for name, found in sorted(mine.items())
    ]
    if json_output:
        print_json({"stacks": stacks, "batch": batch, "servers": servers, "health": health})
        return
    if not stacks:
        console.print(f"No stack of project {settings.PROJECT_NAME}: run `flowui aws apply`.")
        return
    for each in stacks:
        reason = f" ({each['reason']})" if each["reason"] else ""
        console.print(escape(f"stack {each['name']}: {each['status']}{reason}"), highlight=False)
    for each in batch:
        reason = f" ({each['reason']})" if each["reason"] else ""
        line = f"{each['kind']} {each['name']}: {each['status']}, {each['state']}{reason}"
        console.print(escape(line), highlight=False)
    for each in servers:
        detail = f" ({each['detail']})" if each["detail"] else ""
        line = f"{each['kind']} {each['name']}: {each['status']}{detail}"
        console.print(escape(line), highlight=False)
    if health is not None:
        answer = ", ".join(f"{key} {value}" for key, value in health.items() if key != "url")
        console.print(escape(f"FlowUI at {health['url']}: {answer}"), highlight=False)
