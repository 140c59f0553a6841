"""Deploy mode aws: `flowui aws apply` adds the platform's own servers to the platform stack
(RDS PostgreSQL, ECS on Fargate, an HTTPS load balancer, CloudWatch log groups), run as a user
runs the installed `flowui`, against moto's server. What moto cannot run (a Fargate task, RDS's
engine) is asserted as AWS's APIs describe it; the containers' start script runs here."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from flowui.cloud.servers import CONTAINERS, DERIVED_KEYS, SERVER, _container
from flowui.config import load_settings
from flowui.platform import free_port
from flowui.platform.compose import DEFAULT_SERVER_PORT
from tests.support.aws import aws_client
from tests.support.paths import FLOWUI
from tests.support.processes import answers_http, wait_until
from tests.test_cloud_aws import changes_of, flowui_aws, make_project, statements_of

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/flowui/platform:1.0"


def deploy_mode_aws(endpoint: str, **overrides: str) -> dict[str, str]:
    """The settings of deploy mode aws on moto's default VPC: its subnets (both as private
    and public ones), a certificate moto's ACM issued, and the platform image."""
    ec2, acm = aws_client(endpoint, "ec2"), aws_client(endpoint, "acm")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"][:2]]
    certificate = acm.request_certificate(DomainName="flowui.example.com")["CertificateArn"]
    return {
        "FLOWUI_DEPLOY_MODE": "aws",
        "FLOWUI_AWS_VPC_ID": vpc["VpcId"],
        "FLOWUI_AWS_PUBLIC_SUBNETS": ",".join(subnets),
        "FLOWUI_AWS_CERTIFICATE_ARN": certificate,
        "FLOWUI_PLATFORM_IMAGE": IMAGE,
    } | overrides


@pytest.fixture
def servers(tmp_path: Path, moto_server: str) -> Iterator[tuple[Path, str, dict[str, str]]]:
    """A project in deploy mode aws, applied: (project, name, the platform stack's outputs)."""
    project, name = make_project(tmp_path, moto_server, **deploy_mode_aws(moto_server))
    changes_of(flowui_aws(moto_server, project, "apply", "--json"))
    stack = aws_client(moto_server, "cloudformation").describe_stacks(StackName=f"flowui-{name}")
    yield project, name, {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0]["Outputs"]}
    flowui_aws(moto_server, project, "destroy", "--yes")


def by_name(items: list[dict[str, Any]], key: str = "name") -> dict[str, dict[str, Any]]:
    return {item[key]: item for item in items}


def test_the_database_is_postgresql_on_rds_with_its_password_only_in_secrets_manager(
    moto_server: str, servers: tuple[Path, str, dict[str, str]]
) -> None:
    project, name, outputs = servers
    rds, secrets = aws_client(moto_server, "rds"), aws_client(moto_server, "secretsmanager")
    database = rds.describe_db_instances(DBInstanceIdentifier=f"flowui-{name}")["DBInstances"][0]

    assert (database["Engine"], database["EngineVersion"]) == ("postgres", "16")
    assert database["StorageEncrypted"] and not database["PubliclyAccessible"]
    assert database["Endpoint"]["Address"] == outputs["DatabaseEndpoint"]
    password = json.loads(
        secrets.get_secret_value(SecretId=database["MasterUserSecret"]["SecretArn"])["SecretString"]
    )["password"]
    admin = secrets.get_secret_value(SecretId=outputs["AdminPasswordSecret"])["SecretString"]
    assert len(admin) == 32
    # Neither is anywhere in what was deployed or printed for review.
    body = json.dumps(
        aws_client(moto_server, "cloudformation").get_template(StackName=f"flowui-{name}")[
            "TemplateBody"
        ]
    )
    printed = flowui_aws(moto_server, project, "template").stdout
    for secret in (password, admin):
        assert secret not in body and secret not in printed
    assert '"MasterUserPassword"' not in body
    groups = [g["VpcSecurityGroupId"] for g in database["VpcSecurityGroups"]]
    ingress = aws_client(moto_server, "ec2").describe_security_groups(GroupIds=groups)[
        "SecurityGroups"
    ][0]["IpPermissions"]
    assert [(p["FromPort"], len(p["UserIdGroupPairs"]), p["IpRanges"]) for p in ingress] == [
        (5432, 1, [])  # from the platform's task only
    ]


