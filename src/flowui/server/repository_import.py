"""Importing an operators repository from git (or a local directory) into the file-system root.

A checkout is fetched at a ref into a staging directory beside its target, stripped of its git
history, validated (organized first if it has no committed `.flowui` files) and renamed into
place: it is installed whole or not at all. Operator code is never imported here: model files
are inspected in child processes by `organize`/`validate`, and operator.py is only parsed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypedDict
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator

from flowui.operators.inspection import inspection_sandbox
from flowui.operators.install import _NOT_COPIED
from flowui.operators.organize import (
    COMPILED_METADATA_FILE,
    DEPENDENCIES_MAP_FILE,
    FLOWUI_DIR,
    holds_original_flowui_files,
    organize_repository,
)
from flowui.operators.validate import OPERATORS_DIR, Problem, validate_repository
from flowui.sandbox import RemoteInspection, Sandbox, SandboxPolicy, share_read_only
from flowui.storage import FileSystemRoot
from flowui.workflows.catalog import CatalogError, load_repository_catalog

DEFAULT_GIT_TIMEOUT_SECONDS = 300.0
GITHUB_URL = "https://github.com/{owner}/{repository}.git"

# Only these transports, also for anything a repository's own content could make git reach
# (submodule URLs, `ext::` commands): everything else is refused by git itself.
_GIT_OPTIONS = (
    "-c",
    "protocol.allow=never",
    "-c",
    "protocol.https.allow=always",
    "-c",
    "protocol.ssh.allow=always",
    "-c",
    "protocol.file.allow=always",
)
# Deployment settings for reaching hosts; every other GIT_* variable of the server's own
# environment (GIT_DIR, GIT_CONFIG_*, GIT_TRACE_*, GIT_ASKPASS, ...) must not steer an import.
_KEPT_GIT_VARIABLES = frozenset({"GIT_SSH_COMMAND", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH"})
_STDERR_TAIL_LINES = 5
_REFS_LISTED = 10

_COMMIT = re.compile(r"[0-9a-fA-F]{7,40}")
_SCHEME_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_TRANSPORT = re.compile(r"(?P<transport>[A-Za-z][A-Za-z0-9+.-]*)::")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_SCP_LIKE = re.compile(r"(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?P<path>[^/].*|/.+)")
_GITHUB_SHORTHAND = re.compile(
    r"(?P<owner>[A-Za-z0-9][A-Za-z0-9-]*)/(?P<repository>[A-Za-z0-9_.-]+)"
)
# user:password@ before the host of an scp-like address.
_SCP_CREDENTIALS = re.compile(r"[^/@:]+:[^/@]*@")
# git check-ref-format, plus a stricter "no whitespace" (git allows non-ASCII spaces).
_REF_FORBIDDEN = re.compile(r"[~^:?*\[\\]|@\{|//|/\.|\.lock(/|$)|^\.|^/|/$|\.$|^@$")


class ProblemEntry(TypedDict):
    """One problem of a rejected repository, as the API shows it."""

    operator: str | None
    file: str
    line: int | None
    message: str


class RepositoryImportError(Exception):
    """An import that failed; nothing was installed. `problems` lists what is wrong, if known."""

    def __init__(self, message: str, problems: Sequence[ProblemEntry] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


class RepositorySource(BaseModel):
    """Where to fetch an operators repository from, validated so git can be given it safely.

    `url` is normalized: an https, ssh or file URL, scp-like `user@host:path`, or the absolute
    path of a plain (non-git) directory, which is copied. `ref` is a branch, tag or commit SHA;
    None means the remote's default branch. `token` authenticates https requests (GitHub).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    ref: str | None = None
    token: SecretStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("url"), str):
            data["url"] = _normalize_url(data["url"])
        if isinstance(data.get("ref"), str):
            data["ref"] = _checked_ref(data["ref"])
        token = data.get("token")
        if isinstance(token, str | SecretStr):
            value = token.get_secret_value() if isinstance(token, SecretStr) else token
            data["token"] = value or None
        return data

    @model_validator(mode="after")
    def _fits_source(self) -> RepositorySource:
        if self.is_directory and self.ref is not None:
            raise ValueError(
                f"{self.url} is a plain directory, not a git repository: it has no ref to check"
                " out (leave ref empty)"
            )
        if self.token is not None and not self.url.startswith("https://"):
            raise ValueError("a token is only sent over https: use an https:// URL with it")
        return self

    @property
    def is_directory(self) -> bool:
        """A plain directory to copy; git URLs (file:// too) never start with '/'."""
        return self.url.startswith("/")

    def describe(self, ref: str | None = None) -> str:
        """The source for messages: never carries the token."""
        ref = ref or self.ref
        return f"{self.url} at {ref}" if ref else self.url


