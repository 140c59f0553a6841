"""Importing operators repositories at a ref: real git on local repositories, no network."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from flowui.operators.organize import organize_repository
from flowui.platform import free_port, is_process_running
from flowui.server.repository_import import (
    RepositoryImportError,
    import_repository,
    parse_source,
)
from flowui.storage import FileSystemRoot, InvalidIdError
from tests.support.operator_repositories import (
    GitHistory,
    commit_all,
    git,
    init_repository,
    make_original_layout_repository,
    make_repository,
    set_version,
    write_fake_git,
    write_operator,
)


def tree_of(directory: Path) -> list[str]:
    return sorted(path.relative_to(directory).as_posix() for path in directory.rglob("*"))


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> GitHistory:
    """A repository with two tagged versions and a feature branch; commits by ref."""
    repository = init_repository(tmp_path_factory.mktemp("history") / "ops")
    commits = {"v0.1.0": commit_all(repository, "Hello")}
    git(repository, "tag", "--annotate", "v0.1.0", "--message", "First release")
    set_version(repository, "0.2.0")
    write_operator(repository, "GoodbyeOperator")
    commits["v0.2.0"] = commits["main"] = commit_all(repository, "Goodbye")
    git(repository, "tag", "v0.2.0")  # lightweight: both kinds of tag are imported alike
    git(repository, "switch", "--quiet", "--create", "feature")
    set_version(repository, "0.3.0-dev")
    write_operator(repository, "WaveOperator")
    commits["feature"] = commit_all(repository, "Wave")
    git(repository, "switch", "--quiet", "main")
    return GitHistory(repository, commits)


@pytest.fixture
def root(tmp_path: Path) -> FileSystemRoot:
    return FileSystemRoot(tmp_path / "root").create()


def test_import_at_a_tag_installs_the_organized_checkout_without_git_history(
    history: GitHistory, root: FileSystemRoot
) -> None:
    source = parse_source(history.path.as_uri(), "v0.1.0")

    imported = import_repository(source, root, "demo-1")

    assert imported.path == root.operators_repositories / "demo-1"
    assert (imported.name, imported.version, imported.ref) == ("demo", "0.1.0", "v0.1.0")
    assert imported.commit == git(history.path, "rev-parse", "v0.1.0^{commit}")
    assert imported.source == history.path.as_uri()
    assert not (imported.path / ".git").exists()
    assert (imported.path / "operators" / "HelloOperator" / "operator.py").is_file()
    assert list(imported.operators) == ["HelloOperator"]
    assert imported.operators["HelloOperator"]["input_schema"]["properties"]["name"]["default"] == (
        "world"
    )
    assert imported.dependencies_map["group0"]["operators"] == ["HelloOperator"]
    compiled = imported.path / ".flowui" / "compiled_metadata.json"
    assert json.loads(compiled.read_text()) == imported.operators
    assert os.listdir(root.operators_repositories) == ["demo-1"]  # no staging left behind


@pytest.mark.parametrize(
    ("ref", "version", "operators"),
    [
        ("v0.1.0", "0.1.0", ["HelloOperator"]),
        ("v0.2.0", "0.2.0", ["GoodbyeOperator", "HelloOperator"]),
        ("feature", "0.3.0-dev", ["GoodbyeOperator", "HelloOperator", "WaveOperator"]),
        (None, "0.2.0", ["GoodbyeOperator", "HelloOperator"]),
    ],
    ids=["annotated-tag", "lightweight-tag", "branch", "default-branch"],
)
def test_each_ref_of_a_local_path_installs_its_own_version(
    history: GitHistory,
    root: FileSystemRoot,
    ref: str | None,
    version: str,
    operators: list[str],
) -> None:
    imported = import_repository(parse_source(str(history.path), ref), root, "checkout")

    assert imported.version == version
    assert sorted(imported.operators) == operators
    assert imported.ref == (ref or "main")
    assert imported.commit == history.commits[ref or "main"]
    assert sorted(path.name for path in (imported.path / "operators").iterdir()) == operators


@pytest.mark.parametrize("length", [40, 7], ids=["full-sha", "short-sha"])
def test_import_at_a_commit_sha_checks_out_that_commit(
    history: GitHistory, root: FileSystemRoot, length: int
) -> None:
    sha = history.commits["v0.1.0"][:length]

    imported = import_repository(parse_source(history.path.as_uri(), sha), root, "at-sha")

    assert imported.commit == history.commits["v0.1.0"]
    assert (imported.ref, imported.version) == (sha, "0.1.0")
    assert sorted(imported.operators) == ["HelloOperator"]
    assert not (imported.path / ".git").exists()


def test_a_plain_directory_is_copied_and_has_no_ref(tmp_path: Path, root: FileSystemRoot) -> None:
    directory = make_repository(tmp_path / "plain")

    imported = import_repository(parse_source(str(directory)), root, "plain")

    assert (imported.commit, imported.ref, imported.version) == (None, None, "0.1.0")
    assert imported.source == str(directory)
    with pytest.raises(ValueError, match="plain directory"):
        parse_source(str(directory), "main")


def _committed_flowui_repository(path: Path) -> Path:
    """Tag `organized`: .flowui committed (with an edited description); `stale`: one more
    operator added without organizing again."""
    repository = init_repository(path)
    organize_repository(repository)
    compiled_path = repository / ".flowui" / "compiled_metadata.json"
    compiled = json.loads(compiled_path.read_text())
    compiled["HelloOperator"]["description"] = "As committed."
    compiled_path.write_text(json.dumps(compiled, indent=4))
    commit_all(repository, "Organized")
    git(repository, "tag", "organized")
    write_operator(repository, "LateOperator")
    commit_all(repository, "Late")
    git(repository, "tag", "stale")
    return repository


def test_committed_flowui_files_are_installed_as_committed(
    tmp_path: Path, root: FileSystemRoot
) -> None:
    repository = _committed_flowui_repository(tmp_path / "organized")
    committed = git(repository, "show", "organized:.flowui/compiled_metadata.json")

    imported = import_repository(parse_source(str(repository), "organized"), root, "organized")

    assert imported.operators["HelloOperator"]["description"] == "As committed."
    assert (imported.path / ".flowui" / "compiled_metadata.json").read_text() == committed


def test_committed_flowui_files_that_miss_an_operator_are_rejected(
    tmp_path: Path, root: FileSystemRoot
) -> None:
    repository = _committed_flowui_repository(tmp_path / "organized")

    with pytest.raises(RepositoryImportError) as raised:
        import_repository(parse_source(str(repository), "stale"), root, "stale")

    assert raised.value.problems == [
        {
            "operator": "LateOperator",
            "file": "operators/LateOperator",
            "line": None,
            "message": "missing from .flowui/compiled_metadata.json",
        }
    ]
    assert "flowui operators organize" in str(raised.value)
    assert os.listdir(root.operators_repositories) == []


def test_an_original_flowui_repository_is_imported_with_its_flowui_files_organized_again(
    tmp_path: Path, root: FileSystemRoot
) -> None:
    repository = make_original_layout_repository(tmp_path / "legacy")
    git(repository, "init", "--quiet", "--initial-branch=main")
    commit_all(repository, "As the original layout keeps it, .flowui/ included")

    imported = import_repository(parse_source(str(repository), "main"), root, "legacy-1")

    assert (imported.name, imported.version) == ("legacy_tools", "0.3.0")
    assert sorted(imported.dependencies_map) == ["group0", "group1"]
    assert imported.dependencies_map["group1"]["source_image"] == (
        "acmelabs/legacy_tools:0.3.0-group1"
    )
    assert sorted(imported.operators) == [
        "NormalizeValuesOperator",
        "RunDigestOperator",
        "TextStatsOperator",
    ]
    compiled = json.loads((imported.path / ".flowui" / "compiled_metadata.json").read_text())
    assert {entry["version"] for entry in compiled.values()} == {"0.3.0"}
    assert all(entry["source_hash"].startswith("sha256:") for entry in compiled.values())


def test_an_invalid_repository_is_rejected_per_operator_and_leaves_the_root_as_it_was(
    tmp_path: Path, root: FileSystemRoot
) -> None:
    repository = init_repository(tmp_path / "broken", ("HelloOperator", "NoInputOperator"))
    write_operator(repository, "BrokenOperator", operator="class BrokenOperator(:\n")
    (repository / "operators" / "NoInputOperator" / "model.py").write_text("X = 1\n")
    commit_all(repository, "Broken")
    import_repository(parse_source(str(make_repository(tmp_path / "good"))), root, "earlier")
    before = tree_of(root.operators_repositories)

    with pytest.raises(RepositoryImportError) as raised:
        import_repository(parse_source(str(repository), "main"), root, "broken")

    problems = raised.value.problems
    assert {problem["operator"] for problem in problems} == {"BrokenOperator", "NoInputOperator"}
    [broken] = [problem for problem in problems if problem["operator"] == "BrokenOperator"]
    assert (broken["file"], broken["line"]) == ("operators/BrokenOperator/operator.py", 1)
    assert broken["message"].startswith("syntax error")
    assert {
        "operator": "NoInputOperator",
        "file": "operators/NoInputOperator/model.py",
        "line": None,
        "message": "no InputModel defined",
    } in problems
    assert f"{repository.as_uri()} at main is not a valid operators repository" in str(raised.value)
    assert tree_of(root.operators_repositories) == before


def test_a_symbolic_link_out_of_the_repository_is_rejected(
    tmp_path: Path, root: FileSystemRoot
) -> None:
    repository = init_repository(tmp_path / "linked")
    outside = tmp_path / "server-secret.txt"
    outside.write_text("not for operators\n")
    (repository / "operators" / "HelloOperator" / "notes.txt").symlink_to(outside)
    commit_all(repository, "Link")

    with pytest.raises(RepositoryImportError) as raised:
        import_repository(parse_source(str(repository)), root, "linked")

    assert [(p["operator"], p["file"]) for p in raised.value.problems] == [
        ("HelloOperator", "operators/HelloOperator/notes.txt")
    ]
    assert "leaves the repository" in str(raised.value)
    assert os.listdir(root.operators_repositories) == []


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("v9.9.9", "no branch or tag"), ("deadbeef", "no branch, tag or commit")],
)
def test_an_unknown_ref_is_named_with_the_refs_that_exist(
    history: GitHistory, root: FileSystemRoot, ref: str, expected: str
) -> None:
    with pytest.raises(RepositoryImportError) as raised:
        import_repository(parse_source(str(history.path), ref), root, "unknown")

    message = str(raised.value)
    assert f"ref {ref!r} not found in {history.path.as_uri()}: it is {expected} there" in message
    assert "branches: feature, main; tags: v0.1.0, v0.2.0" in message
    assert os.listdir(root.operators_repositories) == []


def test_a_missing_repository_reports_what_git_said(tmp_path: Path, root: FileSystemRoot) -> None:
    url = (tmp_path / "nowhere").as_uri()

    with pytest.raises(RepositoryImportError) as raised:
        import_repository(parse_source(url, "main"), root, "missing")

    assert f"cannot read the repository {url}" in str(raised.value)
    assert "does not appear to be a git repository" in str(raised.value)


def test_an_existing_checkout_is_kept_and_the_second_import_refused(
    history: GitHistory, root: FileSystemRoot
) -> None:
    first = import_repository(parse_source(str(history.path), "v0.1.0"), root, "same")
    before = tree_of(first.path)

    with pytest.raises(RepositoryImportError, match="already exists"):
        import_repository(parse_source(str(history.path), "v0.2.0"), root, "same")

    assert tree_of(first.path) == before
    assert os.listdir(root.operators_repositories) == ["same"]


def test_an_unsafe_checkout_id_is_refused_before_anything_is_fetched(
    history: GitHistory, tmp_path: Path
) -> None:
    root = FileSystemRoot(tmp_path / "root")

    with pytest.raises(InvalidIdError):
        import_repository(parse_source(str(history.path)), root, "../escape")

    assert not root.path.exists()


def test_a_checkout_folder_the_server_cannot_write_is_named_in_the_error(
    history: GitHistory, tmp_path: Path
) -> None:
    root = FileSystemRoot(tmp_path / "root").create()
    shutil.rmtree(root.operators_repositories)
    root.operators_repositories.write_text("not a folder")

    with pytest.raises(RepositoryImportError, match=r"cannot make a checkout in .*operators_rep"):
        import_repository(parse_source(str(history.path)), root, "blocked")

    assert root.operators_repositories.read_text() == "not a folder"


# --- sources ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("https://github.com/acme/ops.git", "https://github.com/acme/ops.git"),
        ("HTTPS://gitlab.example.com/group/sub/ops", "https://gitlab.example.com/group/sub/ops"),
        ("ssh://git@github.com/acme/ops.git", "ssh://git@github.com/acme/ops.git"),
        ("ssh://git@git.example.com:2222/acme/ops", "ssh://git@git.example.com:2222/acme/ops"),
        ("git@github.com:acme/ops.git", "git@github.com:acme/ops.git"),
        ("file:///srv/repositories/ops.git", "file:///srv/repositories/ops.git"),
        ("acme/ops", "https://github.com/acme/ops.git"),
        (" acme/ops.git\n", "https://github.com/acme/ops.git"),
    ],
)
def test_accepted_sources_are_normalized(text: str, url: str) -> None:
    assert parse_source(text).url == url


@pytest.mark.parametrize(
    ("text", "ref", "token", "reason"),
    [
        ("-uhack", None, None, "must not begin with '-'"),
        ("ext::sh -c touch /tmp/x", None, None, "ext:: transport is not allowed"),
        ("fd::17", None, None, "fd:: transport is not allowed"),
        ("http://x/y", None, None, "http:// is not allowed"),
        ("ftp://example.com/ops.git", None, None, "ftp:// URLs are not supported"),
        ("https://u:p@github.com/o/r", None, None, "give the token in the token field"),
        ("https://ghp_secret@github.com/o/r", None, None, "give the token in the token field"),
        ("git:pw@github.com:o/r.git", None, None, "give the token in the token field"),
        ("ssh://-oProxyCommand=touch/r", None, None, "no valid host name"),
        ("https://github.com/o/r?x=1", None, None, "no query"),
        ("relative/path/ops", None, None, "relative paths are not accepted"),
        ("./ops", None, None, "relative paths are not accepted"),
        ("/no/such/directory", None, None, "is not a directory"),
        ("acme/ops", "--upload-pack=x", None, "must not begin with '-'"),
        ("acme/ops", "a..b", None, "must not contain '..'"),
        ("acme/ops", "main\nx", None, "spaces or control characters"),
        ("acme/ops", "v1 x", None, "spaces or control characters"),
        ("acme/ops", "v1^", None, "not a valid branch, tag or commit name"),
        ("git@github.com:acme/ops.git", None, "t0ken", "only sent over https"),
    ],
)
def test_hostile_or_malformed_sources_are_rejected_with_the_reason(
    text: str, ref: str | None, token: str | None, reason: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_source(text, ref, token)


@pytest.mark.parametrize(
    "ref",
    [
        "main",
        "v1.0.0",
        "feature/new-ui",
        "release_2026.01",
        "deadbeef",
        "a@b",
        "a..b",
        "a b",
        "a\tb",
        "x.lock",
        "x.lock/y",
        "/x",
        "x/",
        "x//y",
        "@",
        "x@{1}",
        "x~1",
        "x^",
        "x:y",
        "x?",
        "x*",
        "x[y",
        "x\\y",
        ".x",
        "x/.y",
        "x.",
        "a\x7fb",
    ],
)
def test_refs_are_accepted_exactly_when_git_accepts_them(ref: str) -> None:
    git_accepts = (
        subprocess.run(["git", "check-ref-format", "--allow-onelevel", ref]).returncode == 0
    )
    try:
        parse_source("acme/ops", ref)
    except ValueError:
        accepted = False
    else:
        accepted = True
    assert accepted == git_accepts


# --- tokens and time limits ------------------------------------------------------------------


def _authorization(token: str) -> str:
    return base64.b64encode(f"x-access-token:{token}".encode()).decode()


def test_a_token_reaches_git_only_through_its_environment_and_never_the_checkout(
    history: GitHistory, root: FileSystemRoot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No https git server runs here: a wrapper in front of the real git records what it is
    given and points the https URL at the local repository."""
    token = "ghp_" + secrets.token_hex(16)
    url = "https://git.example.invalid/acme/ops.git"
    log = tmp_path / "git-calls.txt"
    real_git = shutil.which("git")
    write_fake_git(
        tmp_path / "bin",
        f'printf "args=%s\\nheader=%s\\n" "$*" "$GIT_CONFIG_VALUE_0" >> "{log}"\n'
        f'exec "{real_git}" -c "url.{history.path.as_uri()}.insteadOf={url}" "$@"\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")

    imported = import_repository(parse_source(url, "v0.2.0", token), root, "private")

    calls = log.read_text()
    assert token not in calls
    assert f"header=Authorization: Basic {_authorization(token)}" in calls
    assert not [line for line in calls.splitlines() if line.startswith("args=") and "Basic" in line]
    assert imported.source == url
    for path in imported.path.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert token.encode() not in content, path
            assert _authorization(token).encode() not in content, path


def test_a_failing_https_fetch_with_a_token_does_not_show_it(root: FileSystemRoot) -> None:
    token = "ghp_" + secrets.token_hex(16)
    url = f"https://127.0.0.1:{free_port()}/acme/ops.git"  # loopback, nothing listens

    with pytest.raises(RepositoryImportError) as raised:
        import_repository(parse_source(url, "main", token), root, "unreachable")

    assert f"cannot read the repository {url}" in str(raised.value)
    assert token not in str(raised.value)
    assert token not in repr(parse_source(url, "main", token))
    assert os.listdir(root.operators_repositories) == []


def test_what_git_says_is_shown_with_the_token_masked(
    root: FileSystemRoot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "ghp_" + secrets.token_hex(16)
    write_fake_git(tmp_path / "bin", 'echo "fatal: refused $GIT_CONFIG_VALUE_0" >&2\nexit 128\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")

    with pytest.raises(RepositoryImportError) as raised:
        import_repository(parse_source("acme/ops", None, token), root, "masked")

    assert "fatal: refused Authorization: Basic ***" in str(raised.value)
    assert _authorization(token) not in str(raised.value)


def test_a_git_command_over_its_time_limit_is_stopped_with_its_children(
    root: FileSystemRoot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    child_pid_file = tmp_path / "child.pid"
    write_fake_git(tmp_path / "bin", f'sleep 30 &\necho $! > "{child_pid_file}"\nwait\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    started = time.monotonic()

    with pytest.raises(RepositoryImportError) as raised:
        import_repository(parse_source("acme/ops", "v1"), root, "slow", timeout=0.5)

    assert time.monotonic() - started < 5
    assert str(raised.value) == (
        "git ls-remote of https://github.com/acme/ops.git at v1 timed out after 0.5 s"
    )
    assert os.listdir(root.operators_repositories) == []
    child = int(child_pid_file.read_text())
    deadline = time.monotonic() + 2  # SIGKILL is delivered asynchronously
    while is_process_running(child) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not is_process_running(child)
