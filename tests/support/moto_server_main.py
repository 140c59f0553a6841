"""moto's server (`moto_server`'s own main), with what its CloudFormation lacks in moto 5.2 for
the resources FlowUI's stacks hold, as CloudFormation on AWS does it:
- an EFS access point's `Ref` (its id) and `Fn::GetAtt ... Arn`: without them moto would make
  a workspace's job definition and role with no access point;
- deleting a Batch compute environment and job queue with their stack: moto keeps them.
Nothing else of moto is changed. Run as a script by `tests.support.aws.moto_server`."""

from __future__ import annotations

from typing import Any

from moto.batch.models import ComputeEnvironment, JobQueue, batch_backends
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.efs.models import AccessPoint
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


AccessPoint.physical_resource_id = property(_physical_resource_id)  # type: ignore[assignment,method-assign]
AccessPoint.has_cfn_attr = classmethod(_has_cfn_attr)  # type: ignore[assignment,method-assign,arg-type]
AccessPoint.get_cfn_attribute = _get_cfn_attribute  # type: ignore[attr-defined]
ComputeEnvironment.delete = _delete_compute_environment  # type: ignore[attr-defined]
JobQueue.delete = _delete_job_queue  # type: ignore[attr-defined]

if __name__ == "__main__":
    main()
