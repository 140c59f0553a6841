"""Housekeeping of the trees: runs nobody has written to for a while move to their tree's S3
bucket, a tombstone in the tree says where each went, and their files are read back from there.
The platform's own tree (the root, for workflows compiled without the server) goes to the
platform's bucket (FLOWUI_STORAGE_BUCKET); each workspace's tree to the workspace's own bucket
(`workspace_bucket`), never to another's.

A run moves in steps, and stopping at any of them loses nothing: every file is uploaded to
`runs/{dag-id}/{run-dir}/` (same relative path, its sha256 as metadata and S3's own SHA-256
checksum) and checked with a HEAD; then the manifest `archived.json` is put beside them; then
the tombstone `runs/{dag-id}/{run-dir}.archived.json` is written in the tree; only then is the
run directory removed. The next housekeeping completes an interrupted one, skipping the files
the bucket already holds. A run is old when nothing in it (file or directory) has been modified
for the given time, so a run still being written is never touched; the housekeeping DAG itself
writes nothing under runs/.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from flowui.storage.datasets import file_sha256
from flowui.storage.files import write_json_atomically, write_text_atomically
from flowui.storage.paths import (
    FileSystemRoot,
    InvalidIdError,
    run_directory_name,
    validate_id,
    workspace_bucket,
)
from flowui.storage.s3sync import BucketUnavailable, s3_errors, upload_with_sha256

ARCHIVE_FORMAT = 1
BUCKET_PREFIX = "runs"
MANIFEST_NAME = "archived.json"
HOUSEKEEPING_DAG_ID = "flowui_housekeeping"
# Both words appear so Airflow's safe-mode file filter parses the stub.
HOUSEKEEPING_DAG_STUB = '''"""FlowUI's housekeeping: moves old runs to their trees' buckets."""

from flowui.airflow.housekeeping import load_housekeeping_dag

dag = load_housekeeping_dag(__file__)
'''
# Called with (the run being archived, bytes of it uploaded and checked since the last call).
Progress = Callable[[str, int], None]
Outcome = Literal["archived", "would archive", "kept", "failed"]


class ArchiveError(Exception):
    """A run that cannot be archived, or an archived file that cannot be read back: says which
    object or file, and why."""


# --- the tombstone ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchivedFile:
    path: str  # relative to the run directory, with '/'
    size: int
    sha256: str


@dataclass(frozen=True)
class Tombstone:
    """Where an archived run went; the same document is the manifest in the bucket."""

    dag_id: str
    run_directory: str
    bucket: str
    prefix: str  # of every object of the run: runs/{dag-id}/{run-dir}/
    archived_at: datetime
    files: tuple[ArchivedFile, ...]

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def file(self, path: str) -> ArchivedFile | None:
        return next((file for file in self.files if file.path == path), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": ARCHIVE_FORMAT,
            "dag_id": self.dag_id,
            "run_directory": self.run_directory,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "archived_at": self.archived_at.isoformat(),
            "files": [asdict(file) for file in self.files],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Tombstone:
        """Raises ValueError when `data` is not a tombstone of this format."""
        if not isinstance(data, dict) or data.get("format_version") != ARCHIVE_FORMAT:
            raise ValueError(f"not a tombstone of format {ARCHIVE_FORMAT}")
        try:
            return cls(
                dag_id=str(data["dag_id"]),
                run_directory=str(data["run_directory"]),
                bucket=str(data["bucket"]),
                prefix=str(data["prefix"]),
                archived_at=datetime.fromisoformat(data["archived_at"]),
                files=tuple(
                    ArchivedFile(str(file["path"]), int(file["size"]), str(file["sha256"]))
                    for file in data["files"]
                ),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"a field is missing or wrong: {error}") from None


def read_tombstone(root: FileSystemRoot, dag_id: str, run: str) -> Tombstone | None:
    """The tombstone of run `run` (its id or its directory's name); None if it is not archived.
    Raises ArchiveError naming the file when it cannot be read."""
    path = root.run_tombstone(dag_id, run)
    try:
        return Tombstone.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ArchiveError(f"{path}: unreadable tombstone of an archived run: {error}") from None


# --- archiving --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    workspace: int | None  # whose tree the run is in; None: the platform's
    bucket: str  # where it goes (or went)
    dag_id: str
    run_directory: str
    outcome: Outcome
    files: int
    bytes: int
    detail: str = ""  # why it was kept or failed, or what was left out


@dataclass(frozen=True)
class TreeReport:
    """One tree that was looked at: the platform's (workspace None) or a workspace's."""

    workspace: int | None
    bucket: str | None  # None: its name cannot be a bucket's (see error)
    error: str = ""  # why none of its old runs could go to its bucket

    @property
    def name(self) -> str:
        return "platform" if self.workspace is None else f"workspace {self.workspace}"


@dataclass
class ArchiveReport:
    """What a housekeeping did (or, in a dry run, would do), tree by tree and run by run;
    `str()` prints it."""

    older_than: timedelta
    cutoff: datetime  # runs last written before it are old
    dry_run: bool
    trees: list[TreeReport] = field(default_factory=list)
    runs: list[RunReport] = field(default_factory=list)

    def of(self, *outcomes: Outcome, tree: TreeReport | None = None) -> list[RunReport]:
        """The runs with one of `outcomes` (of `tree` only, when given)."""
        return [
            run
            for run in self.runs
            if run.outcome in outcomes and (tree is None or run.workspace == tree.workspace)
        ]

    @property
    def failed(self) -> list[RunReport]:
        return self.of("failed")

    @property
    def problems(self) -> list[str]:
        """A line per tree whose bucket failed it or some of its runs, naming the bucket; the
        housekeeping task and `flowui runs archive` fail with them once every tree is done."""
        lines = []
        for tree in self.trees:
            failed = len(self.of("failed", tree=tree))
            if tree.error:
                stay = f" ({failed} old run(s) stay in its tree)" if failed else ""
                lines.append(f"{tree.name}: {tree.error}{stay}")
            elif failed:
                lines.append(
                    f"{tree.name}: {failed} run(s) could not be archived to "
                    f"s3://{tree.bucket}/{BUCKET_PREFIX}/ (they stay in its tree)"
                )
        return lines

    def _counts(self, runs: list[RunReport]) -> dict[str, int]:
        moved = [run for run in runs if run.outcome in ("archived", "would archive")]
        return {
            "archived": len(moved),
            "kept": sum(run.outcome == "kept" for run in runs),
            "failed": sum(run.outcome == "failed" for run in runs),
            "files": sum(run.files for run in moved),
            "bytes": sum(run.bytes for run in moved),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON: the housekeeping task's XCom and `flowui runs archive --json`."""
        return {
            "older_than_days": self.older_than / timedelta(days=1),
            "cutoff": self.cutoff.isoformat(),
            "dry_run": self.dry_run,
            **self._counts(self.runs),
            "trees": [
                {
                    **asdict(tree),
                    **self._counts([run for run in self.runs if run.workspace == tree.workspace]),
                }
                for tree in self.trees
            ],
            "runs": [asdict(run) for run in self.runs],
        }

    def __str__(self) -> str:
        summary = self.to_dict()
        verb = "would archive" if self.dry_run else "archived"
        lines = [
            f"{verb} {summary['archived']} run(s) ({summary['files']} files, {summary['bytes']} "
            f"bytes), kept {summary['kept']} written since "
            f"{self.cutoff.isoformat(timespec='seconds')}, {summary['failed']} failed"
            + (" (dry run: nothing uploaded or removed)" if self.dry_run else "")
        ]
        for tree, counts in zip(self.trees, summary["trees"], strict=True):
            where = f"s3://{tree.bucket}/{BUCKET_PREFIX}/" if tree.bucket else "no bucket"
            error = f": {tree.error}" if tree.error else ""
            lines.append(
                f"{tree.name} -> {where}: {verb} {counts['archived']}, kept {counts['kept']}, "
                f"failed {counts['failed']}{error}"
            )
            for run in self.runs:
                if run.workspace == tree.workspace:
                    detail = f": {run.detail}" if run.detail else ""
                    lines.append(
                        f"  {run.outcome:<13} {run.dag_id}/{run.run_directory} ({run.files} "
                        f"files, {run.bytes} bytes){detail}"
                    )
        return "\n".join(lines)


@dataclass(frozen=True)
class _Scan:
    """A run directory as found: what would be archived, and when anything in it last changed."""

    files: dict[str, tuple[int, int]]  # relative path -> (size, mtime_ns)
    left_out: tuple[str, ...]  # links leading out of the run, and what is not a file
    last_written: float

    @property
    def bytes(self) -> int:
        return sum(size for size, _ in self.files.values())


def _scan(directory: Path) -> _Scan:
    inside = directory.resolve()
    files: dict[str, tuple[int, int]] = {}
    left_out = []
    last_written = directory.lstat().st_mtime
    for current, subdirectories, names in os.walk(directory):
        here = Path(current)
        for name in subdirectories:
            entry = here / name
            last_written = max(last_written, entry.lstat().st_mtime)
            if entry.is_symlink():  # os.walk does not enter it
                left_out.append(entry.relative_to(directory).as_posix())
        for name in names:
            entry = here / name
            relative = entry.relative_to(directory).as_posix()
            info = entry.lstat()
            last_written = max(last_written, info.st_mtime)
            if stat.S_ISLNK(info.st_mode):
                # A link within the run is archived as the file it names (results do that).
                target = entry.resolve()
                if target.is_relative_to(inside) and target.is_file():
                    info = target.stat()
                else:
                    left_out.append(relative)
                    continue
            elif not stat.S_ISREG(info.st_mode):
                left_out.append(relative)
                continue
            files[relative] = (info.st_size, info.st_mtime_ns)
    return _Scan(files, tuple(sorted(left_out)), last_written)


def _id_directories(parent: Path) -> Iterator[Path]:
    """The directories in `parent` (no links) whose names are ids, in name order."""
    for entry in sorted(parent.iterdir()):
        if not entry.is_dir() or entry.is_symlink():
            continue
        try:
            validate_id(entry.name)
        except InvalidIdError:
            continue
        yield entry


def _run_directories(tree: FileSystemRoot) -> Iterator[tuple[str, Path]]:
    """(dag id, run directory) of every run in the tree; names that are no ids are not runs."""
    if not tree.runs.is_dir():
        return
    for dag_directory in _id_directories(tree.runs):
        for run_directory in _id_directories(dag_directory):
            yield dag_directory.name, run_directory


def _stored(s3: Any, bucket: str, key: str) -> tuple[int, str | None] | None:
    """(size, sha256 metadata) of an object; None if the bucket has no such object."""
    from botocore.exceptions import ClientError

    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return int(head["ContentLength"]), head.get("Metadata", {}).get("sha256")


def _check_bucket(s3: Any, bucket: str) -> None:
    """Raise BucketUnavailable, saying why, when `bucket` cannot be reached. Asked once per
    tree before its first upload, so a missing bucket fails its tree in one request."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except s3_errors() as error:
        code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else ""
        # A HEAD answer has no body: S3 gives only the status as the code.
        reason = {"404": "no such bucket", "403": "access denied"}.get(str(code), str(error))
        raise BucketUnavailable(f"s3://{bucket}: {reason}") from None


def _upload_run(
    tree: FileSystemRoot,
    s3: Any,
    bucket: str,
    dag_id: str,
    directory: Path,
    scan: _Scan,
    now: datetime,
    progress: Progress | None,
    label: str,
) -> Tombstone:
    """Upload and check every file of the run, then put the manifest and write the tombstone."""
    run = directory.name
    prefix = f"{BUCKET_PREFIX}/{dag_id}/{run}/"
    earlier = read_tombstone(tree, dag_id, run)
    if earlier is not None and (earlier.bucket, earlier.prefix) != (bucket, prefix):
        raise ArchiveError(
            f"{dag_id}/{run} was archived to {earlier.uri} before; it stays in its tree until "
            f"its files there are moved to s3://{bucket}/{prefix}"
        )
    # A run whose removal was interrupted: its files that are gone from the tree are archived.
    archived = {file.path: file for file in earlier.files} if earlier else {}
    for relative, (size, _) in sorted(scan.files.items()):
        key = prefix + relative
        sha256 = file_sha256(directory / relative)
        if _stored(s3, bucket, key) != (size, sha256):
            upload_with_sha256(s3, directory / relative, bucket, key, sha256)
            stored = _stored(s3, bucket, key)
            if stored != (size, sha256):
                raise ArchiveError(
                    f"s3://{bucket}/{key}: the bucket holds {stored} (size, sha256), not the "
                    f"{size} bytes with sha256 {sha256} that were sent"
                )
        archived[relative] = ArchivedFile(relative, size, sha256)
        if progress is not None:
            progress(label, size)
    tombstone = Tombstone(
        dag_id, run, bucket, prefix, now, tuple(sorted(archived.values(), key=lambda f: f.path))
    )
    s3.put_object(
        Bucket=bucket,
        Key=prefix + MANIFEST_NAME,
        Body=json.dumps(tombstone.to_dict(), indent=2).encode(),
        ContentType="application/json",
    )
    write_json_atomically(tree.run_tombstone(dag_id, run), tombstone.to_dict())
    return tombstone


def archive_runs(
    root: FileSystemRoot,
    s3: Any,
    platform_bucket: str,
    older_than: timedelta,
    now: datetime,
    dry_run: bool = False,
    progress: Progress | None = None,
    only_workspace: int | None = None,
) -> ArchiveReport:
    """Move every run that nothing was written to since `now - older_than` to its tree's
    bucket (see the module's text): the root's own runs to `platform_bucket`, those of each
    workspace's tree to the workspace's bucket (`workspace_bucket`). With `only_workspace`,
    only that workspace's tree; with `dry_run`, only tell what would move.

    A run that fails stays in its tree and is reported with the error, and so does a tree
    whose bucket fails; the other runs and trees go on (`ArchiveReport.problems`).
    """
    report = ArchiveReport(older_than, now - older_than, dry_run)
    trees: list[int | None] = (
        [None, *root.workspace_ids()] if only_workspace is None else [only_workspace]
    )
    for workspace in trees:
        if workspace is None:
            tree, bucket = root, platform_bucket
        else:
            tree = root.workspace(workspace)
            try:
                bucket = workspace_bucket(platform_bucket, workspace)
            except InvalidIdError as error:
                report.trees.append(TreeReport(workspace, None, str(error)))
                continue
        report.trees.append(
            _archive_tree(report, tree, workspace, s3, bucket, now, dry_run, progress)
        )
    return report


@dataclass(frozen=True)
class _Found:
    """A run as found in a tree, before anything happened to it."""

    workspace: int | None
    bucket: str
    dag_id: str
    run_directory: str

    @property
    def label(self) -> str:
        """How progress names it."""
        run = f"{self.dag_id}/{self.run_directory}"
        return run if self.workspace is None else f"workspace {self.workspace}: {run}"

    def report(self, outcome: Outcome, files: int, size: int, detail: str = "") -> RunReport:
        return RunReport(
            self.workspace,
            self.bucket,
            self.dag_id,
            self.run_directory,
            outcome,
            files,
            size,
            detail,
        )


def _archive_tree(
    report: ArchiveReport,
    tree: FileSystemRoot,
    workspace: int | None,
    s3: Any,
    bucket: str,
    now: datetime,
    dry_run: bool,
    progress: Progress | None,
) -> TreeReport:
    """Archive the old runs of one tree to its bucket, adding each run to `report`."""
    try:
        runs = list(_run_directories(tree))
    except OSError as error:
        return TreeReport(workspace, bucket, f"{tree.runs}: {error}")
    unavailable = ""  # set once the bucket failed: the tree's remaining old runs stay
    checked = dry_run  # a dry run does not ask the bucket
    for dag_id, directory in runs:
        found = _Found(workspace, bucket, dag_id, directory.name)
        try:
            scan = _scan(directory)
        except OSError as error:
            report.runs.append(found.report("failed", 0, 0, str(error)))
            continue
        files, size = len(scan.files), scan.bytes
        if scan.last_written >= report.cutoff.timestamp():
            written = datetime.fromtimestamp(scan.last_written, now.tzinfo)
            detail = f"last written {written.isoformat(timespec='seconds')}"
            report.runs.append(found.report("kept", files, size, detail))
            continue
        if not checked:
            checked = True
            try:
                _check_bucket(s3, bucket)
            except BucketUnavailable as error:
                unavailable = str(error)
        if unavailable:
            report.runs.append(found.report("failed", files, size, unavailable))
            continue
        report.runs.append(_archive_run(tree, s3, found, directory, scan, now, dry_run, progress))
    return TreeReport(workspace, bucket, unavailable)


def _archive_run(
    tree: FileSystemRoot,
    s3: Any,
    found: _Found,
    directory: Path,
    scan: _Scan,
    now: datetime,
    dry_run: bool,
    progress: Progress | None,
) -> RunReport:
    files, size = len(scan.files), scan.bytes
    left_out = f"left out: {', '.join(scan.left_out)}" if scan.left_out else ""
    if dry_run:
        return found.report("would archive", files, size, left_out)
    try:
        _upload_run(
            tree, s3, found.bucket, found.dag_id, directory, scan, now, progress, found.label
        )
        if _scan(directory) != scan:
            detail = "written to while it was archived; archived again next time"
            return found.report("kept", files, size, detail)
        shutil.rmtree(directory)
    except (ArchiveError, OSError) as error:
        return found.report("failed", files, size, str(error))
    except s3_errors() as error:
        return found.report("failed", files, size, str(error))
    return found.report("archived", files, size, left_out)


# --- reading back -----------------------------------------------------------------------------


def _archived_entry(
    root: FileSystemRoot, dag_id: str, run: str, relative_path: str
) -> tuple[Tombstone, ArchivedFile]:
    parts = PurePosixPath(relative_path).parts
    if (
        not parts
        or relative_path != "/".join(parts)
        or any(part in (".", "..") for part in parts)
        or "\x00" in relative_path
    ):
        raise ValueError(f"{relative_path!r} is not a path inside a run (relative, no '..')")
    tombstone = read_tombstone(root, validate_id(dag_id, "dag id"), run_directory_name(run))
    if tombstone is None:
        raise FileNotFoundError(f"run {run!r} of {dag_id} is not archived")
    file = tombstone.file(relative_path)
    if file is None:
        raise FileNotFoundError(f"{relative_path} is not among the files of {tombstone.uri}")
    return tombstone, file


def read_archived_file(
    root: FileSystemRoot, s3: Any, dag_id: str, run: str, relative_path: str
) -> bytes:
    """A file of an archived run (`run`: its id or its directory's name), checked against its
    sha256. Raises ValueError for a path that leaves the run, FileNotFoundError when the run
    is not archived or the file was not in it, ArchiveError when the bucket fails."""

    tombstone, file = _archived_entry(root, dag_id, run, relative_path)
    key = tombstone.prefix + file.path
    try:
        data: bytes = s3.get_object(Bucket=tombstone.bucket, Key=key)["Body"].read()
    except s3_errors() as error:
        raise ArchiveError(f"s3://{tombstone.bucket}/{key}: {error}") from None
    received = hashlib.sha256(data).hexdigest()
    if received != file.sha256:
        raise ArchiveError(
            f"s3://{tombstone.bucket}/{key}: received data has sha256 {received}, "
            f"archived was {file.sha256}"
        )
    return data


def copy_archived_file(
    root: FileSystemRoot, s3: Any, dag_id: str, run: str, relative_path: str, target: Path
) -> ArchivedFile:
    """Download a file of an archived run to `target`, checked against its sha256 (for files
    too large to hold in memory); raises as `read_archived_file`."""

    tombstone, file = _archived_entry(root, dag_id, run, relative_path)
    key = tombstone.prefix + file.path
    try:
        s3.download_file(tombstone.bucket, key, str(target))
    except s3_errors() as error:
        raise ArchiveError(f"s3://{tombstone.bucket}/{key}: {error}") from None
    received = file_sha256(target)
    if received != file.sha256:
        raise ArchiveError(
            f"s3://{tombstone.bucket}/{key}: received data has sha256 {received}, "
            f"archived was {file.sha256}"
        )
    return file


# --- the housekeeping DAG's files -------------------------------------------------------------


@dataclass(frozen=True)
class HousekeepingSettings:
    """What the housekeeping DAG runs with (JSON beside its stub; no secret: the buckets'
    credentials come from the environment of Airflow's processes)."""

    root: str
    # The platform's bucket (FLOWUI_STORAGE_BUCKET), after which each workspace's is named;
    # None: nothing is archived.
    bucket: str | None
    region: str
    archive_runs_after_days: int
    interval_hours: int
    dry_run: bool

    @classmethod
    def read(cls, path: Path) -> HousekeepingSettings:
        """Raises ValueError naming the file when it is not such a file."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            settings = cls(**{name: data[name] for name in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not the housekeeping DAG's settings: {error}") from None
        if (
            data.get("format_version") != ARCHIVE_FORMAT
            or not isinstance(settings.root, str)
            or not isinstance(settings.bucket, str | None)
            or not isinstance(settings.region, str)
            or not isinstance(settings.dry_run, bool)
            or not all(
                isinstance(number, int) and number > 0
                for number in (settings.archive_runs_after_days, settings.interval_hours)
            )
        ):
            raise ValueError(f"{path}: not the housekeeping DAG's settings of this FlowUI")
        return settings


def housekeeping_dag_paths(root: FileSystemRoot) -> tuple[Path, Path]:
    """The settings (JSON) and the stub of the housekeeping DAG in the root's DAG folder."""
    return (
        root.airflow_dags / f"{HOUSEKEEPING_DAG_ID}.json",
        root.airflow_dags / f"{HOUSEKEEPING_DAG_ID}.py",
    )


def write_housekeeping_dag(root: FileSystemRoot, settings: HousekeepingSettings) -> Path:
    """Write (or refresh) the housekeeping DAG: its settings, then its constant stub; returns
    the stub's path. Unchanged files are left alone, so Airflow does not parse them again."""
    settings_path, stub_path = housekeeping_dag_paths(root)
    document = {"format_version": ARCHIVE_FORMAT, **asdict(settings)}
    try:
        changed = json.loads(settings_path.read_text(encoding="utf-8")) != document
    except (OSError, ValueError):
        changed = True
    if changed:
        write_json_atomically(settings_path, document)  # first: the stub never reads half of it
    if not stub_path.is_file() or stub_path.read_text(encoding="utf-8") != HOUSEKEEPING_DAG_STUB:
        write_text_atomically(stub_path, HOUSEKEEPING_DAG_STUB)
    elif changed:
        os.utime(stub_path)  # Airflow re-parses files by modification time
    return stub_path
