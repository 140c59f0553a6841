"""The platform's stacks on AWS CloudFormation: plan them as change sets, apply them, destroy
them. CloudFormation does the ordering, the waiting, the rollback of a failed change and the
keeping of data (`templates.KEEP`); FlowUI reads what it says and tells it resource by resource.

Stacks are found by their tags (`flowui:project`) and names, so nothing is remembered between
runs. Every call goes to boto3's endpoint (`AWS_ENDPOINT_URL` reaches moto's server in the
tests).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from flowui.cloud.templates import (
    PROJECT_TAG,
    USER_TAG_PREFIX,
    Stack,
    platform_stack_name,
    repository_stack,
    repository_stack_name,
)
from flowui.config import Settings

Action = Literal["add", "modify", "replace", "remove"]
WAIT_TIMEOUT = 600.0
# CloudFormation's own waiters, polled every few seconds for up to an hour: a stack of
# compute environments and mount targets takes minutes on AWS.
STACK_WAITER = {"Delay": 5, "MaxAttempts": 720}
REPOSITORY_STACK_PREFIX = "flowui-ecr-"
# Statuses of a stack that was never made (a change set only looked at, or a create rolled
# back): the next apply deletes it and creates it again.
NOT_MADE = {"REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED"}
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Change:
    """What CloudFormation does (or would do) to one resource of one stack."""

    action: Action
    stack: str
    logical_id: str
    resource_type: str
    name: str  # the resource's own name where the template gives one
    workspace: int | None = None  # whose stack it is (None: the platform's)
    detail: str = ""

    def describe(self) -> str:
        sign = {"add": "+", "modify": "~", "replace": "±", "remove": "-"}[self.action]
        line = f"{sign} {self.resource_type} {self.name}"
        return line + (f" ({self.detail})" if self.detail else "")


@dataclass
class StackPlan:
    """A stack's part of a plan: to create, update or delete, and its resources' changes."""

    name: str
    action: Literal["create", "update", "delete"]
    changes: list[Change]
    stack: Stack | None = None  # None when it is deleted
    workspace: int | None = None
    change_set: str | None = field(default=None, repr=False)
    # A stack left from a create that rolled back: deleted before it is made anew.
    remake: bool = False


class AwsError(Exception):
    """AWS refused a call; says which stack and resource, and why."""


class DataKept(AwsError):
    """A resource left in place because it holds users' data."""


def session(settings: Settings) -> Any:
    """A boto3 session with the project's AWS settings; what they leave unset (the endpoint,
    a profile, a role) boto3 looks up itself."""
    import boto3

    secret = settings.AWS_SECRET_ACCESS_KEY
    return boto3.Session(
        aws_access_key_id=settings.AWS_ACCESS_KEY_ID,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        region_name=settings.AWS_REGION_NAME,
    )


