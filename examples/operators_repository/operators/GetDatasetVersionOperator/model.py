from pydantic import BaseModel, Field

DATASET_ID_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"


class InputModel(BaseModel):
    dataset_id: str = Field(
        description="The dataset in the dataset store.",
        pattern=DATASET_ID_PATTERN,
        max_length=250,
        json_schema_extra={"format": "flowui-dataset"},  # the GUI offers the datasets
        examples=["sales"],
    )
    version: str = Field(
        default="latest",
        pattern=r"^(latest|v?[0-9]+)$",
        description="Which version: 'latest', a name such as 'v0002' or a number such as '2'.",
    )


class OutputModel(BaseModel):
    dataset_id: str = Field(description="The dataset.")
    version: str = Field(description="The version's name, e.g. v0002.")
    version_number: int = Field(description="The version's number, e.g. 2.")
    path: str = Field(description="Absolute path of the version's data file.")
    rows: int | None = Field(description="Number of data rows, if the file is a table.")
    columns: list[str] = Field(description="Column names, if the file is a table.")
    created: str = Field(description="When the version was stored (ISO 8601, UTC).")
    versions: int = Field(description="How many versions the dataset has.")
