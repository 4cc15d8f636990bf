"""Run folders on the DVC remote: where they are stored, and `runs push` / `runs pull`.

Runs go to the project's default DVC remote, under `runs/` beside DVC's data
(`s3://bucket/prefix/runs/<id>/`, or `<folder>/runs/<id>/` for a local remote).
Both directions compare listings and move only what is missing (push also
resends a file whose size changed), run.json last, so a run folder with a
record has all its files and an interrupted transfer resumes when run again.

The run model and the command line are in runs.py, which imports this module
only for `push` and `pull`: `runs ls` never loads botocore.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from .remote import TIMEOUT_S, RemoteError, check, credentials, remote_settings
from .runs import (
    RECORD,
    UNKNOWN,
    Filters,
    RunInfo,
    cutoff_stamp,
    describe_run,
    format_size,
    is_run_id,
    json_object,
    plural,
    run_names,
)

RUNS_PREFIX = "runs"
# Files still being written (`.x.tmp` by records.py, `.x.partial` by run.py, `.x.part`
# here) are never synced.
PARTIAL = re.compile(r"^\..+\.(tmp|part|partial)$")
CHUNK = 1024 * 1024


# ---------------------------------------------------------------- stores


class Store(Protocol):
    """Where pushed runs live: `<id>/<file>` keys below one `runs/` folder or prefix."""

    @property
    def url(self) -> str:
        """Where the runs go, for messages."""

    def listing(self, prefix: str) -> dict[str, int]:
        """Every key starting with `prefix`, with its size in bytes."""

    def put(self, source: Path, key: str) -> None:
        """Store a local file under `key`, replacing any object there."""

    def get(self, key: str, target: IO[bytes]) -> None:
        """Write the object stored under `key` to `target`."""


@dataclass
class DirStore:
    """A local DVC remote: runs go to `<remote folder>/runs/<id>/`."""

    base: Path

    @property
    def url(self) -> str:
        """Where the runs go, for messages."""
        return f"{self.base}/"

    def listing(self, prefix: str) -> dict[str, int]:
        """Every file of every run folder whose id starts with `prefix`, with its size."""
        found = {}
        for name in run_names(self.base, prefix):
            folder = self.base / name
            for file in run_files(folder):
                found[f"{name}/{file.relative_to(folder).as_posix()}"] = file.stat().st_size
        return found

    def put(self, source: Path, key: str) -> None:
        """Copy a file in, through a temporary name."""
        with source.open("rb") as data:
            write_atomic(self.base / key, lambda out: shutil.copyfileobj(data, out, CHUNK))

    def get(self, key: str, target: IO[bytes]) -> None:
        """Copy a stored file out."""
        with (self.base / key).open("rb") as data:
            shutil.copyfileobj(data, target, CHUNK)


@dataclass
class S3Store:
    """An S3 DVC remote (Backblaze B2): runs go to `s3://bucket/prefix/runs/<id>/`."""

    client: Any
    bucket: str
    base: str

    @property
    def url(self) -> str:
        """Where the runs go, for messages."""
        return f"s3://{self.bucket}/{self.base}"

    def listing(self, prefix: str) -> dict[str, int]:
        """Every object under `runs/<prefix>`, with its size."""
        with _s3_errors(self.url):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.base + prefix
            )
            return {
                str(item["Key"]).removeprefix(self.base): int(item["Size"])
                for page in pages
                for item in page.get("Contents", [])
            }

    def put(self, source: Path, key: str) -> None:
        """Upload one file."""
        with _s3_errors(self.url + key), source.open("rb") as data:
            self.client.put_object(Bucket=self.bucket, Key=self.base + key, Body=data)

    def get(self, key: str, target: IO[bytes]) -> None:
        """Download one object."""
        with _s3_errors(self.url + key):
            body = self.client.get_object(Bucket=self.bucket, Key=self.base + key)["Body"]
            for chunk in body.iter_chunks(CHUNK):
                target.write(chunk)


@contextmanager
def _s3_errors(where: str) -> Iterator[None]:
    """Turn botocore's errors into one-line RemoteErrors naming the object."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise RemoteError(f"{where}: the server answered {code or error}") from error
    except BotoCoreError as error:
        raise RemoteError(f"{where}: {error}") from error


def open_store(root: Path) -> Store:
    """The `runs/` folder of the project's default DVC remote, checked before use."""
    name, settings = remote_settings(root, None)
    url = str(settings["url"])
    if not url.startswith("s3://"):
        if "://" in url:
            raise RemoteError(
                f"remote '{name}' is {url}; `runs push/pull` work with S3 (B2) and local "
                "remotes only: make one the default with `make use-b2 BUCKET=<bucket>`"
            )
        folder = Path(url) if Path(url).is_absolute() else root / ".dvc" / url
        return DirStore(folder / RUNS_PREFIX)
    # The same preflight as `make push`: one clear error for a missing key, a wrong
    # endpoint or a missing bucket. It also points AWS_CONFIG_FILE at the remote's
    # configpath, whose checksum settings B2 needs.
    check(root, name)
    import botocore.session
    from botocore.config import Config as BotoConfig

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    key_id, key = credentials(settings)
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=settings.get("endpointurl"),
        region_name=settings.get("region"),
        aws_access_key_id=key_id,
        aws_secret_access_key=key,
        config=BotoConfig(connect_timeout=TIMEOUT_S, read_timeout=6 * TIMEOUT_S),
    )
    base = f"{prefix.strip('/')}/{RUNS_PREFIX}/" if prefix.strip("/") else f"{RUNS_PREFIX}/"
    return S3Store(client, bucket, base)


