from pydantic import BaseModel, Field


class InputModel(BaseModel):
    bucket: str = Field(description="The S3 bucket to write to.", min_length=3)
    path: str = Field(
        description="A file on the shared file system, e.g. an upstream task's result.",
        min_length=1,
    )
    key: str = Field(
        description="The object key to write, e.g. results/report.html.",
        min_length=1,
        max_length=1024,
    )
    region: str = Field(default="us-east-1", description="The bucket's AWS region.")


class OutputModel(BaseModel):
    uri: str
    sha256: str
    size: int


class SecretsModel(BaseModel):
    """Credentials of the bucket; empty: those of the machine or role that runs the task."""

    AWS_ACCESS_KEY_ID: str = ""
    AWS_SECRET_ACCESS_KEY: str = ""
    # An S3-compatible endpoint (MinIO, a test server); empty: AWS itself.
    AWS_ENDPOINT_URL: str = ""
