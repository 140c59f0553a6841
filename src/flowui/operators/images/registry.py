"""Image references, registries and their logins (Amazon ECR through boto3), and pushing."""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from flowui.config import ConfigError, load_settings
from flowui.operators.images.base import (
    REGISTRY_PASSWORD_VARIABLE,
    REGISTRY_USERNAME_VARIABLE,
    ImageBuildError,
    OutputCallback,
    StatusCallback,
)
from flowui.operators.images.build import GroupImageResult
from flowui.operators.images.engine import ContainerEngine
from flowui.operators.images.reference import (
    ImageReference,
    ecr_registry,
    ensure_ecr_repository_exists,
)
from flowui.operators.metadata import DEFAULT_REGISTRY
from flowui.operators.validate import CONFIG_FILE

# --- pushing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryCredentials:
    username: str
    password: str = field(repr=False)
    source: str  # where they came from, for messages (never the values)


def _ecr_client(region: str) -> Any:
    try:
        import boto3
    except ImportError:
        raise ImageBuildError(
            "pushing to Amazon ECR needs boto3",
            hint="install FlowUI's image tools: pip install 'flowui[images]'",
        ) from None
    # A session of its own: credentials are read from the environment as it is now.
    return boto3.session.Session().client("ecr", region_name=region)


def ecr_credentials(host: str) -> RegistryCredentials:
    """A login for an Amazon ECR registry from `ecr:GetAuthorizationToken` (AWS credentials
    from the usual places: environment, profile, role)."""
    found = ecr_registry(host)
    if found is None:
        raise ValueError(f"{host} is not an Amazon ECR registry")
    account, region = found
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = _ecr_client(region).get_authorization_token(registryIds=[account])
        token = answer["authorizationData"][0]["authorizationToken"]
        username, _, password = base64.b64decode(token).decode().partition(":")
    except (BotoCoreError, ClientError, KeyError, IndexError, ValueError) as error:
        raise ImageBuildError(
            f"cannot get a login for Amazon ECR registry {host}: {error}",
            hint="give AWS credentials allowed ecr:GetAuthorizationToken (AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or a profile or role)",
        ) from None
    return RegistryCredentials(username, password, "Amazon ECR (boto3)")


def ensure_ecr_repository(image: str) -> bool:
    """Create the ECR repository of `image` if it does not exist; whether it was created."""
    reference = ImageReference.parse(image)
    if reference.ecr is None:
        return False
    account, region = reference.ecr
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _, created = ensure_ecr_repository_exists(
            _ecr_client(region), reference.repository, registry_id=account
        )
    except (BotoCoreError, ClientError) as error:
        raise ImageBuildError(
            f"ECR repository {reference.repository} cannot be had: {error}",
            hint="create it, or give credentials allowed ecr:DescribeRepositories and "
            "ecr:CreateRepository",
        ) from None
    return created


def registry_credentials(
    host: str, environ: Mapping[str, str] | None = None
) -> RegistryCredentials | None:
    """How to log in to `host`: Amazon ECR through boto3; any other registry with
    FLOWUI_REGISTRY_USERNAME and FLOWUI_REGISTRY_PASSWORD from the environment; None: use the
    engine's own login (`docker login` / `podman login` done beforehand)."""
    if ecr_registry(host):
        return ecr_credentials(host)
    try:
        settings = load_settings(
            environ=os.environ if environ is None else environ, read_config=False
        )
    except ConfigError as error:
        raise ImageBuildError(str(error)) from None
    username = settings.FLOWUI_REGISTRY_USERNAME or ""
    secret = settings.FLOWUI_REGISTRY_PASSWORD
    password = secret.get_secret_value() if secret else ""
    if bool(username) != bool(password):
        missing = REGISTRY_PASSWORD_VARIABLE if username else REGISTRY_USERNAME_VARIABLE
        raise ImageBuildError(
            f"{missing} is not set but the other registry credential is",
            hint=f"set both {REGISTRY_USERNAME_VARIABLE} and {REGISTRY_PASSWORD_VARIABLE}, "
            "or neither to use the engine's own login",
        )
    if not username:
        return None
    return RegistryCredentials(username, password, "the environment")