def parse_source(text: str, ref: str | None = None, token: str | None = None) -> RepositorySource:
    """A RepositorySource from what a person typed; ValueError saying what is wrong."""
    try:
        return RepositorySource.model_validate({"url": text, "ref": ref, "token": token})
    except ValidationError as error:
        reasons = [str(item["msg"]).removeprefix("Value error, ") for item in error.errors()]
        raise ValueError("; ".join(reasons)) from None


@dataclass(frozen=True)
class ImportedRepository:
    """An installed checkout. `commit` is None for a copied plain directory."""

    checkout_id: str
    path: Path
    name: str
    version: str
    commit: str | None
    ref: str | None
    source: str
    operators: dict[str, dict[str, Any]]
    dependencies_map: dict[str, Any]


def import_repository(
    source: RepositorySource,
    root: FileSystemRoot,
    checkout_id: str,
    *,
    sandbox: SandboxPolicy = SandboxPolicy(),  # frozen: one shared default is safe
    timeout: float = DEFAULT_GIT_TIMEOUT_SECONDS,
) -> ImportedRepository:
    """Fetch `source`, validate it and install it at `operators_repositories/{checkout_id}`.

    Its model files are imported in the inspection sandbox of `sandbox` (nothing of the root
    but the checkout visible). `timeout` limits each git command, in seconds. Raises
    RepositoryImportError (with per-file problems if the repository is invalid), or
    SandboxUnavailable before fetching anything, and then leaves the root as it was.
    """
    target = root.operators_repository(checkout_id)
    _refuse_existing(target)
    try:
        root.operators_repositories.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".importing-", dir=root.operators_repositories))
    except OSError as error:
        raise RepositoryImportError(
            f"cannot make a checkout in {root.operators_repositories}: {error.strerror} (the "
            "server's user must be able to write there)"
        ) from None
    try:
        # Passable, not listable: an inspection job, as its file system's user, reads it.
        staging.chmod(0o711)
        checkout = staging / "repository"
        inspection = inspection_sandbox(sandbox, checkout, hidden=root.private_paths)
        if source.is_directory:
            commit, ref = None, None
            try:
                shutil.copytree(source.url, checkout, ignore=_NOT_COPIED)
            except OSError as error:
                raise RepositoryImportError(f"cannot copy {source.url}: {error}") from error
        else:
            commit, ref = _check_out(source, checkout, timeout)
            # The history stays behind, and with it any remote configuration.
            shutil.rmtree(checkout / ".git")
        share_read_only(checkout)  # sandboxes of other uids read it: imports and tasks
        described = source.describe(ref)
        name, version, operators, dependencies_map = _organized(checkout, described, inspection)
        _refuse_existing(target)
        try:
            checkout.rename(target)
        except OSError as error:
            raise RepositoryImportError(
                f"cannot install {described} at {target}: {error}"
            ) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ImportedRepository(
        checkout_id=checkout_id,
        path=target,
        name=name,
        version=version,
        commit=commit,
        ref=ref,
        source=source.url,
        operators=operators,
        dependencies_map=dependencies_map,
    )


def _refuse_existing(target: Path) -> None:
    if target.exists():
        raise RepositoryImportError(
            f"checkout {target.name!r} already exists: every import needs a new checkout id"
        )


# --- parsing a source ----------------------------------------------------------------------


