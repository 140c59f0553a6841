from typing import Literal

from pydantic import BaseModel, Field, field_validator

ModelType = Literal[
    "logistic_regression", "random_forest", "gradient_boosting", "decision_tree", "knn", "svm"
]


class InputModel(BaseModel):
    train_path: str = Field(description="The training CSV: feature columns and the target.")
    target_column: str = Field(
        default="target", min_length=1, description="The column holding the class to predict."
    )
    model_type: ModelType = Field(
        default="random_forest",
        description=(
            "The scikit-learn classifier: LogisticRegression, RandomForestClassifier, "
            "GradientBoostingClassifier, DecisionTreeClassifier, KNeighborsClassifier or SVC."
        ),
    )
    hyperparameters: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict,
        description=(
            'Arguments of the classifier, e.g. {"n_estimators": 200, "max_depth": 5} for '
            'random_forest, {"C": 0.5} for logistic_regression or svm, {"n_neighbors": 7} '
            "for knn. Unknown names are refused with the list of valid ones."
        ),
    )
    feature_columns: list[str] = Field(
        default_factory=list,
        description=(
            "Columns to learn from; empty: every column but the target. Text columns are "
            "one-hot encoded, missing values imputed."
        ),
    )
    scale_features: bool = Field(
        default=True,
        description="Standardize number columns (helps logistic_regression, knn and svm).",
    )
    random_state: int | None = Field(
        default=42,
        ge=0,
        description="Seed of classifiers that use randomness; null: a different model each run.",
    )
    cv_folds: int = Field(
        default=0,
        ge=0,
        le=20,
        description=(
            "Also estimate accuracy by k-fold cross-validation on the training set; 0: off."
        ),
    )

    @field_validator("cv_folds")
    @classmethod
    def _at_least_two_folds(cls, value: int) -> int:
        if value == 1:
            raise ValueError("cross-validation needs at least 2 folds (or 0 to turn it off)")
        return value


class OutputModel(BaseModel):
    model_path: str = Field(description="Absolute path of the fitted model (joblib file).")
    model_info_path: str = Field(description="Absolute path of model_info.json beside it.")
    model_type: str = Field(description="The classifier that was trained.")
    target_column: str = Field(description="The target column, passed on for later tasks.")
    train_accuracy: float = Field(description="Accuracy on the training set itself.")
    cv_accuracy: float | None = Field(
        description="Mean cross-validated accuracy, when cv_folds > 0."
    )
    train_rows: int = Field(description="Rows the model learned from.")
    feature_columns: list[str] = Field(description="The columns the model expects.")
    classes: list[str] = Field(description="The classes the model predicts.")
