"""Find a stored version of a dataset (the latest by default) so later tasks can read it."""

from __future__ import annotations

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel


class GetDatasetVersionOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        version = self.datasets.get(input_model.dataset_id, input_model.version)
        self.logger.info(
            "Dataset %s, version %s (asked for %r): %s",
            input_model.dataset_id,
            version.name,
            input_model.version,
            version.file,
        )
        return OutputModel(
            dataset_id=input_model.dataset_id,
            version=version.name,
            version_number=version.number,
            path=str(version.file),
            rows=version.meta.get("rows"),
            columns=list(version.meta.get("columns") or []),
            created=str(version.meta.get("created", "")),
            versions=len(self.datasets.versions(input_model.dataset_id)),
        )
