"""Copy a file into the dataset store as a new version of a dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel


def table_shape(path: Path) -> tuple[int | None, list[str]]:
    """Rows and column names of a CSV, TSV, JSON-records or JSON-lines file; (None, []) else."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            table = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
            return len(table), [str(column) for column in table.columns]
        if suffix not in (".json", ".jsonl", ".ndjson"):
            return None, []
        text = path.read_text(encoding="utf-8")
        if suffix == ".json":
            records = json.loads(text)
        else:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (ValueError, UnicodeDecodeError):
        # Not a table after all: store the file anyway, just without a shape.
        return None, []
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        return None, []
    return len(records), [str(column) for column in pd.json_normalize(records).columns]


class SaveDatasetVersionOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        source = Path(input_model.path).expanduser()
        if not source.is_file():
            raise ValueError(f"input file {source} does not exist")
        rows, columns = table_shape(source)
        version, created = self.datasets.publish(
            input_model.dataset_id,
            source,
            {
                "source": str(source.resolve()),
                "source_format": source.suffix.lower().lstrip(".") or "unknown",
                "rows": rows,
                "columns": columns,
                "description": input_model.description,
                "run": {"dag_id": self.dag_id, "run_id": self.run_id, "task_id": self.task_id},
            },
            skip_if_unchanged=input_model.skip_if_unchanged,
        )
        if created:
            self.logger.info(
                "Stored %s (%s rows) as %s/%s",
                source.name,
                "?" if rows is None else rows,
                input_model.dataset_id,
                version.name,
            )
        else:
            self.logger.info(
                "%s equals %s/%s; no new version (skip_if_unchanged)",
                source.name,
                input_model.dataset_id,
                version.name,
            )
        return OutputModel(
            dataset_id=input_model.dataset_id,
            version=version.name,
            version_number=version.number,
            path=str(version.file),
            rows=version.meta.get("rows"),
            columns=list(version.meta.get("columns") or []),
            created=created,
        )
