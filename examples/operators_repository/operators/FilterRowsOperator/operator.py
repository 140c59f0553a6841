"""Filter and clean a table: conditions, missing values, duplicates, column selection, renames."""

from __future__ import annotations

import difflib
import functools
import json
import operator
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from flowui.base_operator import BaseOperator

from .model import Condition, InputModel, OutputModel

_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}


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


def coerce(value: Any, series: pd.Series, column: str) -> Any:
    """`value` converted to the kind of values the column holds, so comparisons mean something."""
    if pd.api.types.is_bool_dtype(series):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError(
            f"column {column!r} holds true/false values; cannot compare it with {value!r}"
        )
    if pd.api.types.is_numeric_dtype(series):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        try:
            return float(value)
        except ValueError:
            raise ValueError(
                f"column {column!r} holds numbers; cannot compare it with {value!r}"
            ) from None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def condition_mask(table: pd.DataFrame, condition: Condition) -> pd.Series:
    """Which rows pass; a missing cell fails every test except `== null` (as in SQL)."""
    series = table[condition.column]
    value = condition.value
    if value is None:
        return series.isna() if condition.op == "==" else series.notna()
    if condition.op == "contains":
        passed = series.astype("string").str.contains(str(value), regex=False)
    elif condition.op in ("in", "not_in"):
        assert isinstance(value, list)
        found = series.isin([coerce(item, series, condition.column) for item in value])
        passed = found if condition.op == "in" else ~found
    else:
        passed = _COMPARISONS[condition.op](series, coerce(value, series, condition.column))
    return passed.fillna(False).astype(bool) & series.notna()


class FilterRowsOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        table = read_table(input_model.path)
        rows_in = len(table)
        require_columns(table, [c.column for c in input_model.conditions], "conditions")
        require_columns(table, input_model.missing_columns, "missing_columns")
        require_columns(table, input_model.duplicate_columns, "duplicate_columns")
        require_columns(table, input_model.select_columns, "select_columns")
        kept = input_model.select_columns or [str(column) for column in table.columns]
        require_columns(table[kept], input_model.rename_columns, "rename_columns")
        renamed = [input_model.rename_columns.get(column, column) for column in kept]
        clashes = sorted({column for column in renamed if renamed.count(column) > 1})
        if clashes:
            raise ValueError(
                f"the result would have column {', '.join(map(repr, clashes))} twice; "
                "check select_columns and rename_columns"
            )

        if input_model.drop_missing:
            before = len(table)
            table = table.dropna(subset=input_model.missing_columns or None)
            self.logger.info("Dropped %d rows with missing values", before - len(table))
        if input_model.conditions:
            masks = [condition_mask(table, condition) for condition in input_model.conditions]
            combine = operator.and_ if input_model.match == "all" else operator.or_
            before = len(table)
            table = table[functools.reduce(combine, masks)]
            self.logger.info(
                "Kept %d of %d rows passing %s of %d conditions",
                len(table),
                before,
                input_model.match,
                len(masks),
            )
        if input_model.drop_duplicates:
            before = len(table)
            table = table.drop_duplicates(subset=input_model.duplicate_columns or None)
            self.logger.info("Dropped %d duplicate rows", before - len(table))
        table = table[kept].rename(columns=input_model.rename_columns)

        output = self.results_path / "filtered.csv"
        # Whole numbers stay whole (42, not 42.0) although missing values made them floats.
        table = table.convert_dtypes()
        table.to_csv(output, index=False)
        self.logger.info("Wrote %d of %d rows to %s", len(table), rows_in, output)
        return OutputModel(
            path=str(output.resolve()),
            rows_in=rows_in,
            rows_out=len(table),
            columns=[str(column) for column in table.columns],
        )
