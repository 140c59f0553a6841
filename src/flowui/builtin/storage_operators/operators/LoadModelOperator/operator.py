"""Copy a model artifact from a bucket to the shared file system's models/, unless it is there."""

from __future__ import annotations

from flowui.base_operator import BaseOperator
from flowui.storage.s3sync import load_object, s3_client

from .model import InputModel, OutputModel


class LoadModelOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        s3 = s3_client(self.secrets, input_model.region)
        loaded = load_object(self.root, s3, input_model.bucket, input_model.key)
        self.logger.info(
            "%s: %s", loaded.path, "copied" if loaded.copied else "already there, unchanged"
        )
        return OutputModel(path=str(loaded.path), sha256=loaded.sha256, copied=loaded.copied)