def _normalize_url(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValueError("give the repository's URL or absolute path")
    if text.startswith("-"):
        raise ValueError(f"{text!r} is not a repository URL: it must not begin with '-'")
    if transport := _TRANSPORT.match(text):
        raise ValueError(
            f"the {transport['transport']}:: transport is not allowed: use an https:// or"
            " ssh:// URL"
        )
    if re.search(r"[\s\x00-\x1f\x7f]", text):
        raise ValueError("the repository URL must not contain spaces or control characters")
    if scheme := _SCHEME_URL.match(text):
        return _checked_url(text, scheme["scheme"].lower())
    if text.startswith("/"):
        return _local_source(Path(text))
    if _SCP_CREDENTIALS.match(text):
        raise _credentials_refused()
    if scp := _SCP_LIKE.fullmatch(text):
        user_ok = scp["user"] is None or _USER.fullmatch(scp["user"])
        if not user_ok or not _HOST.fullmatch(scp["host"]) or scp["path"].startswith("-"):
            raise ValueError(f"{text!r} is not a valid git@host:owner/repository.git address")
        return text
    if shorthand := _GITHUB_SHORTHAND.fullmatch(text):
        repository = shorthand["repository"].removesuffix(".git")
        if repository in ("", ".") or ".." in repository:
            raise ValueError(f"{text!r} is not a GitHub repository name")
        return GITHUB_URL.format(owner=shorthand["owner"], repository=repository)
    raise ValueError(
        f"{text!r} is not a repository source: give an https:// or ssh:// URL,"
        " git@host:owner/repository.git, file:///absolute/path, an absolute path, or GitHub's"
        " owner/repository (relative paths are not accepted)"
    )


def _credentials_refused() -> ValueError:
    return ValueError(
        "credentials in the repository URL are not allowed: give the token in the token field"
    )


def _checked_url(text: str, scheme: str) -> str:
    if scheme == "http":
        raise ValueError("http:// is not allowed (it is unencrypted): use https://")
    if scheme not in ("https", "ssh", "file"):
        raise ValueError(f"{scheme}:// URLs are not supported: use https://, ssh:// or file://")
    text = scheme + text[len(scheme) :]  # HTTPS:// is https://
    parts = urlsplit(text)
    if "?" in text or "#" in text:
        raise ValueError(f"{text!r}: a repository URL has no query ('?') or fragment ('#')")
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"{text!r}: a file URL names an absolute path: file:///path")
        return text
    if parts.password is not None or (scheme == "https" and parts.username is not None):
        raise _credentials_refused()
    if parts.username is not None and not _USER.fullmatch(parts.username):
        raise ValueError(f"{text!r}: {parts.username!r} is not a valid user name")
    try:
        _ = parts.port  # a port that is not a number raises
    except ValueError as error:
        raise ValueError(f"{text!r}: {error}") from None
    if not parts.hostname or not _HOST.fullmatch(parts.hostname):
        raise ValueError(f"{text!r} has no valid host name")
    if parts.path.strip("/") == "":
        raise ValueError(f"{text!r} names no repository on {parts.hostname}")
    return text


def _local_source(path: Path) -> str:
    path = path.resolve()
    if not path.is_dir():
        raise ValueError(f"{path} is not a directory")
    is_git = (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())
    # A file URL makes git use its transport (shallow clones work, nothing is hard-linked).
    return path.as_uri() if is_git else str(path)


def _checked_ref(ref: str) -> str | None:
    if not ref:
        return None
    if ref.startswith("-"):
        raise ValueError(f"ref {ref!r} must not begin with '-'")
    if re.search(r"[\s\x00-\x1f\x7f]", ref):
        raise ValueError(f"ref {ref!r} must not contain spaces or control characters")
    if ".." in ref:
        raise ValueError(f"ref {ref!r} must not contain '..'")
    if len(ref) > 255 or _REF_FORBIDDEN.search(ref):
        raise ValueError(
            f"ref {ref!r} is not a valid branch, tag or commit name (see `git check-ref-format`)"
        )
    return ref


# --- fetching with git ---------------------------------------------------------------------


