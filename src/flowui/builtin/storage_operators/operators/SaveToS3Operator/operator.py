"""Write a file of the shared file system to a bucket, with its sha256."""

from __future__ import annotations

from flowui.base_operator import BaseOperator
from flowui.storage.s3sync import s3_client, save_object

from .model import InputModel, OutputModel


class SaveToS3Operator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        s3 = s3_client(self.secrets, input_model.region)
        saved = save_object(self.root, s3, input_model.bucket, input_model.path, input_model.key)
        self.logger.info("wrote %s (%d bytes, sha256 %s)", saved.uri, saved.size, saved.sha256)
        return OutputModel(uri=saved.uri, sha256=saved.sha256, size=saved.size)
