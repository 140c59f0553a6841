"""moto's server (`moto_server`'s own main), with what its CloudFormation lacks in moto 5.2 for
the resources FlowUI's stacks hold, as CloudFormation on AWS does it:
- an EFS access point's `Ref` (its id) and `Fn::GetAtt ... Arn`: without them moto would make
  a workspace's job definition and role with no access point;
- deleting a Batch compute environment and job queue with their stack: moto keeps them;
- `AWS::SecretsManager::Secret` with a generated string, which moto's CloudFormation skips;
- an RDS instance's `ManageMasterUserPassword` (RDS's own secret, `Fn::GetAtt ...
  MasterUserSecret.SecretArn`) and `VPCSecurityGroups`, which moto's CloudFormation drops;
- an ECS task definition's and service's Fargate properties (network mode, CPU and memory,
  roles; launch type, network configuration, load balancers), which it drops too;
- a Batch job's EFS volumes: moto mounts host folders only (and needs a mount's `readOnly`),
  so with FLOWUI_MOTO_EFS_ROOT set (the host folder that stands for the file system's root)
  an EFS volume is the folder of its access point's root directory below it.
Nothing else of moto is changed. Run as a script by `tests.support.aws.moto_server`."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from moto.batch.models import ComputeEnvironment, Job, JobQueue, batch_backends
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.core.common_models import CloudFormationModel
from moto.core.utils import pascal_to_camelcase, remap_nested_keys
from moto.ecs.models import Service, TaskDefinition, ecs_backends
from moto.efs.models import AccessPoint, efs_backends
from moto.rds.models import DBInstance, MasterUserSecret
from moto.secretsmanager.models import secretsmanager_backends
from moto.server import main


def _physical_resource_id(self: AccessPoint) -> str:
    return self.access_point_id


def _has_cfn_attr(cls: type[AccessPoint], attribute: str) -> bool:
    return attribute in ("AccessPointId", "Arn")


def _get_cfn_attribute(self: AccessPoint, attribute: str) -> Any:
    if attribute == "AccessPointId":
        return self.access_point_id
    if attribute == "Arn":
        return self.access_point_arn
    raise UnformattedGetAttTemplateException()


def _delete_compute_environment(self: ComputeEnvironment, account_id: str, region: str) -> None:
    batch_backends[account_id][region].delete_compute_environment(self.arn)


def _delete_job_queue(self: JobQueue, account_id: str, region: str) -> None:
    batch_backends[account_id][region].delete_job_queue(self.arn)


class GeneratedSecret(CloudFormationModel):
    """A secret whose value Secrets Manager generates (`GenerateSecretString`)."""

    __module__ = "moto.secretsmanager.models"  # moto's models name their service this way

    def __init__(self, arn: str, account_id: str, region: str) -> None:
        self.arn = arn
        self.account_id = account_id
        self.region = region

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @classmethod
    def has_cfn_attr(cls, attribute: str) -> bool:
        return attribute == "Id"

    def get_cfn_attribute(self, attribute: str) -> Any:
        if attribute == "Id":
            return self.arn
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> GeneratedSecret:
        properties = cloudformation_json["Properties"]
        backend = secretsmanager_backends[account_id][region_name]
        generate = properties.get("GenerateSecretString", {})
        generated = backend.get_random_password(
            password_length=int(generate.get("PasswordLength", 32)),
            exclude_characters=generate.get("ExcludeCharacters", ""),
            exclude_numbers=False,
            exclude_punctuation=bool(generate.get("ExcludePunctuation")),
            exclude_uppercase=False,
            exclude_lowercase=False,
            include_space=False,
            require_each_included_type=False,
        )
        created = backend.create_secret(
            name=properties.get("Name", resource_name),
            secret_string=json.loads(generated)["RandomPassword"],
            secret_binary=None,
            description=properties.get("Description"),
            tags=properties.get("Tags"),
            kms_key_id=None,
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        return cls(json.loads(created)["ARN"], account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        secretsmanager_backends[account_id][region_name].delete_secret(
            self.arn, recovery_window_in_days=None, force_delete_without_recovery=True
        )


_create_database = DBInstance.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def _create_database_with_secret(
    cls: type[DBInstance], resource_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any
) -> DBInstance:
    database = _create_database(cls, resource_name, cloudformation_json, *args, **kwargs)
    properties = cloudformation_json["Properties"]
    database.vpc_security_group_ids = [str(g) for g in properties.get("VPCSecurityGroups", [])]
    if properties.get("ManageMasterUserPassword"):
        database.manage_master_user_password = True
        database.master_user_secret = MasterUserSecret(database, None)
    return database


_database_has_attribute = DBInstance.has_cfn_attr.__func__  # type: ignore[attr-defined]
_database_attribute = DBInstance.get_cfn_attribute


def _database_has_cfn_attr(cls: type[DBInstance], attribute: str) -> bool:
    return attribute == "MasterUserSecret.SecretArn" or _database_has_attribute(cls, attribute)


def _database_get_cfn_attribute(self: DBInstance, attribute: str) -> Any:
    if attribute == "MasterUserSecret.SecretArn":
        return self.master_user_secret.secret.arn
    return _database_attribute(self, attribute)


def _camel(properties: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """ECS's API parameters from CloudFormation's properties of the same names."""
    return {
        re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): remap_nested_keys(
            properties[name], pascal_to_camelcase
        )
        for name in names
        if name in properties
    }


def _volume(volume: dict[str, Any]) -> dict[str, Any]:
    """A task definition's volume as ECS's API names it (CloudFormation spells an EFS
    volume's keys its own way)."""
    found: dict[str, Any] = {"name": volume["Name"]}
    if efs := volume.get("EFSVolumeConfiguration"):
        authorization = efs.get("AuthorizationConfig", {})
        found["efsVolumeConfiguration"] = {
            "fileSystemId": efs["FilesystemId"],
            "rootDirectory": efs.get("RootDirectory", "/"),
            "transitEncryption": efs.get("TransitEncryption", "DISABLED"),
            "authorizationConfig": {"iam": authorization.get("IAM", "DISABLED")}
            | (
                {"accessPointId": authorization["AccessPointId"]}
                if "AccessPointId" in authorization
                else {}
            ),
        }
    return found


def _create_task_definition(
    cls: type[TaskDefinition],
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> TaskDefinition:
    properties = cloudformation_json["Properties"]
    return ecs_backends[account_id][region_name].register_task_definition(
        family=properties["Family"],
        **_camel(properties, ("ContainerDefinitions", "NetworkMode", "RequiresCompatibilities")),
        volumes=[_volume(volume) for volume in properties.get("Volumes", [])],
        cpu=properties.get("Cpu"),
        memory=properties.get("Memory"),
        task_role_arn=properties.get("TaskRoleArn"),
        execution_role_arn=properties.get("ExecutionRoleArn"),
    )


def _create_service(
    cls: type[Service],
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Service:
    properties = cloudformation_json["Properties"]
    cluster, definition = properties["Cluster"], properties["TaskDefinition"]
    return ecs_backends[account_id][region_name].create_service(
        getattr(cluster, "name", cluster),
        properties.get("ServiceName", resource_name),
        properties.get("DesiredCount"),
        task_definition_str=getattr(definition, "arn", definition),
        **_camel(properties, ("LoadBalancers", "LaunchType", "PlatformVersion")),
        network_configuration=_camel(properties, ("NetworkConfiguration",)).get(
            "network_configuration"
        ),
    )


EFS_ROOT_VARIABLE = "FLOWUI_MOTO_EFS_ROOT"
_container_property = Job._get_container_property


def _job_container_property(self: Job, name: str, default: Any) -> Any:
    found = _container_property(self, name, default)
    efs_root = os.environ.get(EFS_ROOT_VARIABLE)
    if name == "mountPoints":
        return [{"readOnly": False} | mount for mount in found]
    if name != "volumes" or not efs_root:
        return found
    backend = self.job_definition.backend
    points = efs_backends[backend.account_id][backend.region_name].access_points
    volumes = []
    for volume in found:
        efs = volume.get("efsVolumeConfiguration")
        if efs is None:
            volumes.append(volume)
            continue
        point = efs.get("authorizationConfig", {}).get("accessPointId")
        below = points[point].root_directory["Path"] if point else "/"
        path = Path(efs_root, below.lstrip("/"), efs.get("rootDirectory", "/").lstrip("/"))
        volumes.append({"name": volume["name"], "host": {"sourcePath": str(path)}})
    return volumes


DBInstance.create_from_cloudformation_json = classmethod(_create_database_with_secret)  # type: ignore[assignment,method-assign,arg-type]
DBInstance.has_cfn_attr = classmethod(_database_has_cfn_attr)  # type: ignore[assignment,method-assign,arg-type]
DBInstance.get_cfn_attribute = _database_get_cfn_attribute  # type: ignore[method-assign]
TaskDefinition.create_from_cloudformation_json = classmethod(_create_task_definition)  # type: ignore[assignment,method-assign,arg-type]
Service.create_from_cloudformation_json = classmethod(_create_service)  # type: ignore[assignment,method-assign,arg-type]
AccessPoint.physical_resource_id = property(_physical_resource_id)  # type: ignore[assignment,method-assign]
AccessPoint.has_cfn_attr = classmethod(_has_cfn_attr)  # type: ignore[assignment,method-assign,arg-type]
AccessPoint.get_cfn_attribute = _get_cfn_attribute  # type: ignore[attr-defined]
ComputeEnvironment.delete = _delete_compute_environment  # type: ignore[attr-defined]
JobQueue.delete = _delete_job_queue  # type: ignore[attr-defined]
Job._get_container_property = _job_container_property  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