def test_one_fargate_service_runs_every_process_with_the_root_mounted_over_tls_and_iam(
    moto_server: str, servers: tuple[Path, str, dict[str, str]]
) -> None:
    project, name, outputs = servers
    root = load_settings(project, environ={}).root.path
    ecs = aws_client(moto_server, "ecs")
    cluster = outputs["ClusterName"]
    service = ecs.describe_services(cluster=cluster, services=[outputs["ServiceName"]])["services"][
        0
    ]
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])[
        "taskDefinition"
    ]
    file_system = aws_client(moto_server, "cloudformation").describe_stack_resource(
        StackName=f"flowui-{name}", LogicalResourceId="FileSystem"
    )["StackResourceDetail"]["PhysicalResourceId"]

    assert (service["launchType"], service["desiredCount"]) == ("FARGATE", 1)
    assert service["loadBalancers"] == [
        {
            "containerName": SERVER,
            "containerPort": DEFAULT_SERVER_PORT,
            "targetGroupArn": outputs["TargetGroupArn"],
        }
    ]
    network = service["networkConfiguration"]["awsvpcConfiguration"]
    assert network["assignPublicIp"] == "DISABLED"
    assert definition["requiresCompatibilities"] == ["FARGATE"]
    assert (definition["networkMode"], definition["cpu"], definition["memory"]) == (
        "awsvpc",
        "2048",
        "8192",
    )
    assert definition["volumes"] == [
        {
            "name": "flowui-root",
            "efsVolumeConfiguration": {
                "fileSystemId": file_system,
                "rootDirectory": "/",
                "transitEncryption": "ENABLED",
                "authorizationConfig": {"iam": "ENABLED"},
            },
        }
    ]
    containers = by_name(definition["containerDefinitions"])
    assert list(containers) == list(CONTAINERS)
    logs = aws_client(moto_server, "logs")
    groups = by_name(
        logs.describe_log_groups(logGroupNamePrefix=f"/flowui/{name}/")["logGroups"], "logGroupName"
    )
    for container in containers.values():
        assert container["image"] == IMAGE
        assert container["mountPoints"] == [
            {"sourceVolume": "flowui-root", "containerPath": str(root)}
        ]
        group = container["logConfiguration"]["options"]["awslogs-group"]
        assert group == f"/flowui/{name}/{container['name']}"
        assert groups[group]["retentionInDays"] == 30
        environment = {e["name"]: e["value"] for e in container["environment"]}
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert environment["FLOWUI_DEFAULT_RUNTIME"] == "aws_batch"
        assert environment["FLOWUI_PROJECT_DIR"] == str(root)
        assert not {"FLOWUI_SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"} & set(environment)
        assert {s["name"] for s in container["secrets"]} >= {
            "DATABASE_PASSWORD",
            "FLOWUI_PLATFORM_KEY",
            "FLOWUI_ADMIN_PASSWORD",
        }
    assert not containers["airflow-init"]["essential"]
    assert containers[SERVER]["dependsOn"] == [
        {"containerName": "airflow-init", "condition": "SUCCESS"}
    ]

    actions = set()
    for statement in statements_of(moto_server, f"flowui-{name}-task", "flowui-platform"):
        each = statement["Action"]
        actions |= {each} if isinstance(each, str) else set(each)
    assert {"elasticfilesystem:ClientWrite", "batch:SubmitJob", "logs:GetLogEvents"} <= actions
    assert not any(action.startswith("secretsmanager:") for action in actions)


