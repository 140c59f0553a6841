"""The dataset store: versioned datasets under the root's `dataset/{dataset-id}/`.

Each version is a directory `v0001`, `v0002`, ... holding one data file `data.<ext>` and
`meta.json`. A version appears whole (written under a hidden name, then renamed) and never
changes afterwards, so tasks and the platform can read it while others publish.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flowui.storage.paths import FileSystemRoot

META_FILE = "meta.json"
LATEST = "latest"
_VERSION_DIRECTORY = re.compile(r"v(\d{4,})")
_VERSION_REFERENCE = re.compile(r"v?(\d+)")
_DATA_FILE = re.compile(r"data(\.[a-z0-9]{1,16})?")


def version_name(number: int) -> str:
    return f"v{number:04d}"


def version_number(name: str) -> int | None:
    """The number of a version directory's name (`v0003` gives 3), None for anything else."""
    match = _VERSION_DIRECTORY.fullmatch(name)
    return int(match.group(1)) if match else None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class DatasetVersion:
    dataset_id: str
    number: int
    directory: Path
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return version_name(self.number)

    @property
    def file(self) -> Path:
        return self.directory / str(self.meta["file"])


class DatasetStore:
    """Versions of the datasets of one file-system root."""

    def __init__(self, root: FileSystemRoot) -> None:
        self.root = root

    def versions(self, dataset_id: str) -> list[int]:
        """The numbers of the dataset's published versions, oldest first."""
        directory = self.root.dataset(dataset_id)
        if not directory.is_dir():
            return []
        numbers = []
        for entry in directory.iterdir():
            match = _VERSION_DIRECTORY.fullmatch(entry.name)
            if match and entry.is_dir():
                numbers.append(int(match.group(1)))
        return sorted(numbers)

    def get(self, dataset_id: str, reference: str = LATEST) -> DatasetVersion:
        """The version meant by `reference`: "latest", "v0003" or "3"."""
        numbers = self.versions(dataset_id)
        if not numbers:
            raise ValueError(f"dataset {dataset_id!r} has no versions yet")
        if reference == LATEST:
            number = numbers[-1]
        else:
            match = _VERSION_REFERENCE.fullmatch(reference.strip())
            if not match or int(match.group(1)) not in numbers:
                known = ", ".join(version_name(n) for n in numbers)
                raise ValueError(
                    f"dataset {dataset_id!r} has no version {reference!r}; it has: {known}"
                )
            number = int(match.group(1))
        directory = self.root.dataset(dataset_id) / version_name(number)
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        return DatasetVersion(dataset_id, number, directory, meta)

    def publish(
        self,
        dataset_id: str,
        data_file: Path,
        meta: dict[str, Any],
        *,
        skip_if_unchanged: bool = False,
        move: bool = False,
        sha256: str | None = None,
    ) -> tuple[DatasetVersion, bool]:
        """Store a copy of `data_file` as the next version, with `meta`.

        Returns the version and whether it is new: with `skip_if_unchanged`, data equal to the
        latest version's gives that version back instead of a copy. `move` takes the file
        itself (it must be on the root's file system) and `sha256`, when the caller has it,
        saves reading the file again: for files received straight into the root.
        """
        sha256 = sha256 or file_sha256(data_file)
        if skip_if_unchanged and self.versions(dataset_id):
            latest = self.get(dataset_id)
            if latest.meta.get("sha256") == sha256:
                return latest, False
        directory = self.root.dataset(dataset_id)
        directory.mkdir(parents=True, exist_ok=True)
        # Readers skip hidden entries, so a version being written is never seen.
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=directory))
        try:
            staging.chmod(0o755)  # mkdtemp's 0700 would hide it from the root's other users
            stored_name = "data" + data_file.suffix.lower()
            if move:
                os.replace(data_file, staging / stored_name)
                # A temporary file's 0600 would hide the data from the root's other users.
                (staging / stored_name).chmod(0o644)
            else:
                shutil.copyfile(data_file, staging / stored_name)
            while True:
                existing = self.versions(dataset_id)
                number = (existing[-1] if existing else 0) + 1
                full_meta = {
                    **meta,
                    "dataset_id": dataset_id,
                    "version": version_name(number),
                    "file": stored_name,
                    "sha256": sha256,
                    "created": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                (staging / META_FILE).write_text(json.dumps(full_meta, indent=2), "utf-8")
                try:
                    os.rename(staging, directory / version_name(number))
                except OSError:
                    if (directory / version_name(number)).exists():
                        continue  # another writer published this number first: take the next
                    raise
                return DatasetVersion(
                    dataset_id, number, directory / version_name(number), full_meta
                ), True
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def install_version(
        self, dataset_id: str, number: int, write: Callable[[Path], None], meta: dict[str, Any]
    ) -> DatasetVersion:
        """Add version `number` as it exists elsewhere (a bucket): `write(path)` puts its data
        file at `path`, whose sha256 must be `meta["sha256"]`. Appears whole or not at all;
        raises FileExistsError when the number is taken, ValueError when the data differs."""
        name = str(meta.get("file", ""))
        if not _DATA_FILE.fullmatch(name):
            raise ValueError(
                f"dataset {dataset_id} {version_name(number)}: meta.json names data file "
                f"{name!r}; a data file is data.<extension>"
            )
        directory = self.root.dataset(dataset_id)
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=directory))
        try:
            staging.chmod(0o755)
            data_file = staging / name
            write(data_file)
            data_file.chmod(0o644)
            if (found := file_sha256(data_file)) != meta.get("sha256"):
                raise ValueError(
                    f"dataset {dataset_id} {version_name(number)}: received data has sha256 "
                    f"{found}, its meta.json says {meta.get('sha256')}"
                )
            (staging / META_FILE).write_text(json.dumps(meta, indent=2), "utf-8")
            target = directory / version_name(number)
            if target.exists():
                raise FileExistsError(f"dataset {dataset_id} already has {version_name(number)}")
            os.rename(staging, target)
            return DatasetVersion(dataset_id, number, target, meta)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
