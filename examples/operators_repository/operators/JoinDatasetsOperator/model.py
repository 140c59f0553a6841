from typing import Literal

from pydantic import BaseModel, Field, model_validator


class InputModel(BaseModel):
    left_path: str = Field(
        description="The left table: a CSV, TSV, JSON-records or JSON-lines file.", min_length=1
    )
    right_path: str = Field(
        description="The right table: a CSV, TSV, JSON-records or JSON-lines file.", min_length=1
    )
    on: list[str] = Field(
        default_factory=list,
        description="Key columns present in both tables. Or give left_on and right_on.",
    )
    left_on: list[str] = Field(
        default_factory=list, description="Key columns of the left table (with right_on)."
    )
    right_on: list[str] = Field(
        default_factory=list, description="Key columns of the right table, matched in order."
    )
    how: Literal["inner", "left", "right", "outer"] = Field(
        default="inner",
        description=(
            "inner: only matching rows; left/right: every row of that table; outer: every row "
            "of both. Missing matches become empty cells."
        ),
    )
    left_suffix: str = Field(
        default="_left", description="Added to left column names that also exist on the right."
    )
    right_suffix: str = Field(
        default="_right", description="Added to right column names that also exist on the left."
    )

    @model_validator(mode="after")
    def _keys_given_once(self) -> "InputModel":
        if self.on and (self.left_on or self.right_on):
            raise ValueError("give either on, or left_on with right_on, not both")
        if not self.on:
            if not (self.left_on and self.right_on):
                raise ValueError("give the key columns: on, or left_on with right_on")
            if len(self.left_on) != len(self.right_on):
                raise ValueError(
                    f"left_on has {len(self.left_on)} columns but right_on has "
                    f"{len(self.right_on)}; they are matched in pairs"
                )
        if self.left_suffix == self.right_suffix:
            raise ValueError("left_suffix and right_suffix must differ")
        return self


class OutputModel(BaseModel):
    path: str = Field(description="Absolute path of the joined CSV file.")
    rows: int = Field(description="Rows written.")
    columns: list[str] = Field(description="Column names of the written file.")
    unmatched_left: int = Field(description="Left rows that found no match on the right.")
    unmatched_right: int = Field(description="Right rows that found no match on the left.")
