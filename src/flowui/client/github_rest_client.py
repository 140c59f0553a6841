"""`GithubRestClient`: the files of GitHub repositories, as operators of the original FlowUI SDK
use them (PyGithub underneath).

Settings come from the task's environment (else the runtime's secrets file): the token from
GITHUB_ACCESS_TOKEN; the API's base URL from GITHUB_API_URL (GitHub Enterprise Server's
`https://HOST/api/v3`; GitHub Actions sets it), default https://api.github.com.
"""

from __future__ import annotations

from typing import Any, TypeVar

from flowui.client import ClientConfigurationError, task_setting

try:
    from github import Auth, Github, GithubException
    from github.ContentFile import ContentFile
    from github.Repository import Repository
except ModuleNotFoundError as error:
    if error.name != "github":
        raise
    raise ModuleNotFoundError(
        "flowui.client.github_rest_client needs PyGithub, and this operator's environment has "
        "no module github: add `PyGithub` to the requirements file of the operator's dependency "
        "group (dependencies/requirements_*.txt, the one its metadata.json names)",
        name=error.name,
    ) from error

__all__ = ["DEFAULT_API_URL", "GithubRestClient"]

DEFAULT_API_URL = "https://api.github.com"

_Error = TypeVar("_Error", bound=GithubException)


class GithubRestClient:
    """Lists and creates files of GitHub repositories (named `owner/name`).

    `token` and `api_url` override the environment's. A failed request raises PyGithub's own
    exception (`UnknownObjectException` for a 404, ...) with a message that says what was
    missing where; `github` is the underlying `github.Github` for anything else.
    """

    def __init__(self, token: str | None = None, api_url: str | None = None) -> None:
        self._token_source = "the token given" if token else "the token of GITHUB_ACCESS_TOKEN"
        token = token or task_setting("GITHUB_ACCESS_TOKEN")
        if not token:
            raise ClientConfigurationError(
                "GITHUB_ACCESS_TOKEN is not set: declare it in the operator's SecretsModel so "
                "the task receives it (or pass GithubRestClient(token=...))"
            )
        self.api_url = (api_url or task_setting("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        self.github = Github(auth=Auth.Token(token), base_url=self.api_url)

    def list_contents(
        self, repo_name: str, folder_path: str, ref: str | None = None
    ) -> list[ContentFile]:
        """The files and folders in `folder_path` of repository `repo_name` (at branch, tag or
        commit `ref`; default: its default branch); a file's path gives that file alone.

        A file's `.decoded_content` is fetched when first read.
        """
        repository = self._repository(repo_name)
        at = f" at {ref!r}" if ref else ""
        try:
            if ref:
                contents = repository.get_contents(folder_path, ref=ref)
            else:
                contents = repository.get_contents(folder_path)
        except GithubException as error:
            raise self._described(error, f"{folder_path!r} in {repo_name}{at}") from error
        return contents if isinstance(contents, list) else [contents]

    def create_file(
        self,
        repo_name: str,
        file_path: str,
        content: str | bytes,
        message: str | None = None,
        branch: str | None = None,
    ) -> dict[str, Any]:
        """Commit a new file `file_path` with `content` to repository `repo_name` (on `branch`;
        default: its default branch). PyGithub's answer: the `content` and the `commit`.

        An existing file is not replaced: GitHub refuses the request.
        """
        repository = self._repository(repo_name)
        options: dict[str, Any] = {"branch": branch} if branch else {}
        try:
            created: dict[str, Any] = repository.create_file(
                file_path, message or f"Add {file_path}", content, **options
            )
        except GithubException as error:
            what = f"creating {file_path!r} in {repo_name}"
            if error.status == 422:
                what += " (does it exist already? create_file does not replace a file)"
            raise self._described(error, what) from error
        return created

    def _repository(self, repo_name: str) -> Repository:
        try:
            return self.github.get_repo(repo_name)
        except GithubException as error:
            raise self._described(error, f"repository {repo_name!r}") from error

    def _described(self, error: _Error, what: str) -> _Error:
        """`error` again (same class, status and data) with a message that says what and where."""
        if error.status == 404:
            sentence = f"{what} not found at {self.api_url} (or the token may not read it)"
        elif error.status == 401:
            sentence = f"{what}: {self.api_url} refused {self._token_source}"
        else:
            sentence = f"{what}: {self.api_url} answered {error.status}"
        return type(error)(error.status, error.data, error.headers, sentence)
