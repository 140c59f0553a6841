"""Join two tables on key columns."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel


def read_table(path: str) -> pd.DataFrame:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"input file {file} does not exist")
    suffix = file.suffix.lower()
    if suffix in (".json", ".jsonl", ".ndjson"):
        text = file.read_text(encoding="utf-8")
        if suffix == ".json":
            records = json.loads(text)
        else:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ValueError(f"{file} is not a list of JSON records (objects)")
        # Nested objects become dotted columns (a.b), as LoadDatasetOperator stores them.
        return pd.json_normalize(records)
    return pd.read_csv(file, sep="\t" if suffix == ".tsv" else ",")


def require_columns(table: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    available = [str(column) for column in table.columns]
    unknown = [column for column in dict.fromkeys(columns) if column not in available]
    if unknown:
        close = difflib.get_close_matches(unknown[0], available, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown column {', '.join(map(repr, unknown))} in {where}{hint}; "
            f"available columns: {', '.join(available)}"
        )


def kind_of(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    return "number" if pd.api.types.is_numeric_dtype(series) else "text"


class JoinDatasetsOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        left = read_table(input_model.left_path)
        right = read_table(input_model.right_path)
        left_on = input_model.on or input_model.left_on
        right_on = input_model.on or input_model.right_on
        require_columns(left, left_on, "the left table's keys")
        require_columns(right, right_on, "the right table's keys")
        for left_key, right_key in zip(left_on, right_on, strict=True):
            left_kind, right_kind = kind_of(left[left_key]), kind_of(right[right_key])
            if left_kind != right_kind:
                # pandas would refuse or silently match nothing; say which keys disagree.
                raise ValueError(
                    f"key {left_key!r} holds {left_kind} on the left but {right_key!r} holds "
                    f"{right_kind} on the right; convert one side first"
                )

        joined = left.merge(
            right,
            how=input_model.how,
            left_on=left_on,
            right_on=right_on,
            suffixes=(input_model.left_suffix, input_model.right_suffix),
        )
        left_keys = pd.MultiIndex.from_frame(left[left_on])
        right_keys = pd.MultiIndex.from_frame(right[right_on])
        unmatched_left = int((~left_keys.isin(right_keys)).sum())
        unmatched_right = int((~right_keys.isin(left_keys)).sum())

        output = self.results_path / "joined.csv"
        # Whole numbers stay whole (42, not 42.0) although missing values made them floats.
        joined = joined.convert_dtypes()
        joined.to_csv(output, index=False)
        self.logger.info(
            "%s join of %d and %d rows on %s gave %d rows (%d left and %d right rows unmatched)",
            input_model.how,
            len(left),
            len(right),
            ", ".join(left_on) if left_on == right_on else f"{left_on} = {right_on}",
            len(joined),
            unmatched_left,
            unmatched_right,
        )
        return OutputModel(
            path=str(output.resolve()),
            rows=len(joined),
            columns=[str(column) for column in joined.columns],
            unmatched_left=unmatched_left,
            unmatched_right=unmatched_right,
        )
