from pydantic import BaseModel, Field

DATASET_ID_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"


class InputModel(BaseModel):
    bucket: str = Field(description="The S3 bucket that holds the dataset.", min_length=3)
    dataset_id: str = Field(
        description="The dataset, as `flowui datasets sync` keeps it under dataset/ there.",
        pattern=DATASET_ID_PATTERN,
        max_length=250,
        json_schema_extra={"format": "flowui-dataset"},
    )
    version: str = Field(default="latest", description="latest, or a version such as v0002.")
    region: str = Field(default="us-east-1", description="The bucket's AWS region.")


class OutputModel(BaseModel):
    dataset_id: str
    version: str
    path: str = Field(description="The version's data file on the shared file system.")
    sha256: str
    copied_versions: list[str] = Field(description="Versions copied now; the others were there.")


class SecretsModel(BaseModel):
    """Credentials of the bucket; empty: those of the machine or role that runs the task."""

    AWS_ACCESS_KEY_ID: str = ""
    AWS_SECRET_ACCESS_KEY: str = ""
    # An S3-compatible endpoint (MinIO, a test server); empty: AWS itself.
    AWS_ENDPOINT_URL: str = ""
