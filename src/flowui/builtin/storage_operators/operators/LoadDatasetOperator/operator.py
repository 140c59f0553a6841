"""Copy a dataset's versions from a bucket onto the shared file system, skipping those there."""

from __future__ import annotations

from flowui.base_operator import BaseOperator
from flowui.storage.s3sync import s3_client, sync_dataset

from .model import InputModel, OutputModel


class LoadDatasetOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        s3 = s3_client(self.secrets, input_model.region)
        report = sync_dataset(
            self.root,
            s3,
            input_model.bucket,
            input_model.dataset_id,
            "pull",
            progress=None,
        )
        self.logger.info(
            "dataset %s: copied %s, already there %s",
            input_model.dataset_id,
            ", ".join(report.pulled) or "nothing",
            ", ".join(report.unchanged) or "nothing",
        )
        version = self.datasets.get(input_model.dataset_id, input_model.version)
        return OutputModel(
            dataset_id=input_model.dataset_id,
            version=version.name,
            path=str(version.file),
            sha256=str(version.meta["sha256"]),
            copied_versions=report.pulled,
        )
