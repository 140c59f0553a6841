"""The helper clients of the original FlowUI SDK (`flowui.client`).

S3Client runs against moto's real server (fixture `moto_server`). No GitHub is reachable here,
so GithubRestClient runs against a small local stand-in of the three GitHub REST routes it uses
(a repository, and a path's contents: read and create), written below.
"""

from __future__ import annotations

import ast
import base64
import importlib
import json
import os
import re
import sys
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from github import BadCredentialsException, GithubException, UnknownObjectException

from flowui.client import ClientConfigurationError
from flowui.client.github_rest_client import GithubRestClient
from flowui.client.s3_client import MissingAwsCredentialsError, S3Client, S3ClientError
from flowui.operators.dry_run import dry_run
from tests.support.aws import new_bucket
from tests.support.operator_repositories import make_original_layout_repository
from tests.support.paths import ROOT

SOURCE = ROOT / "src" / "flowui"
GITHUB_TOKEN = "ghp_stand-in-T0KEN-7d1e"


# boto3 reads no files of the developer's and asks no instance metadata service.
AWS_ISOLATION = {
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def isolated_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without the developer's AWS and GitHub settings (no test may
    reach a real account), with AWS_ISOLATION and `extra`."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_"))}
    return {**kept, **AWS_ISOLATION, **extra}


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """This process's environment set up for moto's server, as a task's would be."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "GITHUB_")):
            monkeypatch.delenv(name)
    settings = {
        **AWS_ISOLATION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION_NAME": "eu-west-1",
        "AWS_ENDPOINT_URL": moto_server,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return moto_server


def object_in_moto(endpoint: str, bucket: str, key: str) -> bytes:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


# --- S3Client -----------------------------------------------------------------------------------


def test_uploaded_file_is_listed_and_downloaded_to_a_file_and_as_bytes(aws: str, tmp_path: Path):
    bucket = new_bucket(aws, "photos")
    photo = tmp_path / "cat.png"
    photo.write_bytes(b"\x89PNG fake pixels")
    client = S3Client(bucket_name=bucket)

    client.upload_file_to_s3(object_key="edited/cat.png", file_path=str(photo))
    client.upload_file_to_s3(object_key="raw.txt", file_path=photo)

    listed = client.list_objects_from_bucket()
    assert [item.key for item in listed] == ["edited/cat.png", "raw.txt"]
    assert listed[0].size == len(photo.read_bytes())
    assert [item.key for item in client.list_objects_from_bucket(prefix="edited/")] == [
        "edited/cat.png"
    ]
    # A key with folders becomes folders under the target, as results_path / key does.
    target = tmp_path / "results" / "edited" / "cat.png"
    saved = client.download_file_from_s3_folder(object_key="edited/cat.png", file_path=str(target))
    assert saved == target
    assert target.read_bytes() == photo.read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["cat.png"]  # no partial file left
    as_bytes = client.download_file_from_s3_folder_as_bytes(object_key="edited/cat.png")
    assert as_bytes.read() == photo.read_bytes()
    assert object_in_moto(aws, bucket, "edited/cat.png") == photo.read_bytes()


def test_settings_come_from_flowui_names_then_aws_defaults(
    aws: str, monkeypatch: pytest.MonkeyPatch
):
    client = S3Client(bucket_name="any")
    assert client.endpoint_url == aws
    assert client._s3.meta.region_name == "eu-west-1"  # AWS_REGION_NAME, FlowUI's setting
    # boto3 itself reads AWS_ENDPOINT_URL too (since late 2023), so operators that call boto3
    # directly reach the same endpoint.
    assert boto3.session.Session().client("s3").meta.endpoint_url == aws

    monkeypatch.delenv("AWS_REGION_NAME")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")  # the S3-only one wins
    client = S3Client(bucket_name="any")
    assert client._s3.meta.region_name == "ap-south-1"
    assert client.endpoint_url == "http://127.0.0.1:1"
    assert S3Client(bucket_name="any", endpoint_url=aws).endpoint_url == aws


def test_missing_bucket_is_named_with_the_endpoint(aws: str):
    client = S3Client(bucket_name="no-such-bucket-here")

    with pytest.raises(S3ClientError) as raised:
        client.list_objects_from_bucket()

    message = str(raised.value)
    assert "S3 bucket 'no-such-bucket-here'" in message
    assert aws in message
    assert "does not exist" in message
    # Still botocore's error, so operators that catch ClientError keep working.
    assert isinstance(raised.value, ClientError)
    assert raised.value.response["Error"]["Code"] == "NoSuchBucket"


def test_missing_object_is_named_and_leaves_no_file(aws: str, tmp_path: Path):
    bucket = new_bucket(aws, "photos")
    client = S3Client(bucket_name=bucket)

    with pytest.raises(
        S3ClientError,
        match=re.escape(f"object 'gone.png' does not exist in S3 bucket '{bucket}' at {aws}"),
    ):
        client.download_file_from_s3_folder(object_key="gone.png", file_path=tmp_path / "gone.png")
    with pytest.raises(S3ClientError, match=re.escape("object 'gone.png' does not exist")):
        client.download_file_from_s3_folder_as_bytes(object_key="gone.png")

    assert list(tmp_path.iterdir()) == []


def test_upload_of_a_missing_file_names_the_file_and_the_target(aws: str, tmp_path: Path):
    client = S3Client(bucket_name="photos")

    with pytest.raises(FileNotFoundError) as raised:
        client.upload_file_to_s3(object_key="edited/x.png", file_path=tmp_path / "x.png")

    assert str(raised.value) == (
        f"cannot upload {tmp_path / 'x.png'} to s3://photos/edited/x.png: no such file"
    )


def test_upload_to_a_missing_bucket_names_the_bucket(aws: str, tmp_path: Path):
    photo = tmp_path / "x.png"
    photo.write_bytes(b"pixels")

    with pytest.raises(
        S3ClientError, match=re.escape(f"S3 bucket 'nowhere' at {aws} does not exist")
    ):
        S3Client(bucket_name="nowhere").upload_file_to_s3(object_key="x.png", file_path=photo)


def test_credentials_come_from_the_runtime_secrets_file_too(
    aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # The container runtimes mount the task's secrets as a file instead of its environment.
    bucket = new_bucket(aws, "photos")
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps({"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("FLOWUI_SECRETS_FILE", str(secrets_file))

    assert S3Client(bucket_name=bucket).list_objects_from_bucket() == []


def test_no_credentials_at_all_says_which_variables_to_set(
    aws: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with pytest.raises(MissingAwsCredentialsError) as raised:
        S3Client(bucket_name="photos").list_objects_from_bucket()

    assert "bucket 'photos'" in str(raised.value)
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in str(raised.value)
    assert isinstance(raised.value, NoCredentialsError)


def test_half_a_credential_pair_is_refused(aws: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with pytest.raises(ClientConfigurationError, match="AWS_SECRET_ACCESS_KEY is not set"):
        S3Client(bucket_name="photos")


# --- what each side needs installed ---------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "package", "requirement"),
    [
        ("flowui.client.s3_client", "boto3", "boto3"),
        ("flowui.client.github_rest_client", "github", "PyGithub"),
    ],
)
def test_client_without_its_package_says_what_to_add_to_the_requirements(
    module: str, package: str, requirement: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, package, None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, module)

    with pytest.raises(ImportError) as raised:
        importlib.import_module(module)

    assert f"add `{requirement}` to the requirements file" in str(raised.value)
    assert "dependencies/requirements_*.txt" in str(raised.value)


def imported_flowui_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("flowui")}


def test_only_operator_code_imports_the_clients():
    # Airflow's workers and FlowUI's server never import flowui.client, so they never need
    # boto3 or PyGithub for it: only the environment of a task whose operator uses a client.
    importers = [
        path.relative_to(SOURCE).as_posix()
        for path in SOURCE.rglob("*.py")
        if not path.is_relative_to(SOURCE / "client")
        and any(name.startswith("flowui.client") for name in imported_flowui_modules(path))
    ]
    assert importers == []
    for path in (SOURCE / "client").glob("*.py"):
        for name in imported_flowui_modules(path):
            assert name.split(".")[1] in {"client", "runtime"}, (path.name, name)


# --- GithubRestClient against a stand-in of GitHub's REST API ----------------------------------


@dataclass
class GithubStandIn:
    """Repositories (`owner/name` -> path -> bytes) served as GitHub's REST API serves them."""

    url: str = ""
    repositories: dict[str, dict[str, bytes]] = field(default_factory=dict)
    commits: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)