def _check_out(source: RepositorySource, checkout: Path, timeout: float) -> tuple[str, str]:
    """Clone `source` into `checkout` at its ref; return (commit SHA, ref checked out)."""
    url = source.url
    listing = _git(
        ["ls-remote", "--refs", "--", url],
        source=source,
        timeout=timeout,
        failure=f"cannot read the repository {url}",
    )
    branches, tags = _branches_and_tags(listing)
    if not branches and not tags:
        raise RepositoryImportError(f"{url} has no branches or tags: there is nothing to import")
    ref = source.ref
    if ref is None or ref in branches or ref in tags:
        _git(
            [
                "clone",
                "--quiet",
                "--no-recurse-submodules",
                "--depth=1",
                *([f"--branch={ref}"] if ref else []),
                "--",
                url,
                str(checkout),
            ],
            source=source,
            timeout=timeout,
            failure=f"git clone of {source.describe()} failed",
        )
        if ref is None:
            ref = _git(
                ["symbolic-ref", "--short", "HEAD"],
                source=source,
                timeout=timeout,
                failure=f"cannot tell the default branch of {url}",
                cwd=checkout,
            ).strip()
    elif _COMMIT.fullmatch(ref):
        # Commits can only be asked for by name on some servers: take the history without
        # file contents, then only the files of that one commit.
        _git(
            [
                "clone",
                "--quiet",
                "--no-recurse-submodules",
                "--no-checkout",
                "--filter=blob:none",
                "--",
                url,
                str(checkout),
            ],
            source=source,
            timeout=timeout,
            failure=f"git clone of {url} failed",
        )
        full_sha = _git(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
            source=source,
            timeout=timeout,
            failure=_ref_not_found(url, ref, branches, tags),
            cwd=checkout,
        ).strip()
        _git(
            ["checkout", "--quiet", "--detach", full_sha],
            source=source,
            timeout=timeout,
            failure=f"git checkout of {source.describe()} failed",
            cwd=checkout,
        )
    else:
        raise RepositoryImportError(_ref_not_found(url, ref, branches, tags))
    commit = _git(
        ["rev-parse", "--verify", "HEAD"],
        source=source,
        timeout=timeout,
        failure=f"cannot read the commit of {source.describe(ref)}",
        cwd=checkout,
    ).strip()
    return commit, ref


def _branches_and_tags(listing: str) -> tuple[set[str], set[str]]:
    branches: set[str] = set()
    tags: set[str] = set()
    for line in listing.splitlines():
        _, _, name = line.partition("\t")
        if name.startswith("refs/heads/"):
            branches.add(name.removeprefix("refs/heads/"))
        elif name.startswith("refs/tags/"):
            tags.add(name.removeprefix("refs/tags/"))
    return branches, tags


def _ref_not_found(url: str, ref: str, branches: Iterable[str], tags: Iterable[str]) -> str:
    kinds = "branch, tag or commit" if _COMMIT.fullmatch(ref) else "branch or tag"
    return (
        f"ref {ref!r} not found in {url}: it is no {kinds} there"
        f" (branches: {_listed(branches)}; tags: {_listed(tags)})"
    )


def _listed(names: Iterable[str]) -> str:
    ordered = sorted(names)
    shown = ", ".join(ordered[:_REFS_LISTED]) or "none"
    more = len(ordered) - _REFS_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def _git(
    arguments: list[str],
    *,
    source: RepositorySource,
    timeout: float,
    failure: str,
    cwd: Path | None = None,
) -> str:
    """Run one git command under `timeout`; its stdout, or RepositoryImportError."""
    token = source.token.get_secret_value() if source.token else None
    secrets = [token, _authorization(token)] if token else []
    try:
        process = subprocess.Popen(
            ["git", *_GIT_OPTIONS, *arguments],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            cwd=cwd,
            env=_git_environment(token),
            start_new_session=True,  # its own process group: one kill stops its helpers too
        )
    except FileNotFoundError as error:
        raise RepositoryImportError(
            "git is not installed: importing repositories needs it"
        ) from error
    with process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException as error:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            if isinstance(error, subprocess.TimeoutExpired):
                raise RepositoryImportError(
                    f"git {arguments[0]} of {source.describe()} timed out after {timeout:g} s"
                ) from None
            raise
    if process.returncode != 0:
        said = _masked(_tail(stderr), secrets)
        if "could not read Username" in stderr:
            said += "\n(the repository does not exist, or it is private: give a token to read it)"
        raise RepositoryImportError(f"{failure}:\n{said}" if said else failure)
    return stdout