# ---------------------------------------------------------------- transfers


def run_files(folder: Path) -> list[Path]:
    """The regular files of a run folder, run.json last (a run synced that far is complete).

    Symbolic links and files still being written are left out.
    """
    files = []
    for parent, _, names in os.walk(folder):  # os.walk does not enter linked folders
        for name in names:
            path = Path(parent) / name
            if not PARTIAL.match(name) and not path.is_symlink():
                files.append(path)
    return sorted(files, key=lambda path: (path == folder / RECORD, path))


def write_atomic(target: Path, fill: Callable[[IO[bytes]], None]) -> None:
    """Write a file through a temporary name, so that an interrupted copy leaves no half file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            fill(out)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@dataclass
class Tally:
    """What a push or pull moved, with a progress line printed for each run."""

    runs: int = 0
    files: int = 0
    size: int = 0
    unchanged: int = 0

    def add(self, run_id: str, files: int, size: int, verb: str) -> None:
        """Count one run moved, with its files and bytes, and say so."""
        self.runs, self.files, self.size = self.runs + 1, self.files + files, self.size + size
        print(f"  {run_id}: {plural(files, 'file')} ({format_size(size)}) {verb}", flush=True)

    def skip(self, run_id: str, reason: str) -> None:
        """Count one run that needed nothing moved, and say why."""
        self.unchanged += 1
        print(f"  {run_id}: {reason}", flush=True)

    def totals(self) -> str:
        """What moved in all, as `2 runs (14 files, 3.1 MB)`."""
        files = plural(self.files, "file")
        return f"{plural(self.runs, 'run')} ({files}, {format_size(self.size)})"


def push(runs: Sequence[RunInfo], store: Store, prefix: str = "") -> Tally:
    """Upload the files of `runs` that the store lacks or holds with another size."""
    stored = store.listing(prefix)
    tally = Tally()
    for run in runs:
        files = {
            f"{run.id}/{file.relative_to(run.path).as_posix()}": file
            for file in run_files(run.path)
        }
        sizes = {key: file.stat().st_size for key, file in files.items()}
        todo = [key for key in files if stored.get(key) != sizes[key]]
        if not todo:
            tally.skip(run.id, "up to date")
            continue
        for key in todo:
            store.put(files[key], key)
        tally.add(run.id, len(todo), sum(sizes[key] for key in todo), "sent")
    return tally


def remote_runs(store: Store, filters: Filters) -> dict[str, dict[str, int]]:
    """The runs in the store that match the filters: id -> {file: size}, oldest first.

    Keys that are not `<run id>/<path>` with a safe path are ignored: a run never
    lands outside its folder, whatever the bucket holds.
    """
    cutoff = cutoff_stamp(filters.since)
    found: dict[str, dict[str, int]] = {}
    for key, size in store.listing(filters.prefix or "").items():
        run_id, _, name = key.partition("/")
        if not is_run_id(run_id, cutoff):
            continue
        parts = name.split("/")
        if all(part not in ("", ".", "..") for part in parts) and not PARTIAL.match(parts[-1]):
            found.setdefault(run_id, {})[name] = size
    if filters.status is not None:
        found = {
            run_id: files
            for run_id, files in found.items()
            if _remote_status(store, run_id, files) == filters.status
        }
    return dict(sorted(found.items(), key=lambda item: (item[0].split("_")[-2], item[0])))


def pull(runs: Mapping[str, Mapping[str, int]], store: Store, runs_dir: Path) -> Tally:
    """Download the files of `runs` missing locally; files already here are never replaced."""
    tally = Tally()
    for run_id, files in runs.items():
        folder = runs_dir / run_id
        if not is_run_id(run_id) or folder.is_symlink() or folder.is_file():
            print(f"  {run_id}: skipped, {folder} is not a run folder", flush=True)
            continue
        # run.json last: a folder with a run record has all its files.
        names = sorted(files, key=lambda name: (name == RECORD, name))
        # Never write through a link in a local folder: nothing lands outside the run.
        inside = folder.resolve()
        todo = [
            name
            for name in names
            if not (folder / name).exists() and (folder / name).resolve().is_relative_to(inside)
        ]
        if not todo:
            tally.skip(run_id, "already here")
            continue
        for name in todo:
            write_atomic(folder / name, functools.partial(store.get, f"{run_id}/{name}"))
        tally.add(run_id, len(todo), sum(files[name] for name in todo), "received")
    return tally


def _remote_status(store: Store, run_id: str, files: Mapping[str, int]) -> str:
    """A stored run's status, read from its stored run.json (`unknown` without one)."""
    if RECORD not in files:
        return UNKNOWN
    buffer = io.BytesIO()
    store.get(f"{run_id}/{RECORD}", buffer)
    return describe_run(Path(run_id), json_object(buffer.getvalue()) or None).status
