"""The platform itself on AWS (deploy mode `aws`): the resources the platform stack adds for
FlowUI's and Airflow's servers. PostgreSQL on RDS, whose password RDS keeps in Secrets Manager;
one ECS service on Fargate whose task runs the platform image's processes side by side (FlowUI's
server and GUI, Airflow's api-server, scheduler with LocalExecutor, dag-processor and
triggerer), with the EFS root mounted at its own path over TLS and IAM; an Application Load
Balancer with HTTPS in front of the server; a CloudWatch log group per process.

One task, not a service per process: LocalExecutor runs tasks in the scheduler's container,
which reach the api-server's execution API, and Airflow allows one such scheduler. The
processes share the task's network, so each finds the others on localhost.

No bubblewrap sandbox can start on Fargate (docs/aws.md), so code from operators repositories
runs in containers of its own: tasks as Batch jobs by default, and imports inspect model files
as Batch jobs (FLOWUI_SANDBOX=aws_batch, `cloud.inspection`).

No secret is in the template. RDS generates the database's password; two generated secrets
hold the admin's password and a platform key from which each process derives the keys of
Airflow and FlowUI at its start (`_START`).
"""

from __future__ import annotations

import re
from typing import Any

from flowui.cloud.templates import policy_document, trust_policy
from flowui.config import (
    INTERNAL_TOKEN_VARIABLE,
    PROJECT_DIR_VARIABLE,
    SERVER_URL_VARIABLE,
    ConfigError,
    SandboxMode,
    Settings,
    TaskRuntime,
)
from flowui.operators.metadata import IMAGE_REFERENCE
from flowui.platform.compose import (
    AIRFLOW_DATABASE,
    DEFAULT_AIRFLOW_PORT,
    DEFAULT_SERVER_PORT,
    FLOWUI_DATABASE,
    SCHEDULER_HEALTH_PORT,
    ComposeOptions,
    airflow_settings,
    http_check,
    project_environment,
    root_folders_script,
)
from flowui.platform.environment import (
    ADMIN_USERNAME,
    AIRFLOW_PASSWORD_VARIABLE,
    AIRFLOW_URL_VARIABLE,
    AIRFLOW_USERNAME_VARIABLE,
)