def serve_github(stand_in: GithubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def route(self) -> tuple[str, str | None, dict[str, list[str]]] | None:
            """(repository, path or None for the repository itself, query) of a known route."""
            parsed = urllib.parse.urlsplit(self.path)
            parts = parsed.path.split("/", 5)  # '', repos, owner, name, contents, path
            if len(parts) < 4 or parts[1] != "repos":
                return None
            repository = f"{parts[2]}/{parts[3]}"
            query = urllib.parse.parse_qs(parsed.query)
            if len(parts) == 4:
                return repository, None, query
            if parts[4] == "contents":
                return repository, urllib.parse.unquote(parts[5] if len(parts) > 5 else ""), query
            return None

        def authorized(self) -> bool:
            header = self.headers.get("Authorization", "")
            stand_in.authorizations.append(header)
            if header in (f"token {GITHUB_TOKEN}", f"Bearer {GITHUB_TOKEN}"):
                return True
            self.answer(401, {"message": "Bad credentials"})
            return False

        def file_entry(self, repository: str, path: str, content: bytes | None) -> dict[str, Any]:
            entry: dict[str, Any] = {
                "type": "file",
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "sha": uuid.uuid5(uuid.NAMESPACE_URL, path).hex,
                "size": len(stand_in.repositories[repository][path]),
                "url": f"{stand_in.url}/repos/{repository}/contents/{path}?ref=main",
            }
            if content is not None:
                entry |= {"encoding": "base64", "content": base64.encodebytes(content).decode()}
            return entry

        def do_GET(self) -> None:
            if not self.authorized():
                return
            route = self.route()
            if route is None or route[0] not in stand_in.repositories:
                return self.answer(404, {"message": "Not Found"})
            repository, path, _ = route
            files = stand_in.repositories[repository]
            if path is None:
                owner, name = repository.split("/")
                return self.answer(
                    200,
                    {
                        "name": name,
                        "full_name": repository,
                        "owner": {"login": owner},
                        "url": f"{stand_in.url}/repos/{repository}",
                    },
                )
            path = path.strip("/")
            if path in files:
                return self.answer(200, self.file_entry(repository, path, files[path]))
            inside = sorted(
                f for f in files if f.startswith(path + "/") and "/" not in f[len(path) + 1 :]
            )
            if not inside:
                return self.answer(404, {"message": "Not Found"})
            self.answer(200, [self.file_entry(repository, f, None) for f in inside])

        def do_PUT(self) -> None:
            if not self.authorized():
                return
            route = self.route()
            if route is None or route[0] not in stand_in.repositories or route[1] is None:
                return self.answer(404, {"message": "Not Found"})
            repository, path, _ = route
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            files = stand_in.repositories[repository]
            if path in files:
                return self.answer(422, {"message": 'Invalid request.\n\n"sha" wasn\'t supplied.'})
            files[path] = base64.b64decode(body["content"])
            stand_in.commits.append({"path": path, **body})
            sha = uuid.uuid4().hex
            self.answer(
                201,
                {
                    "content": self.file_entry(repository, path, None),
                    "commit": {"sha": sha, "message": body["message"]},
                },
            )

    return Handler


@pytest.fixture
def github_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[GithubStandIn]:
    """The stand-in on a free loopback port, with repository acme/pictures; the environment
    points GithubRestClient at it."""
    stand_in = GithubStandIn(
        repositories={
            "acme/pictures": {
                "photos/cat.png": b"\x89PNG cat",
                "photos/dog.png": b"\x89PNG dog",
                "README.md": b"# pictures",
            }
        }
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), serve_github(stand_in))
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("GITHUB_ACCESS_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", stand_in.url)
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_github_client_lists_a_folder_and_reads_its_files(github_api: GithubStandIn):
    client = GithubRestClient()

    files = client.list_contents(repo_name="acme/pictures", folder_path="photos")

    assert [f.name for f in files] == ["cat.png", "dog.png"]
    assert [f.decoded_content for f in files] == [b"\x89PNG cat", b"\x89PNG dog"]
    single = client.list_contents(repo_name="acme/pictures", folder_path="README.md")
    assert [f.decoded_content for f in single] == [b"# pictures"]
    assert set(github_api.authorizations) == {f"token {GITHUB_TOKEN}"}


