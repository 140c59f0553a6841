from pydantic import BaseModel, Field

DATASET_ID_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"


class InputModel(BaseModel):
    path: str = Field(
        description="The file to store, e.g. the path output of an upstream task.", min_length=1
    )
    dataset_id: str = Field(
        description="The dataset in the dataset store that receives the new version.",
        pattern=DATASET_ID_PATTERN,
        max_length=250,
        json_schema_extra={"format": "flowui-dataset"},  # the GUI offers the datasets
        examples=["sales_by_region"],
    )
    description: str = Field(
        default="", max_length=2000, description="A note stored with the version in meta.json."
    )
    skip_if_unchanged: bool = Field(
        default=False,
        description=(
            "Do not create a version when the file equals the latest version's; the latest "
            "version is returned instead (created = false)."
        ),
    )


class OutputModel(BaseModel):
    dataset_id: str = Field(description="The dataset that received the version.")
    version: str = Field(description="The version's name, e.g. v0002.")
    version_number: int = Field(description="The version's number, e.g. 2.")
    path: str = Field(description="Absolute path of the stored file.")
    rows: int | None = Field(description="Number of data rows, if the file is a table.")
    columns: list[str] = Field(description="Column names, if the file is a table.")
    created: bool = Field(
        description="False when skip_if_unchanged found the file equal to the latest version."
    )
