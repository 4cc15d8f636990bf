"""Run folders (`runs/<stage>_<UTC time>_<random>`, one `mkdir` that fails if it exists, so no two
runs share one) and their files: atomic writes, forgiving reads. Imports no runtime module."""

import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RUNS = "runs"  # the runs folder, under the project root (or the debug root)
RECORD = "run.json"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
RUN_ID = re.compile(r"^(?P<stage>\w+)_(?P<stamp>[0-9]{8}T[0-9]{6}Z)_[0-9a-f]{6}$", re.ASCII)


class UsageError(ValueError):
    """Input that cannot run (command line, config, files): one line naming the fix, exit 2."""


def runs_dir(root: Path) -> Path:
    """The runs folder at `root`, or in DVC_ROOT's under `dvc exp run --queue` (in a copy)."""
    dvc_root = os.environ.get("DVC_ROOT")
    return (Path(dvc_root) if dvc_root and not root.is_absolute() else root) / RUNS


def create_run_dir(runs: Path, stage: str) -> tuple[str, Path]:
    """Create a new, empty run folder in `runs`; return its id and path."""
    while True:
        stamp = datetime.now(timezone.utc).strftime(TIMESTAMP_FORMAT)
        run_id = f"{stage}_{stamp}_{secrets.token_hex(3)}"
        try:
            (runs / run_id).mkdir(parents=True)
            return run_id, runs / run_id
        except FileExistsError:  # another run drew the same id this second: draw again
            continue
        except OSError as error:  # read-only, full, or not a folder
            raise UsageError(f"cannot make a run folder in {runs}: {error.strerror}") from error


def cluster_job() -> str | None:
    """The SLURM (or submitit_local) job running this process: kept when it is requeued."""
    env = os.environ.get
    job = env("SLURM_ARRAY_JOB_ID") and f"{env('SLURM_ARRAY_JOB_ID')}_{env('SLURM_ARRAY_TASK_ID')}"
    return job or env("SLURM_JOB_ID") or env("SUBMITIT_LOCAL_JOB_ID")


def check_name(text: str, what: str = "run id") -> str:
    """Return `text` unchanged if it is a plain name that cannot leave its folder."""
    if not text or text.startswith(".") or any(bad in text for bad in ("/", "\\", "\0")):
        raise UsageError(f"{what} '{text}' must be a plain name (no '/', not starting with '.')")
    return text


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`, renamed onto it if the block completes: the one writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if temporary.exists():  # not renamed (a read-only folder: never made; unlink would fail)
            temporary.unlink()


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, flushed to disk before the rename."""
    with replacing(path) as temporary, temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def read_json(source: Path | str | bytes) -> dict[str, Any]:
    """The JSON object in a file (or text); {} when missing, unreadable or not an object."""
    try:
        value = json.loads(source.read_bytes() if isinstance(source, Path) else source)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
