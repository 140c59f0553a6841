from pydantic import BaseModel, Field


class InputModel(BaseModel):
    bucket: str = Field(description="The S3 bucket that holds the model artifact.", min_length=3)
    key: str = Field(
        description="The artifact's object key, e.g. models/churn/model.pkl.",
        min_length=1,
        max_length=1024,
    )
    region: str = Field(default="us-east-1", description="The bucket's AWS region.")


class OutputModel(BaseModel):
    path: str = Field(description="The artifact on the shared file system, under models/.")
    sha256: str
    copied: bool = Field(description="False when the same file was there already.")


class SecretsModel(BaseModel):
    """Credentials of the bucket; empty: those of the machine or role that runs the task."""

    AWS_ACCESS_KEY_ID: str = ""
    AWS_SECRET_ACCESS_KEY: str = ""
    # An S3-compatible endpoint (MinIO, a test server); empty: AWS itself.
    AWS_ENDPOINT_URL: str = ""
