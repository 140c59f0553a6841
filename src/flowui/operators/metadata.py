"""The models of an operators repository's own files: `config.toml` and `metadata.json`."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from flowui.storage import validate_id

# Anchored: pydantic's `pattern` searches, it does not match the whole string.
_FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_IMAGE_REFERENCE = re.compile(r"^[a-z0-9]+([._/:@-][A-Za-z0-9_.-]+)*$")
_VERSION = re.compile(r"^[A-Za-z0-9_.+-]{1,128}$")
_REGISTRY = re.compile(r"^[a-z0-9]([a-z0-9.:_-]*[a-z0-9])?(/[a-z0-9._-]+)*$")
# What a container image reference may look like (`name:tag`, `host:port/path@digest`).
IMAGE_REFERENCE = _IMAGE_REFERENCE


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _dependency_file_name(value: str | None) -> str | None:
    # Dependency files live directly in dependencies/: a bare name, never a path.
    if value is not None and (
        not _FILE_NAME.fullmatch(value) or value.startswith(".") or ".." in value
    ):
        raise ValueError(f"{value!r} must be a file name inside dependencies/, not a path")
    return value


class Dependency(_Strict):
    """What an operator needs beyond FlowUI's own runtime; at most one field is set.

    Null fields are accepted because repositories of the original FlowUI layout wrote all three.
    """

    requirements_file: str | None = Field(
        default=None, description="A pip requirements file in dependencies/."
    )
    dockerfile: str | None = Field(default=None, description="A Dockerfile in dependencies/.")
    docker_image: str | None = Field(
        default=None, description="A ready-made image that already has everything."
    )

    _requirements_file_name = field_validator("requirements_file")(_dependency_file_name)
    _dockerfile_name = field_validator("dockerfile")(_dependency_file_name)

    @field_validator("docker_image")
    @classmethod
    def _image_reference(cls, value: str | None) -> str | None:
        if value is not None and not _IMAGE_REFERENCE.fullmatch(value):
            raise ValueError(f"{value!r} is not a container image reference such as 'name:tag'")
        return value

    @model_validator(mode="after")
    def _at_most_one(self) -> Dependency:
        if len(self.model_dump(exclude_none=True)) > 1:
            raise ValueError("give at most one of requirements_file, dockerfile or docker_image")
        return self

    def key(self) -> tuple[str, str]:
        """A sortable identity: operators with equal keys share one dependency group."""
        for kind in ("requirements_file", "dockerfile", "docker_image"):
            value = getattr(self, kind)
            if value is not None:
                return (kind, value)
        return ("", "")


class Style(_Strict):
    """How the GUI draws the operator's node."""

    node_label: str | None = Field(default=None, max_length=200)
    node_type: Literal["default", "source", "sink"] = Field(
        default="default", description="source: no inputs drawn; sink: no outputs drawn."
    )
    node_style: dict[str, str | int | float] = Field(
        default_factory=dict, description="CSS properties of the node, e.g. backgroundColor."
    )
    icon_class_name: str | None = Field(default=None, max_length=200)
    # Accepted for the original FlowUI layout.
    useIcon: bool | None = None
    iconStyle: dict[str, str | int | float] | None = None


MILLICORES_PER_CPU = 1000
# The fewest vCPUs AWS Batch gives a job (Fargate's smallest size).
BATCH_MINIMUM_VCPUS = 0.25


def cpus_of(millicores: float) -> float:
    """CPUs of an amount in millicores (ResourceAmounts.cpu, what every runtime gets): 1500
    gives 1.5."""
    return millicores / MILLICORES_PER_CPU


def batch_vcpus(millicores: float) -> float:
    """What AWS Batch is asked for an amount in millicores: its vCPUs, at least Batch's least."""
    return max(cpus_of(millicores), BATCH_MINIMUM_VCPUS)


class ResourceAmounts(_Strict):
    cpu: int = Field(gt=0, description="Millicores (1000 = one core).")
    memory: int = Field(gt=0, description="MiB.")


class ContainerResources(_Strict):
    requests: ResourceAmounts = Field(default_factory=lambda: ResourceAmounts(cpu=100, memory=128))
    limits: ResourceAmounts = Field(default_factory=lambda: ResourceAmounts(cpu=1000, memory=1024))
    gpu: int = Field(default=0, ge=0, description="Number of GPUs.")

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> ContainerResources:
        for amount in ("cpu", "memory"):
            if getattr(self.limits, amount) < getattr(self.requests, amount):
                raise ValueError(f"limits.{amount} must be at least requests.{amount}")
        return self


class OperatorMetadata(_Strict):
    """`operators/<Name>/metadata.json`."""

    model_config = ConfigDict(extra="forbid", title="FlowUI operator metadata")

    name: str = Field(description="The operator's name: its folder's and its class's name.")
    description: str = Field(default="", max_length=5000)
    version: str | None = Field(
        default=None, description="Defaults to the repository's VERSION.", pattern=_VERSION.pattern
    )
    tags: list[str] = Field(default_factory=list)
    dependency: Dependency = Field(default_factory=Dependency)
    style: Style = Field(default_factory=Style)
    container_resources: ContainerResources = Field(default_factory=ContainerResources)
    # Accepted for the original FlowUI layout, which kept these at the top level.
    operator_type: str | None = None
    useIcon: bool | None = None
    iconStyle: dict[str, str | int | float] | None = None

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not value.isidentifier() or not value.isascii():
            raise ValueError(f"{value!r} is not a Python class name")
        return value


class RepositorySection(_Strict):
    REPOSITORY_NAME: str = Field(max_length=100)
    VERSION: str = Field(pattern=_VERSION.pattern)
    REPOSITORY_LABEL: str | None = None
    DESCRIPTION: str | None = None

    @field_validator("REPOSITORY_NAME")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        # It names the image and the platform's checkout folder.
        return validate_id(value, "repository name")


class RegistrySection(_Strict):
    REGISTRY_NAME: str = Field(
        pattern=_REGISTRY.pattern, description="Where group images go, e.g. ghcr.io/owner."
    )


DEFAULT_REGISTRY = "localhost"


class RepositoryConfig(_Strict):
    """`config.toml` at the root of an operators repository.

    `[dockerhub]` is how the original FlowUI layout spelled `[registry]`; it is read as the
    registry, and giving both is an error.
    """

    repository: RepositorySection
    registry: RegistrySection | None = None
    dockerhub: RegistrySection | None = Field(
        default=None, description="The original FlowUI spelling of [registry]."
    )

    @field_validator("dockerhub")
    @classmethod
    def _not_beside_registry(
        cls, value: RegistrySection | None, info: ValidationInfo
    ) -> RegistrySection | None:
        if value is not None and info.data.get("registry") is not None:
            raise ValueError(
                "[dockerhub] is the original spelling of [registry] and both are given:"
                " keep [registry] and delete [dockerhub]"
            )
        return value

    @model_validator(mode="after")
    def _dockerhub_is_the_registry(self) -> RepositoryConfig:
        if self.registry is None and self.dockerhub is not None:
            self.registry = self.dockerhub
        return self

    @property
    def name(self) -> str:
        return self.repository.REPOSITORY_NAME

    @property
    def version(self) -> str:
        return self.repository.VERSION

    def image_name(self, group_index: int) -> str:
        registry = self.registry.REGISTRY_NAME if self.registry else DEFAULT_REGISTRY
        return f"{registry}/{self.name.lower()}:{self.version}-group{group_index}"


def metadata_json_schema() -> dict[str, Any]:
    """The published JSON Schema of metadata.json."""
    schema = OperatorMetadata.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
