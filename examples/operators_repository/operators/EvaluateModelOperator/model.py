from typing import Literal

from pydantic import BaseModel, Field


class InputModel(BaseModel):
    model_path: str = Field(description="The fitted model (model.joblib from TrainModelOperator).")
    test_path: str = Field(description="The test CSV: the model's feature columns and the target.")
    target_column: str | None = Field(
        default=None,
        description="The column holding the true class; empty: the one the model was trained on.",
    )
    average: Literal["macro", "weighted", "micro"] = Field(
        default="macro",
        description=(
            "How precision, recall and F1 combine over classes: macro (each class counts the "
            "same), weighted (by class size) or micro (over all predictions)."
        ),
    )


class OutputModel(BaseModel):
    accuracy: float = Field(description="Share of test rows predicted right.")
    precision: float = Field(description="Precision, averaged as chosen.")
    recall: float = Field(description="Recall, averaged as chosen.")
    f1: float = Field(description="F1 score, averaged as chosen.")
    metrics: dict[str, float] = Field(
        description="accuracy, precision, recall and f1 together, e.g. for HtmlReportOperator."
    )
    confusion_matrix: list[list[int]] = Field(
        description="Counts: row = true class, column = predicted class, in the order of labels."
    )
    labels: list[str] = Field(description="The classes, in the order of the matrix.")
    test_rows: int = Field(description="Rows evaluated.")
    confusion_matrix_path: str = Field(description="Absolute path of the confusion-matrix PNG.")
    metrics_path: str = Field(
        description="Absolute path of metrics.json (these metrics plus per-class scores)."
    )