DATABASE_USER = "flowui"
DATABASE_PORT = 5432
POSTGRES_VERSION = "16"
# The task's size (Fargate: 2 vCPU go with 4 to 16 GiB).
TASK_CPU = "2048"
TASK_MEMORY = "8192"
TASK_SLOTS = 8
LOG_RETENTION_DAYS = 30
ROOT_VOLUME = "flowui-root"
HEALTH_ROUTE = "/api/health/ready"
CERTIFICATE_ARN = re.compile(r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+")
VPC_ID = re.compile(r"vpc-[0-9a-f]{8,17}")
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
INIT = "airflow-init"
SERVER = "flowui-server"
# Each long-running process of the task, its command and its health check.
PROCESSES = {
    "airflow-api-server": (
        ["airflow", "api-server"],
        http_check(f"http://127.0.0.1:{DEFAULT_AIRFLOW_PORT}/api/v2/monitor/health"),
    ),
    "airflow-scheduler": (
        ["airflow", "scheduler"],
        http_check(f"http://127.0.0.1:{SCHEDULER_HEALTH_PORT}/health"),
    ),
    "airflow-dag-processor": (
        ["airflow", "dag-processor"],
        ["CMD", "airflow", "jobs", "check", "--job-type", "DagProcessorJob", "--local"],
    ),
    "airflow-triggerer": (
        ["airflow", "triggerer"],
        ["CMD", "airflow", "jobs", "check", "--job-type", "TriggererJob", "--local"],
    ),
    SERVER: (
        ["flowui", "server", "run", "--host", "0.0.0.0", "--port", str(DEFAULT_SERVER_PORT)],
        http_check(f"http://127.0.0.1:{DEFAULT_SERVER_PORT}{HEALTH_ROUTE}"),
    ),
}
CONTAINERS = (INIT, *PROCESSES)
# Keys each process derives from the platform key (HMAC-SHA256 with the key's name): one
# secret to generate and rotate, and none of them in the template.
DERIVED_KEYS = (
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "FLOWUI_SECRET_KEY",
    INTERNAL_TOKEN_VARIABLE,
)

# Every container's start: the keys and database addresses made from the secrets ECS put in
# its environment, then (`init`) the databases made and migrated, the root's folders and
# Airflow's password file written, or the command started.
_START = """\
import base64, hashlib, hmac, json, os, pathlib, subprocess, sys, time, urllib.parse
key = os.environ.pop("FLOWUI_PLATFORM_KEY").encode()
def derived(name):
    return hmac.new(key, name.encode(), hashlib.sha256).digest()
os.environ["AIRFLOW__CORE__FERNET_KEY"] = base64.urlsafe_b64encode(derived("fernet")).decode()
for name in {derived_keys!r}:
    os.environ[name] = derived(name).hex()
password = os.environ.pop("DATABASE_PASSWORD")
host = os.environ["DATABASE_HOST"]
def url(database):
    user = "{user}:" + urllib.parse.quote(password, safe="")
    return "postgresql+psycopg2://" + user + "@" + host + ":{port}/" + database + "?sslmode=require"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = url("{airflow}")
os.environ["FLOWUI_DATABASE_URL"] = url("{flowui}")
if sys.argv[1:] != ["init"]:
    os.execvp(sys.argv[1], sys.argv[1:])
import psycopg2
deadline = time.monotonic() + 600
while True:
    try:
        connection = psycopg2.connect(host=host, port={port}, user="{user}", password=password,
                                      dbname="postgres", connect_timeout=10, sslmode="require")
        break
    except psycopg2.OperationalError as error:
        if time.monotonic() > deadline:
            raise SystemExit("the database did not answer within 600 s: " + str(error))
        time.sleep(5)
connection.autocommit = True
with connection.cursor() as cursor:
    for database in ("{airflow}", "{flowui}"):
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if cursor.fetchone() is None:
            cursor.execute('CREATE DATABASE "' + database + '"')
connection.close()
{root_folders}migrate = ["airflow", "db", "migrate"]
subprocess.run(migrate, check=True, user=uid, group=gid, extra_groups=[])
"""


def _required(settings: Settings, name: str, what: str, pattern: re.Pattern[str] | None) -> str:
    value = getattr(settings, name)
    if not value:
        raise ConfigError(
            f"{name} is not set: deploy mode aws runs the platform on AWS and needs {what}",
            hint="set it in config.ini [aws] or the environment",
        )
    if pattern is not None and not pattern.fullmatch(value):
        raise ConfigError(f"{settings.where(name)}: {value!r} is not {what}")
    return str(value)


def _environment(settings: Settings, job_variables: dict[str, Any]) -> list[dict[str, Any]]:
    """What every container sees besides its secrets: the compose deployment's FlowUI and
    Airflow settings, with LocalExecutor and its processes on localhost."""
    # Neither the process runtime (its sandbox cannot start on Fargate: docs/aws.md) nor
    # docker (no engine there): tasks run as Batch jobs, or on a Kubernetes cluster if chosen.
    runtime = settings.FLOWUI_DEFAULT_RUNTIME
    if runtime not in (TaskRuntime.KUBERNETES, TaskRuntime.AWS_BATCH):
        runtime = TaskRuntime.AWS_BATCH
    airflow = {
        name: value
        for name, value in airflow_settings(settings, ComposeOptions()).items()
        if not name.startswith("AIRFLOW__CELERY__") and "${" not in value  # compose's .env
    }
    local = f"http://localhost:{DEFAULT_AIRFLOW_PORT}"
    values: dict[str, Any] = (
        project_environment(settings, "aws")
        | airflow
        | {
            "FLOWUI_DEFAULT_RUNTIME": runtime.value,
            # Imports inspect model files as Batch jobs (no sandbox here), unless the
            # administrator declared every repository source trusted.
            "FLOWUI_SANDBOX": (
                SandboxMode.NONE
                if settings.FLOWUI_SANDBOX is SandboxMode.NONE
                else SandboxMode.AWS_BATCH
            ).value,
            PROJECT_DIR_VARIABLE: str(settings.root.path),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # LocalExecutor forks its workers up front, about 130 MB each, in the task's 8 GiB.
            "AIRFLOW__CORE__PARALLELISM": str(TASK_SLOTS),
            "AIRFLOW__API__BASE_URL": local,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{local}/execution/",
            AIRFLOW_URL_VARIABLE: local,
            AIRFLOW_USERNAME_VARIABLE: ADMIN_USERNAME,
            SERVER_URL_VARIABLE: f"http://localhost:{DEFAULT_SERVER_PORT}",
            "DATABASE_HOST": {"Fn::GetAtt": ["Database", "Endpoint.Address"]},
        }
        | job_variables
    )
    # The task role gives AWS's credentials; no instance metadata or access key is needed.
    for name in ("AWS_EC2_METADATA_DISABLED", "AWS_ACCESS_KEY_ID"):
        values.pop(name, None)
    return [{"Name": name, "Value": value} for name, value in sorted(values.items())]


_DATABASE_SECRET = {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}


def _secrets() -> list[dict[str, Any]]:
    admin = {"Ref": "AdminPassword"}
    return [
        {
            "Name": "DATABASE_PASSWORD",
            # RDS's secret is JSON: its `password` key.
            "ValueFrom": {"Fn::Join": ["", [_DATABASE_SECRET, ":password::"]]},
        },
        {"Name": "FLOWUI_PLATFORM_KEY", "ValueFrom": {"Ref": "PlatformKey"}},
        {"Name": "FLOWUI_ADMIN_PASSWORD", "ValueFrom": admin},
        {"Name": AIRFLOW_PASSWORD_VARIABLE, "ValueFrom": admin},
    ]


def _container(
    settings: Settings,
    name: str,
    image: str,
    command: list[str],
    environment: list[dict[str, Any]],
    health: list[str] | None,
) -> dict[str, Any]:
    start = _START.format(
        derived_keys=DERIVED_KEYS,
        user=DATABASE_USER,
        port=DATABASE_PORT,
        airflow=AIRFLOW_DATABASE,
        flowui=FLOWUI_DATABASE,
        root_folders=root_folders_script(settings),
    )
    container: dict[str, Any] = {
        "Name": name,
        "Image": image,
        "Command": ["python", "-c", start, *command],
        # The init hands the root's folders to the platform's user, then runs as them.
        "User": "0:0"
        if name == INIT
        else f"{settings.FLOWUI_PLATFORM_UID}:{settings.FLOWUI_PLATFORM_GID}",
        "Essential": name != INIT,
        "Environment": environment,
        "Secrets": _secrets(),
        "MountPoints": [{"SourceVolume": ROOT_VOLUME, "ContainerPath": str(settings.root.path)}],
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": {
                "awslogs-group": {"Ref": _log_group(name)},
                "awslogs-region": {"Ref": "AWS::Region"},
                "awslogs-stream-prefix": "flowui",
            },
        },
    }
    if name != INIT:
        container["DependsOn"] = [{"ContainerName": INIT, "Condition": "SUCCESS"}]
    if health is not None:
        if health[:2] == ["CMD", "airflow"]:  # it reads Airflow's database: its URL first
            health = ["CMD", "python", "-c", start, *health[1:]]
        container["HealthCheck"] = {
            "Command": health,
            "Interval": 30,
            "Timeout": 10,
            "Retries": 5,
            "StartPeriod": 300,
        }
    if name == SERVER:
        container["PortMappings"] = [{"ContainerPort": DEFAULT_SERVER_PORT, "Protocol": "tcp"}]
    return container


