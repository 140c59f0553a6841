from pydantic import BaseModel, Field


class InputModel(BaseModel):
    model_path: str = Field(description="The fitted model (model.joblib from TrainModelOperator).")
    data_path: str = Field(
        description=(
            "CSV with the model's feature columns; a target column, if present, is not used."
        )
    )
    prediction_column: str = Field(
        default="prediction", min_length=1, description="Name of the column of predictions."
    )
    keep_columns: bool = Field(
        default=True, description="Write the input's columns next to the predictions."
    )
    include_probabilities: bool = Field(
        default=False,
        description=(
            "Add one probability_<class> column per class, for models that estimate them "
            "(svm only with hyperparameter probability = true)."
        ),
    )


class OutputModel(BaseModel):
    predictions_path: str = Field(description="Absolute path of the predictions CSV.")
    rows: int = Field(description="Rows predicted.")
    class_counts: dict[str, int] = Field(description="How many rows were given each class.")
