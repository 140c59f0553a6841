from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Aggregation(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    column: str = Field(description="The column to aggregate.", min_length=1)
    function: Literal["count", "sum", "mean", "median", "min", "max", "nunique"] = Field(
        description=(
            "count: non-missing values; nunique: distinct values; sum, mean and median need a "
            "number column."
        )
    )
    output_name: str | None = Field(
        default=None,
        alias="as",
        description="Name of the result column; default <column>_<function>.",
    )

    @property
    def result_column(self) -> str:
        return self.output_name or f"{self.column}_{self.function}"


class InputModel(BaseModel):
    path: str = Field(
        description="The table to aggregate: a CSV, TSV, JSON-records or JSON-lines file.",
        min_length=1,
    )
    group_by: list[str] = Field(
        default_factory=list,
        description="Columns whose values form the groups; empty aggregates the whole table.",
    )
    aggregations: list[Aggregation] = Field(
        min_length=1,
        description="What to compute per group.",
        examples=[[{"column": "quantity", "function": "sum", "as": "total_quantity"}]],
    )
    sort_by: str | None = Field(
        default=None, description="Sort the result by this output column; default: the groups."
    )
    descending: bool = Field(default=False, description="Sort from largest to smallest.")
    limit: int | None = Field(
        default=None, ge=1, description="Keep only the first rows after sorting (top N)."
    )

    @model_validator(mode="after")
    def _check_result_columns(self) -> "InputModel":
        names = self.group_by + [a.result_column for a in self.aggregations]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(
                f"result column names must be distinct; repeated: {', '.join(repeated)} "
                "(give the aggregations different 'as' names)"
            )
        if self.sort_by is not None and self.sort_by not in names:
            raise ValueError(
                f"sort_by {self.sort_by!r} is not a result column; choose one of {', '.join(names)}"
            )
        return self


class OutputModel(BaseModel):
    path: str = Field(description="Absolute path of the aggregated CSV file.")
    rows: int = Field(description="Rows written (one per group).")
    columns: list[str] = Field(description="Column names of the written file.")
