from pydantic import BaseModel, Field


class InputModel(BaseModel):
    path: str = Field(description="The CSV file to split.", min_length=1)
    target_column: str = Field(
        default="target", min_length=1, description="The column holding the class."
    )
    test_size: float = Field(
        default=0.25, gt=0, lt=1, description="Share of the rows that go to the test set."
    )
    random_state: int = Field(
        default=42, ge=0, description="Seed of the shuffle; the same seed gives the same split."
    )
    stratify: bool = Field(
        default=True,
        description="Keep each class's share equal in both sets (needs 2+ rows per class).",
    )


class OutputModel(BaseModel):
    train_path: str = Field(description="Absolute path of the training CSV.")
    test_path: str = Field(description="Absolute path of the test CSV.")
    target_column: str = Field(description="The target column, passed on for later tasks.")
    rows: int = Field(description="Rows of the input.")
    train_rows: int = Field(description="Rows of the training set.")
    test_rows: int = Field(description="Rows of the test set.")