@contextmanager
def refused(what: str) -> Iterator[None]:
    """AWS's and boto's errors as AwsError saying what was being done."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    try:
        yield
    except (BotoCoreError, ClientError, ResponseParserError) as error:
        raise AwsError(f"{what}: {error}") from None


def _tag_map(found: Any) -> dict[str, str]:
    if isinstance(found, list):
        return {t.get("Key", t.get("key", "")): t.get("Value", t.get("value", "")) for t in found}
    return dict(found or {})


class CloudFormation:
    """The project's stacks in one account and region."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.project = settings.PROJECT_NAME
        self._session = session(settings)
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service)
        return self._clients[service]

    @property
    def cloudformation(self) -> Any:
        return self.client("cloudformation")

    # -- reading -----------------------------------------------------------------------------

    def deployed(self) -> dict[str, dict[str, Any]]:
        """The project's stacks and the ECR repositories' stacks, by name (deleted ones left
        out)."""
        found = {}
        pages = self.cloudformation.get_paginator("describe_stacks").paginate()
        for page in pages:
            for stack in page["Stacks"]:
                if stack["StackStatus"] == "DELETE_COMPLETE":
                    continue
                ours = _tag_map(stack.get("Tags")).get(PROJECT_TAG) == self.project
                if ours or stack["StackName"].startswith(REPOSITORY_STACK_PREFIX):
                    found[stack["StackName"]] = stack
        return found

    def repository_users(self, stack_name: str) -> set[str]:
        """The platforms whose `flowui:used-by:` tags are on an ECR repository's stack."""
        body = self.cloudformation.get_template(StackName=stack_name)["TemplateBody"]
        template = body if isinstance(body, dict) else json.loads(body)
        found = _tag_map(template["Resources"]["Repository"]["Properties"].get("Tags"))
        return {
            key.removeprefix(USER_TAG_PREFIX) for key in found if key.startswith(USER_TAG_PREFIX)
        }

    def parameters(self, stack: Stack) -> list[dict[str, str]]:
        """The values of a workspace stack's parameters: the platform stack's outputs."""
        if not stack.parameters:
            return []
        platform = platform_stack_name(self.settings)
        with refused(f"stack {platform}: reading its outputs"):
            found = self.cloudformation.describe_stacks(StackName=platform)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs") or []}
        missing = [name for name in stack.parameters if name not in outputs]
        if missing:
            raise AwsError(f"stack {platform} has no output {', '.join(missing)} for {stack.name}")
        return [
            {"ParameterKey": name, "ParameterValue": outputs[name]} for name in stack.parameters
        ]

    def resources(self, stack_name: str) -> list[dict[str, Any]]:
        pages = self.cloudformation.get_paginator("list_stack_resources").paginate(
            StackName=stack_name
        )
        return [summary for page in pages for summary in page["StackResourceSummaries"]]

    def outside_stacks(self, stacks: list[Stack]) -> list[str]:
        """What the stacks would create that exists already outside them: a bucket that an
        earlier `destroy` kept because it held data, or what the engine before CloudFormation
        (FlowUI 0.1) made. CloudFormation cannot adopt either here; apply would fail half-way
        on them, so it refuses before it starts."""
        from botocore.exceptions import ClientError

        deployed = self.deployed()
        found = []
        iam, s3 = self.client("iam"), self.client("s3")
        for stack in stacks:
            if stack.name in deployed:
                continue  # what the stack holds is its own
            for logical_id, resource in stack.template["Resources"].items():
                name, kind = stack.resource_name(logical_id), resource["Type"]
                if kind not in ("AWS::S3::Bucket", "AWS::IAM::Role"):
                    continue
                try:
                    if kind == "AWS::S3::Bucket":
                        s3.head_bucket(Bucket=name)
                    else:
                        iam.get_role(RoleName=name)
                except ClientError as error:
                    code = error.response.get("Error", {}).get("Code", "")
                    if code in ("404", "NoSuchBucket", "NotFound", "NoSuchEntity"):
                        continue  # not there: the stack makes it
                    raise AwsError(f"looking for {kind} {name}: {error}") from None
                found.append(f"{kind} {name}")
        return found

    # -- planning ----------------------------------------------------------------------------

    def plan(self, stacks: list[Stack], repositories: list[str]) -> list[StackPlan]:
        """What apply would do, stack by stack, with nothing executed: a stack that exists
        gets a change set (deleted again unless `apply` executes it); a new one adds each
        resource of its template; one FlowUI no longer needs is deleted."""
        deployed = self.deployed()
        wanted = {stack.name for stack in stacks}
        plans = []
        ours = {
            name
            for name in deployed
            if name.startswith(REPOSITORY_STACK_PREFIX)
            and self.project in self.repository_users(name)
        }
        for repository in repositories:
            name = repository_stack_name(repository)
            users = self.repository_users(name) if name in deployed else set()
            plans.append(
                self._plan_stack(repository_stack(repository, users | {self.project}), deployed)
            )
        for stack in stacks:
            plans.append(self._plan_stack(stack, deployed))
        for name, found in deployed.items():
            if _tag_map(found.get("Tags")).get(PROJECT_TAG) == self.project and name not in wanted:
                plans.append(self._plan_deletion(name, found))
        for name in sorted(ours - {repository_stack_name(r) for r in repositories}):
            users = self.repository_users(name) - {self.project}
            if users:  # another platform still uses it: only this one's tag goes
                kept = repository_stack(self._repository_name(name), users)
                plans.append(self._plan_stack(kept, {name: deployed[name]}))
            else:
                plans.append(self._plan_deletion(name, deployed[name]))
        return [plan for plan in plans if plan.changes]

    def _repository_name(self, stack_name: str) -> str:
        for summary in self.resources(stack_name):
            if summary["LogicalResourceId"] == "Repository":
                return str(summary["PhysicalResourceId"])
        raise AwsError(f"stack {stack_name} holds no ECR repository")

    def _plan_stack(self, stack: Stack, deployed: Mapping[str, dict[str, Any]]) -> StackPlan:
        found = deployed.get(stack.name)
        if found is None or found["StackStatus"] in NOT_MADE:
            changes = [
                Change(
                    "add",
                    stack.name,
                    logical_id,
                    resource["Type"],
                    stack.resource_name(logical_id),
                    stack.workspace,
                )
                for logical_id, resource in stack.template["Resources"].items()
            ]
            return StackPlan(
                stack.name, "create", changes, stack, stack.workspace, remake=found is not None
            )
        if self._unchanged(stack, found):  # no change set at all
            return StackPlan(stack.name, "update", [], stack, stack.workspace)
        change_set = self._change_set(stack)
        if change_set is None:
            return StackPlan(stack.name, "update", [], stack, stack.workspace)
        described = self._described_changes(stack, change_set)
        return StackPlan(stack.name, "update", described, stack, stack.workspace, change_set)

    def _unchanged(self, stack: Stack, found: Mapping[str, Any]) -> bool:
        """Whether the stack holds this template, these parameters and tags already."""
        with refused(f"stack {stack.name}: reading its template"):
            body = self.cloudformation.get_template(StackName=stack.name)["TemplateBody"]
        deployed = body if isinstance(body, dict) else json.loads(body)
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in found.get("Parameters", [])}
        wanted = {p["ParameterKey"]: p["ParameterValue"] for p in self.parameters(stack)}
        return (
            deployed == stack.template
            and parameters == wanted
            and _tag_map(found.get("Tags")) == dict(stack.tags)
        )

    def _plan_deletion(self, name: str, found: Mapping[str, Any]) -> StackPlan:
        workspace = _tag_map(found.get("Tags")).get("flowui:workspace")
        number = int(workspace) if workspace and workspace.isdigit() else None
        changes = [
            Change(
                "remove",
                name,
                summary["LogicalResourceId"],
                summary["ResourceType"],
                # An ARN's last part is the name people know (a job definition's with revision).
                (summary.get("PhysicalResourceId") or summary["LogicalResourceId"]).rsplit("/")[-1],
                number,
                "deleted once empty" if summary["ResourceType"] == "AWS::S3::Bucket" else "",
            )
            for summary in self.resources(name)
        ]
        return StackPlan(name, "delete", changes, None, number)

    def _change_set(self, stack: Stack) -> str | None:
        """A change set of `stack` (which exists) made and waited on; None when it holds no
        change (it is deleted again)."""
        from botocore.exceptions import ClientError, WaiterError

        name = f"flowui-{uuid.uuid4().hex[:12]}"
        with refused(f"stack {stack.name}: making its change set"):
            try:
                made = self.cloudformation.create_change_set(
                    StackName=stack.name,
                    ChangeSetName=name,
                    ChangeSetType="UPDATE",
                    TemplateBody=stack.body,
                    Parameters=self.parameters(stack),
                    Capabilities=["CAPABILITY_NAMED_IAM"],
                    Tags=[{"Key": k, "Value": v} for k, v in stack.tags.items()],
                )
            except ClientError as error:  # how some CloudFormation servers say "no change"
                if "No updates are to be performed" in str(error):
                    return None
                raise
            try:
                self.cloudformation.get_waiter("change_set_create_complete").wait(
                    ChangeSetName=made["Id"], WaiterConfig=STACK_WAITER
                )
            except WaiterError:
                described = self.cloudformation.describe_change_set(ChangeSetName=made["Id"])
                reason = described.get("StatusReason") or ""
                if "didn't contain changes" in reason or "No updates" in reason:
                    self.cloudformation.delete_change_set(ChangeSetName=made["Id"])
                    return None
                raise AwsError(f"stack {stack.name}: its change set failed: {reason}") from None
        return str(made["Id"])

    def _described_changes(self, stack: Stack, change_set: str) -> list[Change]:
        changes = []
        pages = self._change_set_pages(change_set)
        for page in pages:
            for each in page.get("Changes", []):
                resource = each["ResourceChange"]
                action = {"Add": "add", "Modify": "modify", "Remove": "remove"}.get(
                    resource["Action"], "modify"
                )
                detail = ""
                if action == "modify":
                    if resource.get("Replacement") in ("True", "Conditional"):
                        action = "replace"
                    names = sorted(
                        {
                            d["Target"].get("Name") or d["Target"].get("Attribute", "")
                            for d in resource.get("Details", [])
                            if d.get("Target")
                        }
                        - {""}
                    )
                    detail = ", ".join(names)
                logical_id = resource["LogicalResourceId"]
                name = (
                    stack.resource_name(logical_id)
                    if logical_id in stack.template["Resources"]
                    else resource.get("PhysicalResourceId") or logical_id
                )
                changes.append(
                    Change(
                        action,  # type: ignore[arg-type]
                        stack.name,
                        logical_id,
                        resource["ResourceType"],
                        name,
                        stack.workspace,
                        detail,
                    )
                )
        return changes

    def _change_set_pages(self, change_set: str) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            page = self.cloudformation.describe_change_set(
                ChangeSetName=change_set, **({"NextToken": token} if token else {})
            )
            yield page
            token = page.get("NextToken")
            if not token:
                return

    def discard(self, plans: list[StackPlan]) -> None:
        """Delete the change sets a plan made (a plan executes nothing)."""
        for plan in plans:
            if plan.change_set:
                with refused(f"stack {plan.name}: deleting its change set"):
                    self.cloudformation.delete_change_set(ChangeSetName=plan.change_set)

    # -- applying ----------------------------------------------------------------------------

    def execute(self, plan: StackPlan, progress: Progress) -> None:
        """Carry out one stack's plan and wait for CloudFormation to finish it; AwsError names
        the resource that failed and CloudFormation's reason (the stack is rolled back)."""
        if plan.action == "delete":
            self.delete(plan.name, progress)
            return
        stack = plan.stack
        assert stack is not None
        progress(f"{plan.action} stack {plan.name}")
        started = time.time()
        if plan.action == "create":
            if plan.remake:
                self.delete(plan.name, lambda _line: None)
            # A new stack has nothing to compare: its plan is its template, made as it is.
            self._create(stack, started)
            return
        self._execute(plan.name, str(plan.change_set), started)

    def _create(self, stack: Stack, started: float) -> None:
        from botocore.exceptions import WaiterError

        with refused(f"stack {stack.name}: CloudFormation refused it"):
            self.cloudformation.create_stack(
                StackName=stack.name,
                TemplateBody=stack.body,
                Parameters=self.parameters(stack),
                Capabilities=["CAPABILITY_NAMED_IAM"],
                Tags=[{"Key": k, "Value": v} for k, v in stack.tags.items()],
            )
            try:
                self.cloudformation.get_waiter("stack_create_complete").wait(
                    StackName=stack.name, WaiterConfig=STACK_WAITER
                )
            except WaiterError:  # rolled back: the stack's events say which resource and why
                raise AwsError(self._failure(stack.name, started)) from None

    def _execute(self, name: str, change_set: str, started: float) -> None:
        from botocore.exceptions import BotoCoreError, ClientError, WaiterError
        from botocore.parsers import ResponseParserError

        try:
            self.cloudformation.execute_change_set(ChangeSetName=change_set)
            self.cloudformation.get_waiter("stack_update_complete").wait(
                StackName=name, WaiterConfig=STACK_WAITER
            )
        except WaiterError:  # a failure state: the stack's events say which resource and why
            raise AwsError(self._failure(name, started)) from None
        except ClientError as error:
            message = error.response.get("Error", {}).get("Message") or str(error)
            raise AwsError(f"stack {name}: CloudFormation refused the change: {message}") from None
        except (BotoCoreError, ResponseParserError) as error:  # its text says why
            raise AwsError(f"stack {name}: CloudFormation refused the change: {error}") from None

    def _failure(self, name: str, started: float) -> str:
        """The first resource that failed in the stack's events since `started`, with
        CloudFormation's reason, and where the stack stands now."""
        events = []
        with refused(f"stack {name}: reading its events"):
            pages = self.cloudformation.get_paginator("describe_stack_events").paginate(
                StackName=name
            )
            for page in pages:
                events += [
                    e for e in page["StackEvents"] if e["Timestamp"].timestamp() >= started - 1
                ]
            status = self.cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        failed = [
            e
            for e in sorted(events, key=lambda e: e["Timestamp"])
            if e["ResourceStatus"].endswith("_FAILED")
            and e["LogicalResourceId"] != name
            and "cancelled" not in (e.get("ResourceStatusReason") or "")
        ]
        if not failed:
            return f"stack {name} did not complete: it is {status}"
        first = failed[0]
        return (
            f"stack {name}: {first['ResourceType']} {first['LogicalResourceId']} "
            f"{first['ResourceStatus']}: {first.get('ResourceStatusReason') or 'no reason given'}"
            f"; the stack is {status}"
        )

    def delete(self, name: str, progress: Progress) -> None:
        from botocore.exceptions import WaiterError

        progress(f"delete stack {name}")
        started = time.time()
        with refused(f"stack {name}: deleting it"):
            self.cloudformation.delete_stack(StackName=name)
            try:
                self.cloudformation.get_waiter("stack_delete_complete").wait(
                    StackName=name, WaiterConfig=STACK_WAITER
                )
            except WaiterError:
                raise AwsError(self._failure(name, started)) from None

    def physical_ids(self, stacks: list[Stack]) -> dict[tuple[str, str], str]:
        """Each resource's physical id (a job definition's: its ARN with revision), by (stack,
        logical id)."""
        with refused("reading the stacks' resources"):
            return {
                (stack.name, summary["LogicalResourceId"]): str(summary.get("PhysicalResourceId"))
                for stack in stacks
                for summary in self.resources(stack.name)
            }

    def check_compute_environments(self, stack: Stack) -> None:
        """Batch may make a compute environment INVALID after CloudFormation is done with it
        (a role or subnet it refuses): jobs would then wait forever, so apply fails instead."""
        batch = self.client("batch")
        for logical_id, resource in stack.template["Resources"].items():
            if resource["Type"] == "AWS::Batch::ComputeEnvironment":
                wait_until_valid(batch, "computeEnvironments", stack.resource_name(logical_id))

    def servers(self, outputs: Mapping[str, str]) -> list[dict[str, str]]:
        """The platform's servers (deploy mode aws) as AWS sees them, from the platform
        stack's `outputs`: its ECS service and each process of its tasks, the database, the
        load balancer and how many of its targets are healthy. None without servers."""
        if "ClusterName" not in outputs:
            return []
        cluster, service_name = outputs["ClusterName"], outputs["ServiceName"]
        found = []
        with refused("reading the platform's servers"):
            ecs = self.client("ecs")
            for service in ecs.describe_services(cluster=cluster, services=[service_name])[
                "services"
            ]:
                running, desired = service.get("runningCount", 0), service.get("desiredCount", 0)
                found.append(
                    {
                        "kind": "ECS service",
                        "name": service["serviceName"],
                        "status": service.get("status", ""),
                        "detail": f"{running} of {desired} tasks running",
                    }
                )
            tasks = ecs.list_tasks(cluster=cluster, serviceName=service_name)["taskArns"]
            for task in ecs.describe_tasks(cluster=cluster, tasks=tasks)["tasks"] if tasks else []:
                for container in task.get("containers", []):
                    found.append(
                        {
                            "kind": "process",
                            "name": container["name"],
                            "status": container.get("lastStatus", ""),
                            "detail": container.get("healthStatus", "").lower(),
                        }
                    )
            database = self.client("rds").describe_db_instances(
                DBInstanceIdentifier=platform_stack_name(self.settings)
            )["DBInstances"][0]
            found.append(
                {
                    "kind": "database",
                    "name": database["DBInstanceIdentifier"],
                    "status": database.get("DBInstanceStatus", ""),
                    "detail": f"{database.get('Engine')} {database.get('EngineVersion')} at "
                    f"{database.get('Endpoint', {}).get('Address', '?')}",
                }
            )
            elb = self.client("elbv2")
            balancer = elb.describe_load_balancers(LoadBalancerArns=[outputs["LoadBalancerArn"]])[
                "LoadBalancers"
            ][0]
            targets = elb.describe_target_health(TargetGroupArn=outputs["TargetGroupArn"])[
                "TargetHealthDescriptions"
            ]
            healthy = sum(t.get("TargetHealth", {}).get("State") == "healthy" for t in targets)
            found.append(
                {
                    "kind": "load balancer",
                    "name": balancer["DNSName"],
                    "status": balancer.get("State", {}).get("Code", ""),
                    "detail": f"{healthy} of {len(targets)} targets healthy",
                }
            )
        return found

    # -- keeping data --------------------------------------------------------------------------

    def retained(self, name: str) -> list[dict[str, Any]]:
        """The resources of a stack that CloudFormation keeps when it deletes the stack."""
        kept_types = {"AWS::S3::Bucket", "AWS::EFS::FileSystem", "AWS::Batch::JobDefinition"}
        return [s for s in self.resources(name) if s["ResourceType"] in kept_types]

    def remove_retained(self, retained: list[dict[str, Any]]) -> list[str]:
        """Delete what a deleted stack kept: an empty bucket, the file system (its mount
        targets went with the stack), job definition revisions; returns why a bucket that
        holds objects (users' data) was kept."""
        kept = []
        for summary in retained:
            physical = summary.get("PhysicalResourceId")
            if not physical:
                continue
            kind = summary["ResourceType"]
            try:
                with refused(f"{kind} {physical}"):
                    if kind == "AWS::S3::Bucket":
                        self._delete_bucket(physical)
                    elif kind == "AWS::EFS::FileSystem":
                        self.client("efs").delete_file_system(FileSystemId=physical)
            except DataKept as error:
                kept.append(str(error))
        return kept

    def kept_buckets(self) -> list[dict[str, Any]]:
        """The project's buckets that a deleted stack kept (they held objects then), as
        `retained` gives them."""
        s3 = self.client("s3")
        found = []
        with refused("reading the project's buckets"):
            for bucket in s3.list_buckets().get("Buckets", []):
                try:
                    tag_set = s3.get_bucket_tagging(Bucket=bucket["Name"])["TagSet"]
                except s3.exceptions.ClientError:
                    continue  # no tags: not FlowUI's
                if _tag_map(tag_set).get(PROJECT_TAG) == self.project:
                    found.append(
                        {"ResourceType": "AWS::S3::Bucket", "PhysicalResourceId": bucket["Name"]}
                    )
        return found

    def _delete_bucket(self, name: str) -> None:
        """Only an empty bucket: its objects are the users' data, never deleted here."""
        from botocore.exceptions import ClientError

        s3 = self.client("s3")
        try:
            if s3.list_objects_v2(Bucket=name, MaxKeys=1).get("KeyCount", 0):
                raise DataKept(
                    f"s3-bucket {name} holds objects (datasets, archived runs): empty it "
                    "yourself (aws s3 rm --recursive) to delete it; everything else is deleted"
                )
            s3.delete_bucket(Bucket=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise

    def deregister_job_definitions(self) -> list[str]:
        """Every ACTIVE job definition revision of the project, also those CloudFormation
        kept when a change replaced them (Batch keeps deregistered ones as INACTIVE)."""
        batch = self.client("batch")
        done = []
        with refused("deregistering the project's job definitions"):
            for page in batch.get_paginator("describe_job_definitions").paginate(status="ACTIVE"):
                for definition in page["jobDefinitions"]:
                    if (definition.get("tags") or {}).get(PROJECT_TAG) == self.project:
                        batch.deregister_job_definition(
                            jobDefinition=definition["jobDefinitionArn"]
                        )
                        done.append(definition["jobDefinitionArn"])
        return done


BatchKind = Literal["computeEnvironments", "jobQueues"]
# What Batch's describe operation of each kind is, and what a person calls it.
_BATCH_KINDS: dict[str, tuple[str, str]] = {
    "computeEnvironments": ("DescribeComputeEnvironments", "compute environment"),
    "jobQueues": ("DescribeJobQueues", "job queue"),
}


def wait_until_valid(batch: Any, kind: BatchKind, name: str, *, deleting: bool = False) -> None:
    """Wait with a botocore waiter (Airflow's amazon provider declares the same ones in its
    aws/waiters/batch.json): VALID is success, INVALID a failure (`deleting` it: settled as
    well), anything else not yet."""
    from botocore.exceptions import WaiterError
    from botocore.waiter import WaiterModel, create_waiter_with_client

    operation, what = _BATCH_KINDS[kind]
    status = f"{kind}[].status"
    waiter = {
        "operation": operation,
        "delay": 1,
        "maxAttempts": int(WAIT_TIMEOUT),
        "acceptors": [
            {"matcher": "pathAll", "argument": status, "expected": "VALID", "state": "success"},
            {
                "matcher": "pathAny",
                "argument": status,
                "expected": "INVALID",
                "state": "success" if deleting else "failure",
            },
        ],
    }
    model = WaiterModel({"version": 2, "waiters": {"Valid": waiter}})
    try:
        create_waiter_with_client("Valid", model, batch).wait(**{kind: [name]})
    except WaiterError as error:
        found = ((error.last_response or {}).get(kind) or [{}])[0]
        if found.get("status") == "INVALID":
            reason = found.get("statusReason") or "AWS gave no reason"
            raise AwsError(f"AWS Batch made the {what} {name} INVALID: {reason}") from None
        raise AwsError(
            f"the {what} {name} was not VALID within {WAIT_TIMEOUT:.0f} s: {found.get('status')}"
        ) from None
