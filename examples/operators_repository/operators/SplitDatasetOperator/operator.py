"""Split a table into a training set and a test set."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel


def read_csv(path: str) -> pd.DataFrame:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"input file {file} does not exist")
    return pd.read_csv(file)


class SplitDatasetOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        table = read_csv(input_model.path)
        target = input_model.target_column
        if target not in table.columns:
            raise ValueError(
                f"unknown target column {target!r}; available columns: "
                f"{', '.join(map(str, table.columns))}"
            )
        if table[target].isna().any():
            raise ValueError(f"target column {target!r} has missing values; filter them out first")
        stratify = table[target] if input_model.stratify else None
        if stratify is not None:
            counts = stratify.value_counts()
            rare = counts[counts < 2]
            if not rare.empty:
                raise ValueError(
                    f"cannot stratify: class {rare.index[0]!r} has only {int(rare.iloc[0])} row; "
                    "set stratify to false or remove the rare classes"
                )
        try:
            train, test = train_test_split(
                table,
                test_size=input_model.test_size,
                random_state=input_model.random_state,
                stratify=stratify,
            )
        except ValueError as error:
            raise ValueError(f"cannot split {len(table)} rows: {error}") from None

        train_path = self.results_path / "train.csv"
        test_path = self.results_path / "test.csv"
        train.to_csv(train_path, index=False)
        test.to_csv(test_path, index=False)
        self.logger.info(
            "Split %d rows into %d for training and %d for testing (%s)",
            len(table),
            len(train),
            len(test),
            "stratified" if stratify is not None else "not stratified",
        )
        return OutputModel(
            train_path=str(train_path.resolve()),
            test_path=str(test_path.resolve()),
            target_column=target,
            rows=len(table),
            train_rows=len(train),
            test_rows=len(test),
        )
