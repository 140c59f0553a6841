"""The platform's AWS resources made real with boto3: read what exists, plan the difference with
what `cloud.desired` says is needed, apply it, destroy it.

AWS itself is the state: nothing is remembered between runs but the tags on what FlowUI created
(`flowui:project`), so an apply that failed half-way is completed by the next one, and destroy
removes what carries the project's tag and nothing else. Every call goes to boto3's endpoint
(`AWS_ENDPOINT_URL` reaches moto's server in the tests).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from flowui.cloud.desired import (
    ACCOUNT_ROOT,
    KINDS,
    PROJECT_TAG,
    REFERENCE,
    WORKSPACE_TAG,
    Resource,
    reference,
    split_revision_key,
    tags,
)
from flowui.config import Settings
from flowui.operators.images.reference import ensure_ecr_repository_exists

Action = Literal["create", "update", "delete"]
WAIT_TIMEOUT = 600.0
VERSION_TAG = "flowui:operator-version"  # on each job definition revision
JOB_POLICY = "flowui-job-access"  # a jobs' role's one inline policy
USER_TAG_PREFIX = "flowui:used-by:"  # on an ECR repository, one per platform that uses it
Progress = Callable[[str], None]
# Tags as AWS's services give them: a dict, or a list of Key/Value (key/value) pairs.
Tags = Mapping[str, str] | list[dict[str, str]] | None


@dataclass(frozen=True)
class Change:
    action: Action
    kind: str
    name: str
    detail: str = ""  # what differs, for an update
    workspace: int | None = None  # whose resource it is (None: the platform's)

    def describe(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        return f"{sign} {self.kind} {self.name}" + (f" ({self.detail})" if self.detail else "")


class AwsError(Exception):
    """AWS refused a call; says which resource and why."""


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


class Aws:
    """boto3 clients of one account and region, and how each kind of resource is read,
    created, changed and deleted."""

    def __init__(self, settings: Settings) -> None:
        self.session = session(settings)
        self.settings = settings
        self.tags = tags(settings)
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    def _ours(self, found: Tags) -> bool:
        return _tag_map(found).get(PROJECT_TAG) == self.settings.PROJECT_NAME

    def _tags_of(self, resource: Resource) -> dict[str, str]:
        """The project's tags, and the workspace's on what belongs to one."""
        if resource.workspace is None:
            return self.tags
        return self.tags | {WORKSPACE_TAG: str(resource.workspace)}

    def _references(self) -> dict[str, str]:
        """The reference (`desired.reference`) of each file system's and access point's ARN."""
        found = {s["arn"]: reference("efs-file-system", n) for n, s in self._efs_file_systems()}
        for name, point in self._read_efs_access_point():
            found[point["arn"]] = reference("efs-access-point", name)
        return found

    # -- reading ---------------------------------------------------------------------------

    def current(self, kind: str) -> dict[str, dict[str, Any]]:
        """The project's resources of `kind` in AWS, by name, with their managed properties
        (`arn` and `id` beside them)."""
        return dict(getattr(self, "_read_" + kind.replace("-", "_"))())

    def _read_iam_role(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each role with its inline policy, the ARNs of FlowUI's file system and access
        points in it written as their references (as `cloud.desired` writes the policy)."""
        iam = self.client("iam")
        references = self._references()
        for page in iam.get_paginator("list_roles").paginate():
            for role in page["Roles"]:
                name = role["RoleName"]
                found = iam.list_role_tags(RoleName=name)["Tags"]
                if not self._ours(found):
                    continue
                attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
                policy = None
                if JOB_POLICY in iam.list_role_policies(RoleName=name)["PolicyNames"]:
                    document = iam.get_role_policy(RoleName=name, PolicyName=JOB_POLICY)
                    written = _renamed(_policy_document(document["PolicyDocument"]), references)
                    policy = json.dumps(written, sort_keys=True)
                trust = _policy_document(role["AssumeRolePolicyDocument"])
                yield (
                    name,
                    {
                        "arn": role["Arn"],
                        "trust": json.dumps(trust, sort_keys=True),
                        "managed_policies": tuple(sorted(p["PolicyArn"] for p in attached)),
                        "policy": policy,
                        "workspace": _workspace_of(found),
                    },
                )

    def _read_iam_instance_profile(self) -> Iterator[tuple[str, dict[str, Any]]]:
        iam = self.client("iam")
        for page in iam.get_paginator("list_instance_profiles").paginate():
            for profile in page["InstanceProfiles"]:
                if not self._ours(profile.get("Tags")):
                    continue
                roles = [role["RoleName"] for role in profile["Roles"]]
                yield (
                    profile["InstanceProfileName"],
                    {
                        "arn": profile["Arn"],
                        "role": roles[0] if roles else None,
                    },
                )

    @property
    def _user_tag(self) -> str:
        """An ECR repository is the operators repository's, which platforms share: each one
        that uses it tags it, and the last one to let go deletes it."""
        return f"{USER_TAG_PREFIX}{self.settings.PROJECT_NAME}"

    def _read_ecr_repository(self) -> Iterator[tuple[str, dict[str, Any]]]:
        ecr = self.client("ecr")
        for page in ecr.get_paginator("describe_repositories").paginate():
            for repository in page["repositories"]:
                arn = repository["repositoryArn"]
                found = ecr.list_tags_for_resource(resourceArn=arn)["tags"]
                if self._user_tag not in {tag["Key"] for tag in found}:
                    continue
                scan = repository.get("imageScanningConfiguration", {}).get("scanOnPush", False)
                yield (
                    repository["repositoryName"],
                    {
                        "arn": arn,
                        "uri": repository["repositoryUri"],
                        "scan_on_push": scan,
                    },
                )

    def _read_s3_bucket(self) -> Iterator[tuple[str, dict[str, Any]]]:
        s3 = self.client("s3")
        for bucket in s3.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            try:
                found = s3.get_bucket_tagging(Bucket=name)["TagSet"]
            except s3.exceptions.ClientError:
                continue  # no tags: not FlowUI's
            if not self._ours(found):
                continue
            try:
                rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
                algorithm = rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
            except s3.exceptions.ClientError:
                algorithm = None
            try:
                block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
                blocked = all(block.get(key) for key in _PUBLIC_ACCESS_BLOCK)
            except s3.exceptions.ClientError:
                blocked = False
            yield (
                name,
                {
                    "arn": f"arn:aws:s3:::{name}",
                    "encryption": algorithm,
                    "public_access_blocked": blocked,
                    "workspace": _workspace_of(found),
                },
            )

    def _read_efs_file_system(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each file system with its policy, its own ARN and the account's written as their
        references (as `cloud.desired` writes the policy)."""
        for name, system in self._efs_file_systems():
            policy = self._file_system_policy(system["id"])
            if policy is not None:
                references = {system["arn"]: reference("efs-file-system", name)}
                references[self._account_root] = ACCOUNT_ROOT
                written = _renamed(policy, references)
                policy = json.dumps(written, sort_keys=True)
            yield name, {**system, "policy": policy}

    def _efs_file_systems(self) -> Iterator[tuple[str, dict[str, Any]]]:
        efs = self.client("efs")
        for page in efs.get_paginator("describe_file_systems").paginate():
            for system in page["FileSystems"]:
                if not self._ours(system.get("Tags")) or system["LifeCycleState"] == "deleted":
                    continue
                yield (
                    system["CreationToken"],
                    {
                        "arn": system["FileSystemArn"],
                        "id": system["FileSystemId"],
                        "encrypted": system.get("Encrypted", False),
                    },
                )

    def _file_system_policy(self, file_system_id: str) -> Any:
        """The file system's policy document, or None when it has none."""
        from botocore.exceptions import ClientError

        try:
            text = self.client("efs").describe_file_system_policy(FileSystemId=file_system_id)
        except ClientError as error:
            if error.response["Error"]["Code"] == "PolicyNotFound":
                return None
            raise
        return _policy_document(text["Policy"])

    @functools.cached_property
    def _account_root(self) -> str:
        """The ARN of the account's own principal, which the file system's policy trusts."""
        account = self.client("sts").get_caller_identity()["Account"]
        return f"arn:aws:iam::{account}:root"

    def _read_efs_access_point(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The access points on the project's file systems, by their Name tag."""
        efs = self.client("efs")
        for token, system in self._efs_file_systems():
            pages = efs.get_paginator("describe_access_points").paginate(FileSystemId=system["id"])
            for page in pages:
                for point in page["AccessPoints"]:
                    found = _tag_map(point.get("Tags"))
                    if not self._ours(found) or point.get("LifeCycleState") == "deleted":
                        continue
                    user = point.get("PosixUser", {})
                    directory = point.get("RootDirectory", {})
                    creation = directory.get("CreationInfo")
                    yield (
                        found.get("Name", point["AccessPointId"]),
                        {
                            "arn": point["AccessPointArn"],
                            "id": point["AccessPointId"],
                            "file_system": token,
                            "root_directory": directory.get("Path"),
                            "posix_user": (user.get("Uid"), user.get("Gid")),
                            "creation": (
                                creation["OwnerUid"],
                                creation["OwnerGid"],
                                creation["Permissions"],
                            )
                            if creation
                            else None,
                            "workspace": _workspace_of(found),
                        },
                    )

    def _read_efs_mount_target(self) -> Iterator[tuple[str, dict[str, Any]]]:
        efs = self.client("efs")
        for token, system in self._efs_file_systems():
            targets = efs.describe_mount_targets(FileSystemId=system["id"])["MountTargets"]
            for target in targets:
                groups = efs.describe_mount_target_security_groups(
                    MountTargetId=target["MountTargetId"]
                )["SecurityGroups"]
                yield (
                    target["SubnetId"],
                    {
                        "id": target["MountTargetId"],
                        "file_system": token,
                        "security_groups": tuple(groups),
                    },
                )

    def _read_batch_compute_environment(self) -> Iterator[tuple[str, dict[str, Any]]]:
        batch = self.client("batch")
        for page in batch.get_paginator("describe_compute_environments").paginate():
            for environment in page["computeEnvironments"]:
                if not self._ours(environment.get("tags")):
                    continue
                resources = environment.get("computeResources", {})
                yield (
                    environment["computeEnvironmentName"],
                    {
                        "arn": environment["computeEnvironmentArn"],
                        "instance_types": tuple(resources.get("instanceTypes", ())),
                        "max_vcpus": resources.get("maxvCpus"),
                        "subnets": tuple(resources.get("subnets", ())),
                        "security_groups": tuple(resources.get("securityGroupIds", ())),
                        "instance_role": _name_of(resources.get("instanceRole", "")),
                        "service_role": _name_of(environment.get("serviceRole", "")),
                    },
                )

    def _read_batch_job_queue(self) -> Iterator[tuple[str, dict[str, Any]]]:
        batch = self.client("batch")
        for page in batch.get_paginator("describe_job_queues").paginate():
            for queue in page["jobQueues"]:
                if not self._ours(queue.get("tags")) or queue.get("status") == "DELETED":
                    continue
                order = queue.get("computeEnvironmentOrder", [])
                yield (
                    queue["jobQueueName"],
                    {
                        "arn": queue["jobQueueArn"],
                        "state": queue.get("state"),
                        "compute_environment": _name_of(order[0]["computeEnvironment"])
                        if order
                        else None,
                    },
                )

    def _read_batch_job_definition(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The newest ACTIVE revision of each operator version's job definition, named
        `definition@version` (the version is the revision's tag)."""
        batch = self.client("batch")
        systems = {s["id"]: token for token, s in self._efs_file_systems()}
        points = {p["id"]: name for name, p in self._read_efs_access_point()}
        newest: dict[str, dict[str, Any]] = {}
        pages = batch.get_paginator("describe_job_definitions").paginate(status="ACTIVE")
        for page in pages:
            for definition in page["jobDefinitions"]:
                found = definition.get("tags") or {}
                if not self._ours(found):
                    continue
                name = f"{definition['jobDefinitionName']}@{found.get(VERSION_TAG, '')}"
                if definition["revision"] > newest.get(name, {}).get("revision", 0):
                    newest[name] = definition
        for name, definition in newest.items():
            container = definition.get("containerProperties", {})
            amounts = {r["type"]: r["value"] for r in container.get("resourceRequirements", [])}
            mounts = {m.get("sourceVolume"): m for m in container.get("mountPoints") or []}
            volumes, system = [], None
            for volume in container.get("volumes") or []:
                efs = volume.get("efsVolumeConfiguration") or {}
                system = system or efs.get("fileSystemId")
                point = (efs.get("authorizationConfig") or {}).get("accessPointId")
                mount = mounts.get(volume.get("name"), {})
                volumes.append(
                    (
                        volume.get("name"),
                        points.get(point, point),
                        mount.get("containerPath"),
                        bool(mount.get("readOnly", False)),
                    )
                )
            yield (
                name,
                {
                    "arn": definition["jobDefinitionArn"],
                    "revision": definition["revision"],
                    "image": container.get("image"),
                    "vcpus": float(amounts.get("VCPU", 0)),
                    "memory": int(amounts.get("MEMORY", 0)),
                    "gpu": int(amounts.get("GPU", 0)),
                    "job_role": _name_of(container.get("jobRoleArn", "")),
                    "file_system": systems.get(system, system),
                    "volumes": tuple(volumes),
                    "attempts": definition.get("retryStrategy", {}).get("attempts"),
                    "workspace": _workspace_of(definition.get("tags")),
                },
            )

    # -- creating and changing ---------------------------------------------------------------

    def put(
        self, resource: Resource, exists: bool, known: dict[tuple[str, str], dict[str, Any]]
    ) -> dict[str, Any]:
        """Create the resource (or bring an existing one to its spec); returns what `current`
        would say of it now. `known` holds what was applied before, by (kind, name)."""
        method = getattr(self, "_put_" + resource.kind.replace("-", "_"))
        result: dict[str, Any] = method(resource, exists, known)
        return result

    def _put_iam_role(self, resource: Resource, exists: bool, known: Any) -> dict[str, Any]:
        iam = self.client("iam")
        spec = resource.spec
        if exists:
            iam.update_assume_role_policy(RoleName=resource.name, PolicyDocument=spec["trust"])
            arn = iam.get_role(RoleName=resource.name)["Role"]["Arn"]
        else:
            arn = iam.create_role(
                RoleName=resource.name,
                AssumeRolePolicyDocument=spec["trust"],
                Tags=[{"Key": k, "Value": v} for k, v in self._tags_of(resource).items()],
            )["Role"]["Arn"]
        attached = {
            p["PolicyArn"]
            for p in iam.list_attached_role_policies(RoleName=resource.name)["AttachedPolicies"]
        }
        for policy in set(spec["managed_policies"]) - attached:
            iam.attach_role_policy(RoleName=resource.name, PolicyArn=policy)
        for policy in attached - set(spec["managed_policies"]):
            iam.detach_role_policy(RoleName=resource.name, PolicyArn=policy)
        if spec["policy"]:

            def arn_of(text: str) -> str:
                match = REFERENCE.fullmatch(text)
                return str(known[match.groups()]["arn"]) if match else text

            document = _replace_strings(json.loads(spec["policy"]), arn_of)
            iam.put_role_policy(
                RoleName=resource.name, PolicyName=JOB_POLICY, PolicyDocument=json.dumps(document)
            )
        elif JOB_POLICY in iam.list_role_policies(RoleName=resource.name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=resource.name, PolicyName=JOB_POLICY)
        return {"arn": arn, **spec}

    def _put_iam_instance_profile(
        self, resource: Resource, exists: bool, known: Any
    ) -> dict[str, Any]:
        iam = self.client("iam")
        if not exists:
            iam.create_instance_profile(
                InstanceProfileName=resource.name,
                Tags=[{"Key": k, "Value": v} for k, v in self.tags.items()],
            )
        profile = iam.get_instance_profile(InstanceProfileName=resource.name)["InstanceProfile"]
        roles = [role["RoleName"] for role in profile["Roles"]]
        for role in roles:
            if role != resource.spec["role"]:
                iam.remove_role_from_instance_profile(
                    InstanceProfileName=resource.name, RoleName=role
                )
        if resource.spec["role"] not in roles:
            iam.add_role_to_instance_profile(
                InstanceProfileName=resource.name, RoleName=resource.spec["role"]
            )
        return {"arn": profile["Arn"], **resource.spec}

    def _put_ecr_repository(self, resource: Resource, exists: bool, known: Any) -> dict[str, Any]:
        ecr = self.client("ecr")
        scan_on_push = resource.spec["scan_on_push"]
        use = [{"Key": self._user_tag, "Value": "uses"}]
        repository, created = ensure_ecr_repository_exists(
            ecr,
            resource.name,
            tags=[{"Key": k, "Value": v} for k, v in self.tags.items()] + use,
            scan_on_push=scan_on_push,
        )
        if not created:  # ours already, or another platform's with the same operators: use it too
            ecr.tag_resource(resourceArn=repository["repositoryArn"], tags=use)
            ecr.put_image_scanning_configuration(
                repositoryName=resource.name,
                imageScanningConfiguration={"scanOnPush": scan_on_push},
            )
        return {
            "arn": repository["repositoryArn"],
            "uri": repository["repositoryUri"],
            **resource.spec,
        }

    def _put_s3_bucket(self, resource: Resource, exists: bool, known: Any) -> dict[str, Any]:
        s3 = self.client("s3")
        if not exists:
            region = self.settings.AWS_REGION_NAME
            location = (
                {}
                if region == "us-east-1"
                else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            )
            s3.create_bucket(Bucket=resource.name, **location)
            tag_set = [{"Key": k, "Value": v} for k, v in self._tags_of(resource).items()]
            s3.put_bucket_tagging(Bucket=resource.name, Tagging={"TagSet": tag_set})
        s3.put_bucket_encryption(
            Bucket=resource.name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": resource.spec["encryption"]
                        }
                    }
                ]
            },
        )
        s3.put_public_access_block(
            Bucket=resource.name,
            PublicAccessBlockConfiguration=dict.fromkeys(_PUBLIC_ACCESS_BLOCK, True),
        )
        return {"arn": f"arn:aws:s3:::{resource.name}", **resource.spec}

    def _put_efs_file_system(self, resource: Resource, exists: bool, known: Any) -> dict[str, Any]:
        efs = self.client("efs")
        if exists:
            found = known[resource.key]  # only its policy can change
            self._put_file_system_policy(resource, found["id"], found["arn"])
            return {**found, **resource.spec}
        system = efs.create_file_system(
            CreationToken=resource.name,  # a repeated create returns the same file system
            Encrypted=resource.spec["encrypted"],
            PerformanceMode="generalPurpose",
            Tags=[{"Key": "Name", "Value": resource.name}]
            + [{"Key": k, "Value": v} for k, v in self.tags.items()],
        )
        self._wait(
            lambda: (
                efs.describe_file_systems(FileSystemId=system["FileSystemId"])["FileSystems"][0][
                    "LifeCycleState"
                ]
                == "available"
            ),
            f"EFS file system {resource.name} to become available",
        )
        self._put_file_system_policy(resource, system["FileSystemId"], system["FileSystemArn"])
        return {"arn": system["FileSystemArn"], "id": system["FileSystemId"], **resource.spec}

    def _put_file_system_policy(self, resource: Resource, system_id: str, arn: str) -> None:
        references = {
            reference("efs-file-system", resource.name): arn,
            ACCOUNT_ROOT: self._account_root,
        }
        document = _renamed(json.loads(resource.spec["policy"]), references)
        self.client("efs").put_file_system_policy(
            FileSystemId=system_id, Policy=json.dumps(document)
        )

    def _put_efs_access_point(self, resource: Resource, exists: bool, known: Any) -> dict[str, Any]:
        """A new access point; one that differs is replaced, since EFS cannot change one (the
        plan changes what uses it too)."""
        efs = self.client("efs")
        spec = resource.spec
        uid, gid = spec["posix_user"]
        owner, group, permissions = spec["creation"]
        point = efs.create_access_point(
            FileSystemId=known[("efs-file-system", spec["file_system"])]["id"],
            PosixUser={"Uid": uid, "Gid": gid},
            RootDirectory={
                "Path": spec["root_directory"],
                "CreationInfo": {
                    "OwnerUid": owner,
                    "OwnerGid": group,
                    "Permissions": permissions,
                },
            },
            Tags=[{"Key": "Name", "Value": resource.name}]
            + [{"Key": k, "Value": v} for k, v in self._tags_of(resource).items()],
        )
        self._wait(
            lambda: (
                efs.describe_access_points(AccessPointId=point["AccessPointId"])["AccessPoints"][0][
                    "LifeCycleState"
                ]
                == "available"
            ),
            f"EFS access point {resource.name} to become available",
        )
        if exists:
            efs.delete_access_point(AccessPointId=known[resource.key]["id"])
        return {"arn": point["AccessPointArn"], "id": point["AccessPointId"], **spec}

    def _put_efs_mount_target(self, resource: Resource, exists: bool, known: Any) -> dict[str, Any]:
        efs = self.client("efs")
        groups = list(resource.spec["security_groups"])
        if exists:
            target_id = known[resource.key]["id"]
            efs.modify_mount_target_security_groups(MountTargetId=target_id, SecurityGroups=groups)
        else:
            system = known[("efs-file-system", resource.spec["file_system"])]
            target_id = efs.create_mount_target(
                FileSystemId=system["id"], SubnetId=resource.name, SecurityGroups=groups
            )["MountTargetId"]
        return {"id": target_id, **resource.spec}

    def _put_batch_compute_environment(
        self, resource: Resource, exists: bool, known: Any
    ) -> dict[str, Any]:
        batch = self.client("batch")
        spec = resource.spec
        profile = known[("iam-instance-profile", spec["instance_role"])]["arn"]
        service = known[("iam-role", spec["service_role"])]["arn"]
        if exists:
            # Only these can change in place; the others need a new compute environment.
            batch.update_compute_environment(
                computeEnvironment=resource.name,
                computeResources={
                    "maxvCpus": spec["max_vcpus"],
                    "subnets": list(spec["subnets"]),
                    "securityGroupIds": list(spec["security_groups"]),
                },
                serviceRole=service,
            )
            arn = known[resource.key]["arn"]
        else:
            arn = batch.create_compute_environment(
                computeEnvironmentName=resource.name,
                type="MANAGED",
                state="ENABLED",
                computeResources={
                    "type": "EC2",
                    "minvCpus": 0,
                    "maxvCpus": spec["max_vcpus"],
                    "instanceTypes": list(spec["instance_types"]),
                    "subnets": list(spec["subnets"]),
                    "securityGroupIds": list(spec["security_groups"]),
                    "instanceRole": profile,
                },
                serviceRole=service,
                tags=self.tags,
            )["computeEnvironmentArn"]
        self._wait_valid("computeEnvironments", resource.name)
        return {"arn": arn, **spec}

    def _put_batch_job_queue(self, resource: Resource, exists: bool, known: Any) -> dict[str, Any]:
        batch = self.client("batch")
        order = [{"order": 1, "computeEnvironment": resource.spec["compute_environment"]}]
        if exists:
            batch.update_job_queue(
                jobQueue=resource.name, state="ENABLED", computeEnvironmentOrder=order
            )
            arn = known[resource.key]["arn"]
        else:
            arn = batch.create_job_queue(
                jobQueueName=resource.name,
                state="ENABLED",
                priority=1,
                computeEnvironmentOrder=order,
                tags=self.tags,
            )["jobQueueArn"]
        self._wait_valid("jobQueues", resource.name)
        return {"arn": arn, "state": "ENABLED", **resource.spec}

    def _put_batch_job_definition(
        self, resource: Resource, exists: bool, known: Any
    ) -> dict[str, Any]:
        """A new revision: a job definition never changes, its next revision does."""
        spec = resource.spec
        system = known[("efs-file-system", spec["file_system"])]["id"]
        requirements = [
            {"type": "VCPU", "value": f"{spec['vcpus']:g}"},
            {"type": "MEMORY", "value": str(spec["memory"])},
        ]
        if spec["gpu"]:
            requirements.append({"type": "GPU", "value": str(spec["gpu"])})
        volumes, mounts = [], []
        for volume, point, path, read_only in spec["volumes"]:
            # IAM authorization: the job role's policy says what the job may mount and write.
            authorization = {"iam": "ENABLED"}
            if point is not None:
                authorization["accessPointId"] = known[("efs-access-point", point)]["id"]
            volumes.append(
                {
                    "name": volume,
                    "efsVolumeConfiguration": {
                        "fileSystemId": system,
                        "rootDirectory": "/",  # an access point's own root when it has one
                        "transitEncryption": "ENABLED",
                        "authorizationConfig": authorization,
                    },
                }
            )
            mount = {"sourceVolume": volume, "containerPath": path}
            mounts.append(mount | {"readOnly": True} if read_only else mount)
        name, version = split_revision_key(resource.name)
        definition = self.client("batch").register_job_definition(
            jobDefinitionName=name,
            type="container",
            containerProperties={
                "image": spec["image"],
                "command": ["flowui-task", "--help"],  # each job gives its own
                "jobRoleArn": known[("iam-role", spec["job_role"])]["arn"],
                "resourceRequirements": requirements,
                "volumes": volumes,
                "mountPoints": mounts,
            },
            retryStrategy={"attempts": spec["attempts"]},
            tags=self._tags_of(resource) | {VERSION_TAG: version},
        )
        return {"arn": definition["jobDefinitionArn"], "revision": definition["revision"], **spec}

    # -- deleting ----------------------------------------------------------------------------

    def delete(self, kind: str, name: str, current: dict[str, Any]) -> None:
        getattr(self, "_delete_" + kind.replace("-", "_"))(name, current)

    def _delete_iam_role(self, name: str, current: dict[str, Any]) -> None:
        iam = self.client("iam")
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        iam.delete_role(RoleName=name)

    def _delete_iam_instance_profile(self, name: str, current: dict[str, Any]) -> None:
        iam = self.client("iam")
        profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        for role in profile["Roles"]:
            iam.remove_role_from_instance_profile(
                InstanceProfileName=name, RoleName=role["RoleName"]
            )
        iam.delete_instance_profile(InstanceProfileName=name)

    def _delete_ecr_repository(self, name: str, current: dict[str, Any]) -> None:
        """Let go of it; delete it (with its images) when no other platform uses it."""
        ecr = self.client("ecr")
        arn = current["arn"]
        found = {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=arn)["tags"]}
        others = [key for key in found if key.startswith(USER_TAG_PREFIX) and key != self._user_tag]
        if others:
            mine = [self._user_tag]
            if found.get(PROJECT_TAG) == self.settings.PROJECT_NAME:
                mine.append(PROJECT_TAG)
            ecr.untag_resource(resourceArn=arn, tagKeys=mine)
        else:
            ecr.delete_repository(repositoryName=name, force=True)

    def _delete_s3_bucket(self, name: str, current: dict[str, Any]) -> None:
        """Only an empty bucket: its objects are the users' data, never deleted here."""
        s3 = self.client("s3")
        if s3.list_objects_v2(Bucket=name, MaxKeys=1).get("KeyCount", 0):
            raise DataKept(
                f"s3-bucket {name} holds objects (datasets, archived runs): empty it yourself "
                "(aws s3 rm --recursive) to delete it; everything else is deleted"
            )
        s3.delete_bucket(Bucket=name)

    def _delete_efs_file_system(self, name: str, current: dict[str, Any]) -> None:
        self.client("efs").delete_file_system(FileSystemId=current["id"])

    def _delete_efs_access_point(self, name: str, current: dict[str, Any]) -> None:
        self.client("efs").delete_access_point(AccessPointId=current["id"])

    def _delete_efs_mount_target(self, name: str, current: dict[str, Any]) -> None:
        efs = self.client("efs")
        efs.delete_mount_target(MountTargetId=current["id"])

        def gone() -> bool:
            targets = efs.describe_mount_targets(FileSystemId=self._file_system_id(current))
            return all(t["MountTargetId"] != current["id"] for t in targets["MountTargets"])

        self._wait(gone, f"EFS mount target in {name} to be deleted")

    def _file_system_id(self, target: dict[str, Any]) -> str:
        systems = self.current("efs-file-system")
        return str(systems[target["file_system"]]["id"])

    def _delete_batch_job_queue(self, name: str, current: dict[str, Any]) -> None:
        batch = self.client("batch")
        batch.update_job_queue(jobQueue=name, state="DISABLED")
        self._wait_valid("jobQueues", name, deleting=True)
        batch.delete_job_queue(jobQueue=name)

    def _delete_batch_compute_environment(self, name: str, current: dict[str, Any]) -> None:
        batch = self.client("batch")
        batch.update_compute_environment(computeEnvironment=name, state="DISABLED")
        self._wait_valid("computeEnvironments", name, deleting=True)
        batch.delete_compute_environment(computeEnvironment=name)

    def _delete_batch_job_definition(self, name: str, current: dict[str, Any]) -> None:
        """Every ACTIVE revision of the operator version: Batch keeps deregistered ones as
        INACTIVE, never reused."""
        batch = self.client("batch")
        definition_name, version = split_revision_key(name)
        pages = batch.get_paginator("describe_job_definitions").paginate(
            jobDefinitionName=definition_name, status="ACTIVE"
        )
        for page in pages:
            for definition in page["jobDefinitions"]:
                found = definition.get("tags") or {}
                if self._ours(found) and found.get(VERSION_TAG, "") == version:
                    batch.deregister_job_definition(jobDefinition=definition["jobDefinitionArn"])

    # -- waiting -----------------------------------------------------------------------------

    def _wait_valid(self, kind: BatchKind, name: str, *, deleting: bool = False) -> None:
        """Until Batch makes the compute environment or queue `name` VALID; AwsError with AWS's
        reason if it is INVALID, which jobs would wait on forever (unless it is being deleted)."""
        wait_until_valid(self.client("batch"), kind, name, deleting=deleting)

    @staticmethod
    def _wait(condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_TIMEOUT
        while not condition():
            if time.monotonic() > deadline:
                raise AwsError(f"waited {WAIT_TIMEOUT:.0f} s for {what}")
            time.sleep(1.0)


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


_PUBLIC_ACCESS_BLOCK = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)


