"""Train a scikit-learn classifier on a CSV table and save it as a joblib artifact."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import sklearn
from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from flowui.base_operator import BaseOperator

from .model import InputModel, OutputModel

try:  # the precise error scikit-learn raises for a bad hyperparameter value
    from sklearn.utils._param_validation import InvalidParameterError
except ImportError:  # pragma: no cover - older or newer scikit-learn
    InvalidParameterError = ValueError  # type: ignore[assignment,misc]

_CLASSIFIERS: dict[str, Callable[[], ClassifierMixin]] = {
    # max_iter raised so small unscaled data converges without warnings
    "logistic_regression": lambda: LogisticRegression(max_iter=1000),
    "random_forest": RandomForestClassifier,
    "gradient_boosting": GradientBoostingClassifier,
    "decision_tree": DecisionTreeClassifier,
    "knn": KNeighborsClassifier,
    "svm": SVC,
}


def build_classifier(
    model_type: str, hyperparameters: dict[str, Any], random_state: int | None
) -> ClassifierMixin:
    classifier = _CLASSIFIERS[model_type]()
    valid = sorted(classifier.get_params(deep=False))
    unknown = sorted(set(hyperparameters) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter {', '.join(map(repr, unknown))} for model_type "
            f"{model_type!r}; valid hyperparameters: {', '.join(valid)}"
        )
    if random_state is not None and "random_state" in valid:
        classifier.set_params(random_state=random_state)
    classifier.set_params(**hyperparameters)
    return classifier


def build_pipeline(
    features: pd.DataFrame, classifier: ClassifierMixin, scale_features: bool
) -> Pipeline:
    """Imputation, scaling and one-hot encoding in front of the classifier, saved together."""
    numbers = [
        str(column)
        for column in features.columns
        if pd.api.types.is_numeric_dtype(features[column])
        and not pd.api.types.is_bool_dtype(features[column])
    ]
    categories = [str(column) for column in features.columns if str(column) not in numbers]
    transformers: list[tuple[str, Any, list[str]]] = []
    if numbers:
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        if scale_features:
            steps.append(("scale", StandardScaler()))
        transformers.append(("numbers", Pipeline(steps), numbers))
    if categories:
        encode = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("one_hot", OneHotEncoder(handle_unknown="ignore")),
            ]
        )
        transformers.append(("categories", encode, categories))
    return Pipeline([("preprocess", ColumnTransformer(transformers)), ("classifier", classifier)])


def split_features(
    table: pd.DataFrame, target: str, feature_columns: list[str]
) -> tuple[pd.DataFrame, pd.Series]:
    available = [str(column) for column in table.columns]
    if target not in available:
        raise ValueError(
            f"unknown target column {target!r}; available columns: {', '.join(available)}"
        )
    features = feature_columns or [column for column in available if column != target]
    unknown = [column for column in features if column not in available]
    if unknown:
        raise ValueError(
            f"unknown feature column {', '.join(map(repr, unknown))}; available columns: "
            f"{', '.join(available)}"
        )
    if target in features:
        raise ValueError(f"the target column {target!r} cannot also be a feature")
    if not features:
        raise ValueError("the table has no feature columns besides the target")
    return table[features], table[target]


class TrainModelOperator(BaseOperator):
    def operator_function(self, input_model: InputModel) -> OutputModel:
        # Settings first: a typo in a hyperparameter should not wait for the data to load.
        classifier = build_classifier(
            input_model.model_type, dict(input_model.hyperparameters), input_model.random_state
        )
        train_file = Path(input_model.train_path).expanduser()
        if not train_file.is_file():
            raise ValueError(f"training file {train_file} does not exist")
        table = pd.read_csv(train_file)
        features, target = split_features(
            table, input_model.target_column, input_model.feature_columns
        )
        if target.isna().any():
            raise ValueError(
                f"target column {input_model.target_column!r} has missing values; "
                "filter them out first"
            )
        if pd.api.types.is_float_dtype(target) and not (target % 1 == 0).all():
            raise ValueError(
                f"target column {input_model.target_column!r} holds continuous numbers; "
                "TrainModelOperator trains classifiers, which need classes"
            )
        if target.nunique() < 2:
            raise ValueError("the training set has only one class; a classifier needs two")

        pipeline = build_pipeline(features, classifier, input_model.scale_features)
        try:
            pipeline.fit(features, target)
        except InvalidParameterError as error:
            raise ValueError(
                f"invalid hyperparameter value for {input_model.model_type}: {error}"
            ) from None
        train_accuracy = float(pipeline.score(features, target))
        cv_accuracy = None
        if input_model.cv_folds:
            folds = StratifiedKFold(
                input_model.cv_folds,
                shuffle=True,
                random_state=input_model.random_state,
            )
            cv_accuracy = float(cross_val_score(pipeline, features, target, cv=folds).mean())

        model_path = self.results_path / "model.joblib"
        joblib.dump(pipeline, model_path)
        classes = [str(label) for label in pipeline.classes_]
        info = {
            "model_type": input_model.model_type,
            "hyperparameters": input_model.hyperparameters,
            "target_column": input_model.target_column,
            "feature_columns": list(features.columns),
            "classes": classes,
            "train_rows": len(table),
            "train_accuracy": train_accuracy,
            "cv_accuracy": cv_accuracy,
            "scale_features": input_model.scale_features,
            "random_state": input_model.random_state,
            "scikit_learn_version": sklearn.__version__,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        info_path = self.results_path / "model_info.json"
        info_path.write_text(json.dumps(info, indent=2), encoding="utf-8")
        self.logger.info(
            "Trained %s on %d rows x %d features: train accuracy %.3f%s; saved %s",
            input_model.model_type,
            len(table),
            features.shape[1],
            train_accuracy,
            "" if cv_accuracy is None else f", {input_model.cv_folds}-fold CV {cv_accuracy:.3f}",
            model_path,
        )
        return OutputModel(
            model_path=str(model_path.resolve()),
            model_info_path=str(info_path.resolve()),
            model_type=input_model.model_type,
            target_column=input_model.target_column,
            train_accuracy=train_accuracy,
            cv_accuracy=cv_accuracy,
            train_rows=len(table),
            feature_columns=[str(column) for column in features.columns],
            classes=classes,
        )
