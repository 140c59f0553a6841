from typing import Literal

from pydantic import BaseModel, Field


class InputModel(BaseModel):
    dataset: Literal["iris", "wine", "breast_cancer", "digits"] = Field(
        default="iris",
        description=(
            "A classification dataset bundled with scikit-learn (no download): iris (150 "
            "flowers, 3 species), wine (178 wines, 3 cultivars), breast_cancer (569 tumours, "
            "2 classes), digits (1797 8x8 images of digits, 10 classes)."
        ),
    )
    target_column: str = Field(
        default="target", min_length=1, description="Name of the column holding the class."
    )
    class_names: bool = Field(
        default=True,
        description="Write class names (e.g. 'setosa') instead of class numbers as the target.",
    )
    snake_case_columns: bool = Field(
        default=True,
        description="Rename features to snake_case, e.g. 'sepal length (cm)' -> sepal_length_cm.",
    )


class OutputModel(BaseModel):
    path: str = Field(description="Absolute path of the CSV file: features, then the target.")
    target_column: str = Field(description="Name of the target column.")
    rows: int = Field(description="Number of samples.")
    feature_columns: list[str] = Field(description="Names of the feature columns.")
    classes: list[str] = Field(description="The classes of the target, in order.")
