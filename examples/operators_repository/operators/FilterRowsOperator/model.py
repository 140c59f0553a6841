from typing import Literal

from pydantic import BaseModel, Field, model_validator

Scalar = str | int | float | bool


class Condition(BaseModel):
    """One test a row must pass; a missing cell fails every test except `== null`."""

    column: str = Field(description="The column to test.", min_length=1)
    op: Literal["==", "!=", ">", ">=", "<", "<=", "in", "not_in", "contains"] = Field(
        default="==",
        description=(
            "How to compare. in/not_in take a list of values; contains tests whether the text "
            "of the cell contains the value. == null / != null test for missing values."
        ),
    )
    value: Scalar | list[Scalar] | None = Field(
        default=None,
        description="What to compare with; text is converted for number and boolean columns.",
    )

    @model_validator(mode="after")
    def _value_fits_op(self) -> "Condition":
        if self.op in ("in", "not_in"):
            if not isinstance(self.value, list):
                raise ValueError(f'op {self.op!r} needs a list of values, e.g. ["a", "b"]')
        elif isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} compares with one value, not a list")
        elif self.value is None and self.op not in ("==", "!="):
            raise ValueError(f"op {self.op!r} needs a value; only == and != accept null")
        return self


class InputModel(BaseModel):
    path: str = Field(
        description="The table to filter: a CSV, TSV, JSON-records or JSON-lines file.",
        min_length=1,
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Tests rows must pass; empty keeps every row."
    )
    match: Literal["all", "any"] = Field(
        default="all", description="Keep rows that pass all conditions, or any of them."
    )
    drop_missing: bool = Field(
        default=False, description="Drop rows with a missing value (before the conditions)."
    )
    missing_columns: list[str] = Field(
        default_factory=list,
        description="With drop_missing, look only at these columns; empty looks at all.",
    )
    drop_duplicates: bool = Field(default=False, description="Keep only the first of equal rows.")
    duplicate_columns: list[str] = Field(
        default_factory=list,
        description="With drop_duplicates, rows are equal when these columns are; empty: all.",
    )
    select_columns: list[str] = Field(
        default_factory=list, description="Keep only these columns, in this order; empty: all."
    )
    rename_columns: dict[str, str] = Field(
        default_factory=dict, description="New names of columns, as {old: new}; applied last."
    )


class OutputModel(BaseModel):
    path: str = Field(description="Absolute path of the filtered CSV file.")
    rows_in: int = Field(description="Rows read.")
    rows_out: int = Field(description="Rows written.")
    columns: list[str] = Field(description="Column names of the written file.")