def test_the_load_balancer_serves_https_with_the_certificate_and_redirects_http(
    moto_server: str, servers: tuple[Path, str, dict[str, str]]
) -> None:
    project, _, outputs = servers
    elb = aws_client(moto_server, "elbv2")
    balancer = elb.describe_load_balancers(LoadBalancerArns=[outputs["LoadBalancerArn"]])[
        "LoadBalancers"
    ][0]
    listeners = by_name(
        elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"], "Port"
    )
    group = elb.describe_target_groups(TargetGroupArns=[outputs["TargetGroupArn"]])["TargetGroups"][
        0
    ]
    certificate = load_settings(project, environ={}).FLOWUI_AWS_CERTIFICATE_ARN

    assert outputs["ServerUrl"] == f"https://{balancer['DNSName']}"
    assert (balancer["Scheme"], balancer["Type"]) == ("internet-facing", "application")
    assert sorted(listeners) == [80, 443]
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["Certificates"] == [{"CertificateArn": certificate}]
    assert listeners[443]["DefaultActions"][0]["TargetGroupArn"] == group["TargetGroupArn"]
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"
    assert listeners[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert (group["TargetType"], group["Port"], group["HealthCheckPath"]) == (
        "ip",
        DEFAULT_SERVER_PORT,
        "/api/health/ready",
    )
    # A second apply finds nothing to change.
    assert changes_of(flowui_aws(moto_server, project, "plan", "--json")) == []


def test_status_shows_the_servers_and_what_flowuis_own_health_route_answers(
    moto_server: str, servers: tuple[Path, str, dict[str, str]], tmp_path: Path
) -> None:
    project, name, outputs = servers
    unreachable = flowui_aws(moto_server, project, "status", "--json")
    assert unreachable.returncode == 0, unreachable.stderr
    report = json.loads(unreachable.stdout)
    kinds = {(s["kind"], s["name"]): s for s in report["servers"]}
    assert kinds[("ECS service", f"flowui-{name}")]["detail"] == "0 of 1 tasks running"
    assert kinds[("database", f"flowui-{name}")]["status"] == "available"
    assert ("load balancer", outputs["ServerUrl"].removeprefix("https://")) in kinds
    assert report["health"]["url"] == outputs["ServerUrl"] + "/api/health/ready"
    assert not report["health"]["reachable"]

    # A FlowUI server without Airflow answers its readiness route itself: not ready, and why.
    port = free_port()
    server_project = tmp_path / "server"
    server_project.mkdir()
    server = subprocess.Popen(
        [str(FLOWUI), "server", "run", "--port", str(port)],
        env=os.environ | {"FLOWUI_PROJECT_DIR": str(server_project)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: answers_http(f"{url}/api/health/live"), 60)
        shown = flowui_aws(moto_server, project, "status", "--url", url)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert shown.returncode == 0, shown.stderr
    assert (
        f"FlowUI at {url}/api/health/ready: reachable True, status not_ready, database ok, "
        "airflow not_configured"
    ) in shown.stdout
    assert f"ECS service flowui-{name}: ACTIVE (0 of 1 tasks running)" in shown.stdout


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"FLOWUI_AWS_VPC_ID": ""}, "FLOWUI_AWS_VPC_ID is not set"),
        ({"FLOWUI_AWS_PUBLIC_SUBNETS": "subnet-1"}, "FLOWUI_AWS_PUBLIC_SUBNETS needs two or more"),
        ({"FLOWUI_AWS_CERTIFICATE_ARN": "my-cert"}, "'my-cert' is not the ARN of an ACM"),
        ({"FLOWUI_PLATFORM_IMAGE": ""}, "FLOWUI_PLATFORM_IMAGE is not set"),
    ],
)
def test_a_missing_or_unusable_setting_is_named_before_aws_is_asked(
    tmp_path: Path, moto_server: str, overrides: dict[str, str], named: str
) -> None:
    values = {k: v for k, v in deploy_mode_aws(moto_server, **overrides).items() if v}
    project, name = make_project(tmp_path, moto_server, **values)

    result = flowui_aws(moto_server, project, "plan")

    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stderr
    stacks = aws_client(moto_server, "cloudformation").describe_stacks()["Stacks"]
    assert not [s for s in stacks if s["StackName"].startswith(f"flowui-{name}")]


def test_each_process_starts_with_keys_derived_from_the_secrets_and_none_of_them_left(
    tmp_path: Path,
) -> None:
    settings = load_settings(tmp_path, {"FLOWUI_DEPLOY_MODE": "aws"}, environ={})
    command = _container(settings, SERVER, IMAGE, ["flowui", "server", "run"], [], None)["Command"]
    assert command[:2] == ["python", "-c"] and command[3:] == ["flowui", "server", "run"]
    show = "import json, os; print(json.dumps(dict(os.environ)))"
    secrets = {
        "FLOWUI_PLATFORM_KEY": "k" * 64,
        "DATABASE_PASSWORD": "p@ss/word:%",
        "DATABASE_HOST": "db.example.com",
    }

    def started(key: str) -> dict[str, str]:
        result = subprocess.run(
            [sys.executable, "-c", command[2], sys.executable, "-c", show],
            env={"PATH": os.environ["PATH"], **secrets, "FLOWUI_PLATFORM_KEY": key},
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(result.stdout)

    environment = started("k" * 64)

    assert "FLOWUI_PLATFORM_KEY" not in environment and "DATABASE_PASSWORD" not in environment
    Fernet(environment["AIRFLOW__CORE__FERNET_KEY"].encode())  # a key Airflow accepts
    assert len(base64.urlsafe_b64decode(environment["AIRFLOW__CORE__FERNET_KEY"])) == 32
    where = "flowui:p%40ss%2Fword%3A%25@db.example.com:5432"
    assert environment["FLOWUI_DATABASE_URL"] == (
        f"postgresql+psycopg2://{where}/flowui?sslmode=require"
    )
    assert environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        f"postgresql+psycopg2://{where}/airflow?sslmode=require"
    )
    keys = [environment[name] for name in DERIVED_KEYS]
    assert len(set(keys)) == len(keys)  # each its own
    assert started("k" * 64) == environment  # the same in every process
    other = started("o" * 64)
    assert all(other[name] != environment[name] for name in DERIVED_KEYS)
