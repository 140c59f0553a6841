"""Image references (`[registry/]repository[:tag][@digest]`), read one way everywhere: the image
builds and pushes, the deploy checks, `flowui aws`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DOCKER_HUB = "docker.io"
_ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$"
)


@dataclass(frozen=True)
class ImageReference:
    """An image reference split as the engines read it: the first component is a registry when
    it holds a `.` or a `:` or is `localhost`; the tag follows the last `:` of the last one."""

    registry: str | None  # None: Docker Hub, which a reference need not name
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        name, _, digest = text.partition("@")
        first, slash, rest = name.partition("/")
        registry = None
        if slash and ("." in first or ":" in first or first == "localhost"):
            registry, name = first, rest
        repository, colon, tag = name.rpartition(":")
        if not colon or "/" in tag:  # no tag: the colon, if any, was a registry's port
            repository, tag = name, ""
        return cls(registry, repository, tag or None, digest or None)

    @property
    def host(self) -> str:
        """The registry to log in to and push to (Docker Hub when the reference names none)."""
        return self.registry or DOCKER_HUB

    @property
    def tag_or_latest(self) -> str:
        return self.tag or "latest"

    @property
    def ecr(self) -> tuple[str, str] | None:
        """(account id, region) when the registry is Amazon ECR."""
        return ecr_registry(self.host)


def ecr_registry(host: str) -> tuple[str, str] | None:
    """(account id, region) when `host` is an Amazon ECR registry."""
    match = _ECR_HOST.match(host)
    return (match.group("account"), match.group("region")) if match else None


def ensure_ecr_repository_exists(
    ecr: Any,
    name: str,
    *,
    registry_id: str | None = None,
    tags: list[dict[str, str]] | None = None,
    scan_on_push: bool | None = None,
) -> tuple[dict[str, Any], bool]:
    """The ECR repository `name` as ECR describes it, created (with `tags` and the scanning
    setting) if it does not exist: (repository, created). Looked up first, so that using an
    existing one needs no ecr:CreateRepository; ECR's own errors go on."""
    account = {"registryId": registry_id} if registry_id else {}
    try:
        found = ecr.describe_repositories(repositoryNames=[name], **account)
        return found["repositories"][0], False
    except ecr.exceptions.RepositoryNotFoundException:
        pass
    options: dict[str, Any] = {**account}
    if tags:
        options["tags"] = tags
    if scan_on_push is not None:
        options["imageScanningConfiguration"] = {"scanOnPush": scan_on_push}
    try:
        return ecr.create_repository(repositoryName=name, **options)["repository"], True
    except ecr.exceptions.RepositoryAlreadyExistsException:  # made meanwhile by another
        found = ecr.describe_repositories(repositoryNames=[name], **account)
        return found["repositories"][0], False