def _policy_document(document: Any) -> dict[str, Any]:
    """IAM returns a policy document as a dict or as URL-encoded JSON text."""
    if isinstance(document, dict):
        return document
    from urllib.parse import unquote

    parsed: dict[str, Any] = json.loads(unquote(document))
    return parsed


def _name_of(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _tag_map(found: Tags) -> dict[str, str]:
    if isinstance(found, list):
        return {t.get("Key", t.get("key", "")): t.get("Value", t.get("value", "")) for t in found}
    return dict(found or {})


def _workspace_of(found: Tags) -> int | None:
    """The workspace whose resource carries these tags; None: the platform's."""
    value = _tag_map(found).get(WORKSPACE_TAG, "")
    return int(value) if value.isascii() and value.isdigit() else None


def _renamed(document: Any, names: Mapping[str, str]) -> Any:
    """A policy document with each text value that `names` has replaced by its new name."""
    return _replace_strings(document, lambda text: names.get(text, text))


def _replace_strings(document: Any, replace: Callable[[str], str]) -> Any:
    """A policy document with each of its text values passed through `replace`."""
    if isinstance(document, dict):
        return {key: _replace_strings(value, replace) for key, value in document.items()}
    if isinstance(document, list):
        return [_replace_strings(value, replace) for value in document]
    return replace(document) if isinstance(document, str) else document


# --- plan, apply, destroy -----------------------------------------------------------------


def _differences(wanted: Mapping[str, Any], found: Mapping[str, Any]) -> list[str]:
    return [name for name, value in wanted.items() if _normal(found.get(name)) != _normal(value)]


def _normal(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_normal(v) for v in value)
    if isinstance(value, str) and value.startswith("{"):
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    return value


def read_state(aws: Aws) -> dict[tuple[str, str], dict[str, Any]]:
    """Everything of the project in AWS now, by (kind, name); AwsError when AWS refuses."""
    with _refused("reading the project's resources"):
        return {(kind, name): found for kind in KINDS for name, found in aws.current(kind).items()}


@contextmanager
def _refused(what: str) -> Iterator[None]:
    """AWS's and boto's errors as AwsError saying what was being done."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as error:
        raise AwsError(f"{what}: {error}") from None


def plan(
    resources: list[Resource], state: Mapping[tuple[str, str], dict[str, Any]]
) -> list[Change]:
    """What apply would do: create what is missing, change what differs (and what uses an
    access point that is replaced), delete what FlowUI created and no longer needs (never a
    job definition: workflows pinned to an older operator version still run on it; destroy
    removes those)."""
    changes: list[Change] = []
    wanted = {resource.key for resource in resources}
    replaced = {
        resource.name
        for resource in resources
        if resource.kind == "efs-access-point"
        and resource.key in state
        and _differences(resource.spec, state[resource.key])
    }
    for resource in resources:
        found = state.get(resource.key)
        stale = [name for name in resource.access_points if name in replaced]
        action: Action
        if found is None:
            action, detail = "create", ""
        elif differing := _differences(resource.spec, found):
            action, detail = "update", ", ".join(differing)
        elif stale:
            action, detail = "update", f"access point {', '.join(stale)} replaced"
        else:
            continue
        changes.append(Change(action, resource.kind, resource.name, detail, resource.workspace))
    for key in sorted(state, key=lambda key: -KINDS.index(key[0])):
        kind, name = key
        if key not in wanted and kind != "batch-job-definition":
            changes.append(Change("delete", kind, name, workspace=state[key].get("workspace")))
    return changes


def apply(
    aws: Aws, resources: list[Resource], progress: Progress | None = None
) -> tuple[list[Change], dict[tuple[str, str], dict[str, Any]], list[str]]:
    """Bring AWS to `resources`; returns the changes made, the state after them and why a
    resource no longer needed was kept (a bucket that holds objects, say of a workspace that
    was deleted).

    Each step is a call AWS completes on its own: a failure stops here with AwsError, and the
    next apply reads what exists and does only what is left."""
    say = progress or (lambda _line: None)
    state = read_state(aws)
    by_key = {resource.key: resource for resource in resources}
    done, kept = [], []
    for change in plan(resources, state):
        say(change.describe())
        key = (change.kind, change.name)
        try:
            with _refused(f"{change.kind} {change.name}"):
                if change.action == "delete":
                    aws.delete(change.kind, change.name, state[key])
                    del state[key]
                else:
                    state[key] = aws.put(by_key[key], change.action == "update", state)
        except DataKept as error:
            kept.append(str(error))
            continue
        done.append(change)
    return done, state, kept


def destroy(
    aws: Aws, dry_run: bool = False, progress: Progress | None = None
) -> tuple[list[Change], list[str]]:
    """Delete everything tagged with the project, dependents first, and nothing else; returns
    the deletions and why a resource was kept (a bucket that holds objects)."""
    say = progress or (lambda _line: None)
    state = read_state(aws)
    changes = [
        Change("delete", kind, name, workspace=state[(kind, name)].get("workspace"))
        for kind, name in sorted(state, key=lambda key: -KINDS.index(key[0]))
    ]
    done, kept = [], []
    for change in changes:
        say(change.describe())
        if dry_run:
            continue
        try:
            with _refused(f"{change.kind} {change.name}"):
                aws.delete(change.kind, change.name, state[(change.kind, change.name)])
        except DataKept as error:
            kept.append(str(error))
            continue
        done.append(change)
    return (changes if dry_run else done), kept
