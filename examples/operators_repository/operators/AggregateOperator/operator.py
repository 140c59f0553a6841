"""Group a table by columns and compute aggregations per group."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel

_NUMERIC_FUNCTIONS = ("sum", "mean", "median")


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


class AggregateOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        table = read_table(input_model.path)
        require_columns(table, input_model.group_by, "group_by")
        require_columns(table, [a.column for a in input_model.aggregations], "aggregations")
        for aggregation in input_model.aggregations:
            column = table[aggregation.column]
            if aggregation.function in _NUMERIC_FUNCTIONS and not (
                pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
            ):
                raise ValueError(
                    f"cannot compute the {aggregation.function} of column {aggregation.column!r}:"
                    " it does not hold numbers (use count, nunique, min or max)"
                )

        named = {
            a.result_column: pd.NamedAgg(column=a.column, aggfunc=a.function)
            for a in input_model.aggregations
        }
        if input_model.group_by:
            # dropna=False: rows with a missing key form their own group instead of vanishing.
            result = table.groupby(input_model.group_by, dropna=False).agg(**named).reset_index()
        else:
            result = table.assign(_all=0).groupby("_all").agg(**named).reset_index(drop=True)

        if input_model.sort_by is not None:
            result = result.sort_values(
                input_model.sort_by, ascending=not input_model.descending, kind="stable"
            )
        elif input_model.descending and input_model.group_by:
            result = result.iloc[::-1]
        if input_model.limit is not None:
            result = result.head(input_model.limit)

        output = self.results_path / "aggregated.csv"
        # Whole numbers stay whole (42, not 42.0) although missing values made them floats.
        result = result.convert_dtypes()
        result.to_csv(output, index=False)
        self.logger.info(
            "Aggregated %d rows into %d groups by %s: %s",
            len(table),
            len(result),
            ", ".join(input_model.group_by) or "(whole table)",
            ", ".join(named),
        )
        return OutputModel(
            path=str(output.resolve()),
            rows=len(result),
            columns=[str(column) for column in result.columns],
        )