class ImagePusher:
    """Pushes built images to their registries.

    `login` comes first (before the builds, so a wrong password fails in seconds, not after
    them): Amazon ECR through boto3, another registry with FLOWUI_REGISTRY_USERNAME and
    FLOWUI_REGISTRY_PASSWORD, else the engine's own login. Logins go to a temporary auth file
    (podman's --authfile, docker's --config), so nothing is stored in the user's engine
    configuration, and the password goes through stdin, never the command line.
    """

    def __init__(
        self,
        engine: ContainerEngine,
        *,
        environ: Mapping[str, str] | None = None,
        on_status: StatusCallback | None = None,
        on_output: OutputCallback | None = None,
    ) -> None:
        self.engine = engine
        self.environ = environ
        self.on_status = on_status
        self.on_output = on_output
        self._directory = Path(tempfile.mkdtemp(prefix="flowui-push-"))  # mode 0700
        self._auth_file: Path | None = None
        self._ready: set[str] = set()

    def __enter__(self) -> ImagePusher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)

    def login(self, targets: Sequence[tuple[str, str]]) -> None:
        """Get ready to push each (group, image): check it names a registry, log in to each
        registry once and create missing Amazon ECR repositories."""
        for group, image in targets:
            host = ImageReference.parse(image).host
            try:
                if host == DEFAULT_REGISTRY:
                    raise ImageBuildError(
                        f"image {image} names no registry, so it cannot be pushed",
                        hint=f"set [registry] REGISTRY_NAME in {CONFIG_FILE} "
                        "(e.g. ghcr.io/owner) and build again",
                    )
                if host not in self._ready:
                    credentials = registry_credentials(host, self.environ)
                    if credentials is not None:
                        self._status(
                            group, f"logging in to {host}: credentials from {credentials.source}"
                        )
                        self._login(host, credentials)
                    self._ready.add(host)
                if ensure_ecr_repository(image):
                    self._status(group, f"created the Amazon ECR repository of {image}")
            except ImageBuildError as error:
                error.group = error.group or group
                raise

    def push(self, result: GroupImageResult) -> None:
        """Push a built image (after `login`)."""
        host = ImageReference.parse(result.image).host
        self._status(result.group, f"pushing to {host}")
        options = self._options()
        pushed = self.engine.stream(
            *options[0],
            "push",
            *options[1],
            result.image,
            on_line=None if self.on_output is None else partial(self.on_output, result.group),
        )
        if not pushed.ok:
            raise ImageBuildError(
                f"pushing {result.image} failed ({self.engine.name} push exited "
                f"{pushed.returncode})",
                hint=f"check that you may push to {host}: for a registry other than Amazon ECR, "
                f"set {REGISTRY_USERNAME_VARIABLE} and {REGISTRY_PASSWORD_VARIABLE}, or log in "
                f"with `{self.engine.name} login`",
                group=result.group,
                output_tail=pushed.tail,
            )
        result.pushed = True
        self._status(result.group, "pushed")

    def _status(self, group: str, text: str) -> None:
        if self.on_status is not None:
            self.on_status(group, text)

    def _options(self) -> tuple[list[str], list[str]]:
        """(global options, options of login and push) that select the temporary logins."""
        if self._auth_file is None:
            return [], []
        if self.engine.name == "docker":
            return ["--config", str(self._directory)], []
        return [], ["--authfile", str(self._auth_file)]

    def _login(self, host: str, credentials: RegistryCredentials) -> None:
        self._auth_file = self._directory / (
            "config.json" if self.engine.name == "docker" else "auth.json"
        )
        global_options, options = self._options()
        answer = self.engine.capture(
            *global_options,
            "login",
            *options,
            "--username",
            credentials.username,
            "--password-stdin",
            host,
            input=credentials.password,
            timeout=120,
        )
        if answer.returncode != 0:
            raise ImageBuildError(
                f"logging in to {host} failed (credentials from {credentials.source})",
                hint="check the registry's address and the credentials",
                output_tail=(answer.stdout + answer.stderr).strip().splitlines()[-5:],
            )


def push_images(
    results: Sequence[GroupImageResult],
    engine: ContainerEngine,
    *,
    environ: Mapping[str, str] | None = None,
    on_status: StatusCallback | None = None,
    on_output: OutputCallback | None = None,
) -> None:
    """Log in, then push every built image of `results` (see `ImagePusher`)."""
    built = [result for result in results if result.status == "built"]
    with ImagePusher(engine, environ=environ, on_status=on_status, on_output=on_output) as pusher:
        pusher.login([(result.group, result.image) for result in built])
        for result in built:
            pusher.push(result)
