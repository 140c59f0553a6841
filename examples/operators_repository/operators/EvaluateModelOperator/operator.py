"""Evaluate a trained classifier on a test set: metrics, per-class scores, a confusion matrix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    precision_recall_fscore_support,
)
from sklearn.utils.multiclass import unique_labels

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


def plot_confusion_matrix(matrix: np.ndarray, labels: list[str], path: Path) -> None:
    size = max(4.0, 0.55 * len(labels) + 2.5)
    figure = Figure(figsize=(size + 1, size), dpi=100)  # no pyplot: no global state, Agg canvas
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("Predicted class")
    axes.set_ylabel("True class")
    axes.set_title("Confusion matrix")
    threshold = matrix.max() / 2 if matrix.size else 0
    for row in range(matrix.shape[0]):
        for column in range(matrix.shape[1]):
            count = int(matrix[row, column])
            color = "white" if count > threshold else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=color)
    figure.tight_layout()
    figure.savefig(path, format="png")


class EvaluateModelOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        model, info = load_model(input_model.model_path)
        target = input_model.target_column or info.get("target_column")
        if not target:
            raise ValueError("give target_column: the model has no model_info.json naming it")
        test_file = Path(input_model.test_path).expanduser()
        if not test_file.is_file():
            raise ValueError(f"test file {test_file} does not exist")
        table = pd.read_csv(test_file)
        if target not in table.columns:
            raise ValueError(
                f"unknown target column {target!r} in the test file; available columns: "
                f"{', '.join(map(str, table.columns))}"
            )
        if table.empty:
            raise ValueError(f"the test file {test_file} has no rows")
        truth = table[target]
        predicted = model.predict(features_for(info, table, "the test file"))

        labels = unique_labels(truth, predicted)
        names = [str(label) for label in labels]
        matrix = confusion_matrix(truth, predicted, labels=labels)
        accuracy = float(accuracy_score(truth, predicted))
        precision, recall, f1, _ = precision_recall_fscore_support(
            truth, predicted, labels=labels, average=input_model.average, zero_division=0
        )
        metrics = {
            "accuracy": accuracy,
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
        }
        per_class = classification_report(
            truth, predicted, labels=labels, target_names=names, zero_division=0, output_dict=True
        )

        matrix_path = self.results_path / "confusion_matrix.png"
        plot_confusion_matrix(matrix, names, matrix_path)
        metrics_path = self.results_path / "metrics.json"
        report = {
            **metrics,
            "average": input_model.average,
            "test_rows": len(table),
            "labels": names,
            "confusion_matrix": matrix.tolist(),
            "per_class": per_class,
            "model_type": info.get("model_type"),
        }
        metrics_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
        self.set_display_result(file_path=matrix_path, file_type="png")
        self.logger.info(
            "Evaluated %s on %d rows: accuracy %.3f, %s precision %.3f, recall %.3f, F1 %.3f",
            info.get("model_type", "the model"),
            len(table),
            accuracy,
            input_model.average,
            metrics["precision"],
            metrics["recall"],
            metrics["f1"],
        )
        return OutputModel(
            **metrics,
            metrics=metrics,
            confusion_matrix=matrix.tolist(),
            labels=names,
            test_rows=len(table),
            confusion_matrix_path=str(matrix_path.resolve()),
            metrics_path=str(metrics_path.resolve()),
        )