def test_github_client_creates_a_file(github_api: GithubStandIn):
    client = GithubRestClient()

    created = client.create_file(
        repo_name="acme/pictures", file_path="edited/cat.png", content=b"\x89PNG edited"
    )

    assert github_api.repositories["acme/pictures"]["edited/cat.png"] == b"\x89PNG edited"
    assert github_api.commits[0]["message"] == "Add edited/cat.png"
    assert created["content"].path == "edited/cat.png"


def test_github_client_names_a_missing_repository_and_folder(github_api: GithubStandIn):
    client = GithubRestClient()

    with pytest.raises(UnknownObjectException) as missing_repository:
        client.list_contents(repo_name="acme/nothing", folder_path="photos")
    with pytest.raises(UnknownObjectException) as missing_folder:
        client.list_contents(repo_name="acme/pictures", folder_path="videos")

    assert str(missing_repository.value).startswith(
        f"repository 'acme/nothing' not found at {github_api.url}"
    )
    assert str(missing_folder.value).startswith(
        f"'videos' in acme/pictures not found at {github_api.url}"
    )


def test_github_client_does_not_replace_an_existing_file(github_api: GithubStandIn):
    with pytest.raises(GithubException) as raised:
        GithubRestClient().create_file(
            repo_name="acme/pictures", file_path="photos/cat.png", content=b"other"
        )

    assert raised.value.status == 422
    assert "creating 'photos/cat.png' in acme/pictures (does it exist already?" in str(raised.value)
    assert github_api.repositories["acme/pictures"]["photos/cat.png"] == b"\x89PNG cat"


