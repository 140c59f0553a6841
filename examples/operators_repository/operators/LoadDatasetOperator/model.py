from typing import Literal

from pydantic import BaseModel, Field

DATASET_ID_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"


class InputModel(BaseModel):
    source: str = Field(
        description=(
            "Where the table comes from: an http(s):// URL, a file:// URL or a path that the "
            "task can see (in FlowUI's sandbox: its workspace's datasets and this repository's "
            "own files; in a container: what is mounted)."
        ),
        min_length=1,
        examples=["https://example.org/sales.csv", "file:///data/sales.csv", "/data/sales.json"],
    )
    dataset_id: str = Field(
        description="The dataset in the dataset store that receives the new version.",
        pattern=DATASET_ID_PATTERN,
        max_length=250,
        json_schema_extra={"format": "flowui-dataset"},  # the GUI offers the datasets
        examples=["sales"],
    )
    format: Literal["auto", "csv", "tsv", "json", "jsonl"] = Field(
        default="auto",
        description=(
            "How to parse the source. auto: from the file extension, then the HTTP content type, "
            "then the first character. json expects a list of records (objects)."
        ),
    )
    json_records_key: str = Field(
        default="",
        description=(
            "For JSON that wraps its records in an object, the dotted key of the list, e.g. "
            "'data' or 'result.items'. Empty: the document itself is the list."
        ),
    )
    encoding: str = Field(default="utf-8", description="Text encoding of the source.")
    description: str = Field(
        default="", max_length=2000, description="A note stored with the version in meta.json."
    )
    skip_if_unchanged: bool = Field(
        default=False,
        description=(
            "Do not create a version when the data equals the latest version's; the latest "
            "version is returned instead (created = false)."
        ),
    )
    timeout_seconds: float = Field(
        default=30, gt=0, le=600, description="Time limit of a download, in seconds."
    )
    max_megabytes: float = Field(
        default=100, gt=0, le=10_000, description="Refuse sources larger than this."
    )


class OutputModel(BaseModel):
    dataset_id: str = Field(description="The dataset that received the version.")
    version: str = Field(description="The version's name, e.g. v0002.")
    version_number: int = Field(description="The version's number, e.g. 2.")
    path: str = Field(description="Absolute path of the stored CSV file.")
    rows: int = Field(description="Number of data rows.")
    columns: list[str] = Field(description="Column names, in order.")
    created: bool = Field(
        description="False when skip_if_unchanged found the data equal to the latest version."
    )


class SecretsModel(BaseModel):
    DATASET_SOURCE_TOKEN: str | None = Field(
        default=None,
        description="Sent as 'Authorization: Bearer <token>' to http(s) sources when set.",
    )
