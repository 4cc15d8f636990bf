"""Run folders and the files in them, written so that nothing is ever half-written.

A run folder is `<runs_dir>/<stage>_<UTC timestamp>_<random>`. It is made with a
single `mkdir`, which fails if the folder exists, so two runs can never share
one, however many start in the same second. Files are written to a temporary
name in the same folder and renamed into place: a reader sees the old file or
the new one, never a piece of it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_ATTEMPTS = 100


def new_run_id(stage: str, now: datetime | None = None) -> str:
    """Return `<stage>_<UTC timestamp>_<6 random hex digits>`."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{stage}_{moment.strftime(TIMESTAMP_FORMAT)}_{secrets.token_hex(3)}"


def runs_folder(configured: str | Path) -> Path:
    """Where run folders go: `runtime.runs_dir`, under DVC in the repository DVC started from.

    `dvc exp run --queue/--temp` runs stages in a temporary copy that is deleted
    afterwards; DVC_ROOT names the original repository, so the records survive.
    """
    path = Path(configured)
    dvc_root = os.environ.get("DVC_ROOT")
    return Path(dvc_root) / path if dvc_root and not path.is_absolute() else path


def create_run_dir(runs_dir: Path, stage: str) -> tuple[str, Path]:
    """Create a new, empty run folder; return its id and path."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(MAX_ATTEMPTS):
        run_id = new_run_id(stage)
        path = runs_dir / run_id
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return run_id, path
    raise RuntimeError(f"could not create a unique run folder in {runs_dir}")


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Give a new temporary path beside `path`; rename it onto `path` if the block completes.

    Readers see the old file or the new one, never a piece of either. Jobs of a
    parallel sweep may write the same output at once: each writes its own
    temporary file, and the last rename wins, so the output is one job's whole file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per process and call; created by the writer, with the usual permissions.
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers never see a partial file."""
    with replacing(path) as temporary, temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def append_json_line(path: Path, data: Any) -> None:
    """Append one JSON object as a line (a crash can lose at most that line)."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(data, default=str) + "\n")