def test_github_client_without_a_token_says_where_to_set_it(
    github_api: GithubStandIn, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("GITHUB_ACCESS_TOKEN")

    with pytest.raises(ClientConfigurationError, match="GITHUB_ACCESS_TOKEN is not set"):
        GithubRestClient()


def test_github_client_with_a_refused_token_says_so(github_api: GithubStandIn):
    with pytest.raises(BadCredentialsException) as raised:
        GithubRestClient(token="wrong").list_contents(repo_name="acme/pictures", folder_path="/")

    assert str(raised.value).startswith(
        f"repository 'acme/pictures': {github_api.url} refused the token given"
    )


# --- operators written for the original FlowUI, run by FlowUI's task runtime -----------------

ROUND_TRIP_MODELS = '''\
from pydantic import BaseModel, Field


class InputModel(BaseModel):
    """
    Upload a note to S3 and read it back
    """

    bucket_name: str = Field(
        default='bucket-name',
        description='Name of the bucket'
    )
    folder_name: str = Field(
        default='notes',
        description='Folder path within the bucket'
    )
    text: str = Field(
        description='What the note says'
    )


class OutputModel(BaseModel):
    """
    Upload a note to S3 and read it back
    """
    message: str = Field(
        default="",
        description="Output message to log"
    )
    keys: list = Field(
        description="The keys of the bucket"
    )
    read_back: str = Field(
        description="The note, as downloaded"
    )
    output_file_path: str = Field(
        description='Where the downloaded copy is'
    )
'''

ROUND_TRIP_OPERATOR = """\
from flowui.base_operator import BaseOperator
from flowui.client.s3_client import S3Client
from .models import InputModel, OutputModel

from pathlib import Path
import botocore


class NoteRoundTripOperator(BaseOperator):

    def operator_function(self, input_model: InputModel):
        s3_client = S3Client(bucket_name=input_model.bucket_name)
        note = Path(self.results_path) / "note.txt"
        note.write_text(input_model.text)
        try:
            object_key = f"{input_model.folder_name}/{note.name}"
            s3_client.upload_file_to_s3(object_key=object_key, file_path=str(note))
            keys = [obj.key for obj in s3_client.list_objects_from_bucket()]
            copy_path = str(Path(self.results_path) / "copy" / keys[0])
            s3_client.download_file_from_s3_folder(object_key=keys[0], file_path=copy_path)
            read_back = s3_client.download_file_from_s3_folder_as_bytes(object_key=keys[0])
        except botocore.exceptions.ClientError as e:
            raise e
        return OutputModel(
            message="Note stored and read back",
            keys=keys,
            read_back=read_back.read().decode(),
            output_file_path=copy_path
        )
"""

FOLDER_LISTING_MODELS = '''\
from pydantic import BaseModel, Field


class InputModel(BaseModel):
    """
    List a folder of a Github repository
    """

    repository_name: str = Field(
        description='The name of the target repository'
    )
    folder_path: str = Field(
        description='The folder path within the repository'
    )


class OutputModel(BaseModel):
    """
    List a folder of a Github repository
    """
    names: list = Field(
        description="The files of the folder"
    )
    sizes: list = Field(
        description="Their sizes in bytes"
    )


class SecretsModel(BaseModel):
    """
    List a folder of a Github repository
    """

    GITHUB_ACCESS_TOKEN: str = Field(
        description="Github access token"
    )
'''

FOLDER_LISTING_OPERATOR = """\
from flowui.base_operator import BaseOperator
from flowui.client.github_rest_client import GithubRestClient
from .models import InputModel, OutputModel


class FolderListingOperator(BaseOperator):

    def operator_function(self, input_model: InputModel):
        github_client = GithubRestClient()
        all_files = github_client.list_contents(
            repo_name=input_model.repository_name,
            folder_path=input_model.folder_path,
        )
        return OutputModel(
            names=[f.name for f in all_files],
            sizes=[len(f.decoded_content) for f in all_files]
        )
"""


def add_original_operator(repository: Path, name: str, models: str, operator: str) -> None:
    folder = repository / "operators" / name
    folder.mkdir(parents=True)
    (folder / "models.py").write_text(models)
    (folder / "operator.py").write_text(operator)
    metadata = {
        "name": name,
        "description": "some description",
        "dependency": {"requirements_file": "requirements_0.txt"},
        "tags": ["Example"],
        "style": {"node_label": name},
    }
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=4))