def _log_group(container: str) -> str:
    return "Logs" + "".join(part.title() for part in container.split("-"))


def _security_group(settings: Settings, what: str, ingress: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": f"FlowUI {settings.PROJECT_NAME}: {what}",
            "VpcId": settings.FLOWUI_AWS_VPC_ID,
            "SecurityGroupIngress": ingress,
        },
    }


def server_resources(
    settings: Settings,
    *,
    subnets: list[str],
    security_groups: list[str],
    task_policy: list[dict[str, Any]],
    job_variables: dict[str, Any],
    resource_tags: list[dict[str, str]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The platform stack's resources and outputs for the servers. `subnets` and
    `security_groups`: those of Batch and the file system's mount targets (the task reaches
    them), `task_policy`: the statements of what the platform's processes may do (the file
    system, the bucket, Batch's jobs), `job_variables`: the aws_batch runtime's variables of
    the platform's job definitions. ConfigError names a missing or unusable setting."""
    vpc = _required(settings, "FLOWUI_AWS_VPC_ID", "the id of the VPC of the subnets", VPC_ID)
    public = [s.strip() for s in (settings.FLOWUI_AWS_PUBLIC_SUBNETS or "").split(",") if s.strip()]
    if len(public) < 2:
        given = f"; {settings.where('FLOWUI_AWS_PUBLIC_SUBNETS')} gives one" if public else ""
        raise ConfigError(
            "FLOWUI_AWS_PUBLIC_SUBNETS needs two or more subnet ids (comma-separated, in two "
            f"availability zones): the load balancer's, reachable from where people work{given}",
            hint="set it in config.ini [aws] or the environment",
        )
    certificate = _required(
        settings,
        "FLOWUI_AWS_CERTIFICATE_ARN",
        "the ARN of an ACM certificate for the load balancer's HTTPS",
        CERTIFICATE_ARN,
    )
    if settings.FLOWUI_PLATFORM_IMAGE is None:  # the local default is in no registry
        raise ConfigError(
            "FLOWUI_PLATFORM_IMAGE is not set: deploy mode aws needs the platform image in a "
            "registry that Fargate pulls from",
            hint="push it (`flowui deploy image`, then to ECR) and set its reference in "
            "config.ini [deploy] or the environment",
        )
    image = _required(settings, "FLOWUI_PLATFORM_IMAGE", "an image reference", IMAGE_REFERENCE)
    base = f"flowui-{settings.PROJECT_NAME}"
    environment = _environment(settings, job_variables)
    secrets = [
        {"Ref": "AdminPassword"},
        {"Ref": "PlatformKey"},
        _DATABASE_SECRET,
    ]
    tcp = {"IpProtocol": "tcp"}
    resources: dict[str, Any] = {
        "LoadBalancerSecurityGroup": _security_group(
            settings,
            "the load balancer, HTTPS (and HTTP, redirected) from anywhere",
            [tcp | {"FromPort": port, "ToPort": port, "CidrIp": "0.0.0.0/0"} for port in (443, 80)],
        ),
        "ServerSecurityGroup": _security_group(
            settings,
            "the platform's task, its server from the load balancer",
            [
                tcp
                | {
                    "FromPort": DEFAULT_SERVER_PORT,
                    "ToPort": DEFAULT_SERVER_PORT,
                    "SourceSecurityGroupId": {"Ref": "LoadBalancerSecurityGroup"},
                }
            ],
        ),
        "DatabaseSecurityGroup": _security_group(
            settings,
            "the database, from the platform's task",
            [
                tcp
                | {
                    "FromPort": DATABASE_PORT,
                    "ToPort": DATABASE_PORT,
                    "SourceSecurityGroupId": {"Ref": "ServerSecurityGroup"},
                }
            ],
        ),
        "DatabaseSubnetGroup": {
            "Type": "AWS::RDS::DBSubnetGroup",
            "Properties": {
                "DBSubnetGroupDescription": f"FlowUI {settings.PROJECT_NAME}: the database",
                "SubnetIds": subnets,
            },
        },
        # Deleting or replacing it leaves a final snapshot: the runs' history is users' data.
        "Database": {
            "Type": "AWS::RDS::DBInstance",
            "DeletionPolicy": "Snapshot",
            "UpdateReplacePolicy": "Snapshot",
            "Properties": {
                "DBInstanceIdentifier": base,
                "Engine": "postgres",
                "EngineVersion": POSTGRES_VERSION,
                "DBInstanceClass": settings.FLOWUI_AWS_DATABASE_CLASS,
                "AllocatedStorage": "20",
                "StorageType": "gp3",
                "StorageEncrypted": True,
                "MasterUsername": DATABASE_USER,
                "ManageMasterUserPassword": True,
                "Port": str(DATABASE_PORT),
                "DBSubnetGroupName": {"Ref": "DatabaseSubnetGroup"},
                "VPCSecurityGroups": [{"Ref": "DatabaseSecurityGroup"}],
                "PubliclyAccessible": False,
                "BackupRetentionPeriod": 7,
                "Tags": resource_tags,
            },
        },
        # The secrets have no name of their own: a deleted secret's name stays taken for its
        # recovery window, which would stop an apply after a destroy.
        "AdminPassword": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Description": f"FlowUI {settings.PROJECT_NAME}: the password of user "
                f"{ADMIN_USERNAME!r}",
                "GenerateSecretString": {"PasswordLength": 32, "ExcludePunctuation": True},
                "Tags": resource_tags,
            },
        },
        "PlatformKey": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Description": f"FlowUI {settings.PROJECT_NAME}: the key from which the "
                "platform derives Airflow's and FlowUI's keys",
                "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True},
                "Tags": resource_tags,
            },
        },
        "Cluster": {
            "Type": "AWS::ECS::Cluster",
            "Properties": {
                "ClusterName": base,
                "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}],
                "Tags": resource_tags,
            },
        },
        "TaskExecutionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": f"{base}-task-execution",
                "AssumeRolePolicyDocument": trust_policy("ecs-tasks.amazonaws.com"),
                "ManagedPolicyArns": [
                    "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
                ],
                # Only the platform's own secrets go into its containers.
                "Policies": [
                    {
                        "PolicyName": "flowui-secrets",
                        "PolicyDocument": policy_document(
                            [
                                {
                                    "Effect": "Allow",
                                    "Action": "secretsmanager:GetSecretValue",
                                    "Resource": secrets,
                                }
                            ]
                        ),
                    }
                ],
            },
        },
        "TaskRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": f"{base}-task",
                "AssumeRolePolicyDocument": trust_policy("ecs-tasks.amazonaws.com"),
                "Policies": [
                    {
                        "PolicyName": "flowui-platform",
                        "PolicyDocument": policy_document(task_policy),
                    }
                ],
            },
        },
        "TaskDefinition": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "Family": base,
                "RequiresCompatibilities": ["FARGATE"],
                "NetworkMode": "awsvpc",
                "Cpu": TASK_CPU,
                "Memory": TASK_MEMORY,
                "ExecutionRoleArn": {"Fn::GetAtt": ["TaskExecutionRole", "Arn"]},
                "TaskRoleArn": {"Fn::GetAtt": ["TaskRole", "Arn"]},
                # The whole root at its own path, as on every runtime (Contract 2); the file
                # system's policy admits only TLS, and IAM says who may mount and write.
                "Volumes": [
                    {
                        "Name": ROOT_VOLUME,
                        "EFSVolumeConfiguration": {
                            "FilesystemId": {"Ref": "FileSystem"},
                            "RootDirectory": "/",
                            "TransitEncryption": "ENABLED",
                            "AuthorizationConfig": {"IAM": "ENABLED"},
                        },
                    }
                ],
                "ContainerDefinitions": [
                    _container(settings, INIT, image, ["init"], environment, None),
                    *(
                        _container(settings, name, image, command, environment, health)
                        for name, (command, health) in PROCESSES.items()
                    ),
                ],
                "Tags": resource_tags,
            },
        },
        "LoadBalancer": {
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "Properties": {
                "Type": "application",
                "Scheme": "internet-facing",
                "Subnets": public,
                "SecurityGroups": [{"Ref": "LoadBalancerSecurityGroup"}],
                "Tags": resource_tags,
            },
        },
        "TargetGroup": {
            "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
            "Properties": {
                "TargetType": "ip",
                "Protocol": "HTTP",
                "Port": DEFAULT_SERVER_PORT,
                "VpcId": vpc,
                "HealthCheckPath": HEALTH_ROUTE,
                "HealthCheckIntervalSeconds": 30,
                "Tags": resource_tags,
            },
        },
        "HttpsListener": {
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": {"Ref": "LoadBalancer"},
                "Protocol": "HTTPS",
                "Port": 443,
                "SslPolicy": TLS_POLICY,
                "Certificates": [{"CertificateArn": certificate}],
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}],
            },
        },
        "HttpListener": {
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": {"Ref": "LoadBalancer"},
                "Protocol": "HTTP",
                "Port": 80,
                "DefaultActions": [
                    {
                        "Type": "redirect",
                        "RedirectConfig": {
                            "Protocol": "HTTPS",
                            "Port": "443",
                            "StatusCode": "HTTP_301",
                        },
                    }
                ],
            },
        },
        "Service": {
            "Type": "AWS::ECS::Service",
            "DependsOn": ["HttpsListener"],
            "Properties": {
                "ServiceName": base,
                "Cluster": {"Ref": "Cluster"},
                "TaskDefinition": {"Ref": "TaskDefinition"},
                "LaunchType": "FARGATE",
                "PlatformVersion": "LATEST",
                "DesiredCount": 1,
                # LocalExecutor: never two schedulers at once, also while a new task starts.
                "DeploymentConfiguration": {"MinimumHealthyPercent": 0, "MaximumPercent": 100},
                "HealthCheckGracePeriodSeconds": 600,
                "NetworkConfiguration": {
                    "AwsvpcConfiguration": {
                        "Subnets": subnets,
                        "SecurityGroups": [{"Ref": "ServerSecurityGroup"}, *security_groups],
                        "AssignPublicIp": "DISABLED",
                    }
                },
                "LoadBalancers": [
                    {
                        "ContainerName": SERVER,
                        "ContainerPort": DEFAULT_SERVER_PORT,
                        "TargetGroupArn": {"Ref": "TargetGroup"},
                    }
                ],
                "Tags": resource_tags,
            },
        },
    }
    for container in CONTAINERS:
        resources[_log_group(container)] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": f"/flowui/{settings.PROJECT_NAME}/{container}",
                "RetentionInDays": LOG_RETENTION_DAYS,
            },
        }
    outputs = {
        "ServerUrl": {"Fn::Join": ["", ["https://", {"Fn::GetAtt": ["LoadBalancer", "DNSName"]}]]},
        "ClusterName": {"Ref": "Cluster"},
        "ServiceName": {"Fn::GetAtt": ["Service", "Name"]},
        "DatabaseEndpoint": {"Fn::GetAtt": ["Database", "Endpoint.Address"]},
        "LoadBalancerArn": {"Ref": "LoadBalancer"},
        "TargetGroupArn": {"Ref": "TargetGroup"},
        "AdminPasswordSecret": {"Ref": "AdminPassword"},
    }
    return resources, outputs
