from pydantic import BaseModel, Field


class InputModel(BaseModel):
    title: str = Field(default="Model report", min_length=1, max_length=200)
    metrics: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "Named numbers to show as a table and a bar chart, e.g. the metrics output of "
            "EvaluateModelOperator."
        ),
    )
    image_path: str | None = Field(
        default=None,
        description="One image to embed (PNG, JPEG, GIF or SVG), e.g. a confusion matrix.",
    )
    image_paths: list[str] = Field(default_factory=list, description="More images to embed.")
    table_path: str | None = Field(
        default=None, description="A CSV file to show as a table, e.g. an aggregation."
    )
    table_paths: list[str] = Field(default_factory=list, description="More CSV files to show.")
    max_table_rows: int = Field(
        default=20, ge=1, le=1000, description="Show at most this many rows of each table."
    )
    notes: str = Field(
        default="",
        max_length=20_000,
        description=(
            "Text under the title. Blank lines separate paragraphs; lines starting with '# ' "
            "are headings, with '- ' list items; **bold** and `code` work. HTML is shown as text."
        ),
    )


class OutputModel(BaseModel):
    report_path: str = Field(description="Absolute path of the self-contained report.html.")