def test_original_operator_uses_s3_client_in_a_task(aws: str, tmp_path: Path):
    repository = make_original_layout_repository(tmp_path / "legacy")
    add_original_operator(
        repository, "NoteRoundTripOperator", ROUND_TRIP_MODELS, ROUND_TRIP_OPERATOR
    )
    bucket = new_bucket(aws, "photos")
    # The task runs in a child process (as in the process runtime) with exactly this environment.
    environment = isolated_environment(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION_NAME": "us-east-1",
            "AWS_ENDPOINT_URL": aws,
        }
    )

    outcome = dry_run(
        repository,
        "NoteRoundTripOperator",
        {"bucket_name": bucket, "text": "hello from a task"},
        root=tmp_path / "fs",
        environ=environment,
        timeout=120,
    )

    assert outcome.succeeded, outcome.error
    assert outcome.output is not None
    assert outcome.output["keys"] == ["notes/note.txt"]
    assert outcome.output["read_back"] == "hello from a task"
    assert Path(outcome.output["output_file_path"]).read_text() == "hello from a task"
    assert object_in_moto(aws, bucket, "notes/note.txt") == b"hello from a task"


def test_original_operator_uses_github_client_with_its_secret(
    github_api: GithubStandIn, tmp_path: Path
):
    repository = make_original_layout_repository(tmp_path / "legacy")
    add_original_operator(
        repository, "FolderListingOperator", FOLDER_LISTING_MODELS, FOLDER_LISTING_OPERATOR
    )
    # The token reaches the task as its SecretsModel's secret, as every runtime passes them.
    environment = isolated_environment(
        {"GITHUB_ACCESS_TOKEN": GITHUB_TOKEN, "GITHUB_API_URL": github_api.url}
    )

    outcome = dry_run(
        repository,
        "FolderListingOperator",
        {"repository_name": "acme/pictures", "folder_path": "photos"},
        root=tmp_path / "fs",
        environ=environment,
        timeout=120,
    )

    assert outcome.succeeded, outcome.error
    assert outcome.output == {"names": ["cat.png", "dog.png"], "sizes": [8, 8]}
    assert GITHUB_TOKEN not in outcome.paths.log.read_text()