def _git_environment(token: str | None) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") or key in _KEPT_GIT_VARIABLES
    }
    environment.pop("SSH_ASKPASS", None)
    # No prompt, and none of the server account's git configuration (credential helpers, URL
    # rewrites) applies to a URL someone else typed.
    environment |= {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    if token:
        # Through the environment: not on a command line, not written to .git/config.
        environment |= {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {_authorization(token)}",
        }
    return environment


def _authorization(token: str) -> str:
    return base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")


def _tail(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return "\n".join(lines[-_STDERR_TAIL_LINES:])


def _masked(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


# --- validating the checkout ---------------------------------------------------------------


def _organized(
    checkout: Path, described: str, sandbox: Sandbox | RemoteInspection | None
) -> tuple[str, str, dict[str, dict[str, Any]], dict[str, Any]]:
    """Validate (or organize) the checkout, its model files imported in `sandbox`; return its
    name, version, operators and groups."""
    escaping = _links_leaving(checkout)
    if escaping:
        raise _invalid(described, escaping)
    flowui = checkout / FLOWUI_DIR
    # Files of the original FlowUI layout are another format: organize over them.
    committed = all(
        (flowui / name).is_file() for name in (COMPILED_METADATA_FILE, DEPENDENCIES_MAP_FILE)
    ) and not holds_original_flowui_files(checkout)
    report = (
        validate_repository(checkout, sandbox=sandbox)
        if committed
        else organize_repository(checkout, sandbox=sandbox).report
    )
    if not report.ok or report.config is None:
        raise _invalid(described, report.problems)
    try:
        catalog = load_repository_catalog(checkout)
    except CatalogError as error:
        # Its message names files by their staging path: show them relative to the repository.
        text = str(error).replace(f"{checkout}{os.sep}", "").replace(str(checkout), ".")
        file, _, message = text.partition(": ")
        raise _invalid(described, [Problem(file, None, message)]) from error
    compiled = {operator.name for operator in catalog}
    found = {operator.name for operator in report.operators}
    stale = [
        Problem(
            f"{OPERATORS_DIR}/{name}", None, f"missing from {FLOWUI_DIR}/{COMPILED_METADATA_FILE}"
        )
        for name in sorted(found - compiled)
    ] + [
        Problem(
            f"{FLOWUI_DIR}/{COMPILED_METADATA_FILE}",
            None,
            f"operator {name} is not in {OPERATORS_DIR}/",
        )
        for name in sorted(compiled - found)
    ]
    if stale:
        raise _invalid(described, stale, hint="run `flowui operators organize` and commit .flowui/")
    dependencies_map = json.loads((flowui / DEPENDENCIES_MAP_FILE).read_text(encoding="utf-8"))
    operators = {operator.name: operator.metadata for operator in catalog}
    return report.config.name, report.config.version, operators, dependencies_map


def _links_leaving(checkout: Path) -> list[Problem]:
    """Symbolic links that point outside the checkout: the platform must not read through them."""
    inside = checkout.resolve()
    problems = []
    for directory, subdirectories, files in os.walk(checkout):
        for name in (*subdirectories, *files):
            path = Path(directory, name)
            if not path.is_symlink():
                continue
            try:
                escapes = not path.resolve(strict=False).is_relative_to(inside)
            except (OSError, RuntimeError):  # a loop of links
                escapes = True
            if escapes:
                problems.append(
                    Problem(
                        path.relative_to(checkout).as_posix(),
                        None,
                        f"symbolic link to {os.readlink(path)} leaves the repository",
                    )
                )
    return problems


def _invalid(
    described: str, problems: Sequence[Problem], *, hint: str | None = None
) -> RepositoryImportError:
    lines = "\n".join(str(problem) for problem in problems)
    message = f"{described} is not a valid operators repository:\n{lines}"
    return RepositoryImportError(
        message + (f"\n({hint})" if hint else ""), [_entry(problem) for problem in problems]
    )


def _entry(problem: Problem) -> ProblemEntry:
    parts = PurePosixPath(problem.file).parts
    operator = parts[1] if len(parts) > 1 and parts[0] == OPERATORS_DIR else None
    return ProblemEntry(
        operator=operator, file=problem.file, line=problem.line, message=problem.message
    )
