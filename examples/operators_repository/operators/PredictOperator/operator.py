"""Predict classes for the rows of a CSV file with a trained model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel


def load_model(model_path: str) -> tuple[Any, dict[str, Any]]:
    """The fitted model and the model_info.json written beside it (empty if absent)."""
    file = Path(model_path).expanduser()
    if not file.is_file():
        raise ValueError(f"model file {file} does not exist")
    model = joblib.load(file)
    info_file = file.with_name("model_info.json")
    info = json.loads(info_file.read_text(encoding="utf-8")) if info_file.is_file() else {}
    if not info.get("feature_columns"):
        info["feature_columns"] = [str(c) for c in getattr(model, "feature_names_in_", [])]
    return model, info


def features_for(model_info: dict[str, Any], table: pd.DataFrame, what: str) -> pd.DataFrame:
    expected = list(model_info["feature_columns"])
    missing = [column for column in expected if column not in table.columns]
    if missing:
        raise ValueError(
            f"{what} lacks feature column(s) {', '.join(map(repr, missing))} of the model; "
            f"it has: {', '.join(map(str, table.columns))}"
        )
    return table[expected]


class PredictOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        model, info = load_model(input_model.model_path)
        data_file = Path(input_model.data_path).expanduser()
        if not data_file.is_file():
            raise ValueError(f"data file {data_file} does not exist")
        table = pd.read_csv(data_file)
        features = features_for(info, table, "the data file")
        if input_model.include_probabilities and not hasattr(model, "predict_proba"):
            raise ValueError(
                f"this {info.get('model_type', 'model')} does not estimate probabilities; "
                "set include_probabilities to false (for svm, train with probability = true)"
            )

        result = table.copy() if input_model.keep_columns else pd.DataFrame(index=table.index)
        predictions = model.predict(features)
        result[input_model.prediction_column] = predictions
        if input_model.include_probabilities:
            probabilities = model.predict_proba(features)
            for index, label in enumerate(model.classes_):
                result[f"probability_{label}"] = probabilities[:, index].round(6)

        output = self.results_path / "predictions.csv"
        result.to_csv(output, index=False)
        counts = pd.Series(predictions).astype(str).value_counts().sort_index()
        class_counts = {str(label): int(count) for label, count in counts.items()}
        self.logger.info("Predicted %d rows: %s", len(result), class_counts)
        return OutputModel(
            predictions_path=str(output.resolve()), rows=len(result), class_counts=class_counts
        )
