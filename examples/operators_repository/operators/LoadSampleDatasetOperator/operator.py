"""Write one of scikit-learn's bundled classification datasets to a CSV file."""

from __future__ import annotations

import re

import pandas as pd
from sklearn import datasets

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel

_LOADERS = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "digits": datasets.load_digits,
}


def snake_case(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


class LoadSampleDatasetOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        bunch = _LOADERS[input_model.dataset]()
        features = [str(name) for name in bunch.feature_names]
        if input_model.snake_case_columns:
            features = [snake_case(name) for name in features]
        if input_model.target_column in features:
            raise ValueError(
                f"target_column {input_model.target_column!r} is already a feature of "
                f"{input_model.dataset}; choose another name"
            )
        table = pd.DataFrame(bunch.data, columns=features)
        names = [str(name) for name in bunch.target_names]
        if input_model.class_names:
            table[input_model.target_column] = [names[index] for index in bunch.target]
            classes = names
        else:
            table[input_model.target_column] = bunch.target
            classes = [str(index) for index in range(len(names))]

        output = self.results_path / f"{input_model.dataset}.csv"
        table.to_csv(output, index=False)
        self.logger.info(
            "Wrote %s: %d rows, %d features, classes %s",
            output,
            len(table),
            len(features),
            ", ".join(classes),
        )
        return OutputModel(
            path=str(output.resolve()),
            target_column=input_model.target_column,
            rows=len(table),
            feature_columns=features,
            classes=classes,
        )
