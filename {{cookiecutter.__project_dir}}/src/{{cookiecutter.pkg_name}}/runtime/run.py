"""One execution of one stage: its folder, its record, its logs, its artifacts, its tracker.

`execute` is the only place that calls a stage. It makes the run folder, saves
the resolved config, the overrides and the provenance, sets the seeds, starts
the tracker, runs the stage, and writes how it ended, whatever happened:
completed, failed (with the traceback) or interrupted (Ctrl-C, SIGTERM).
Every JSON file is replaced atomically, so even `kill -9` leaves no half file.

In debug mode an error is raised at once, with its full traceback. In normal
mode it is recorded and reported, and `execute` returns, so the other jobs of
a sweep still run; the command exits non-zero at the end.
"""

from __future__ import annotations

import logging
import math
import os
import random
import shutil
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any, cast

from omegaconf import OmegaConf

from ..config import Config
from . import registry
from .logs import configure_logging, stage_logger
from .provenance import collect, git_diff
from .records import runs_dir as records_runs_dir
from .records import (
    append_json_line,
    create_run_dir,
    replacing,
    write_json,
    write_text,
)
from .tracking import NullTracker, Tracker, open_tracker

Metrics = dict[str, float]
ARTIFACTS = "artifacts"


class Terminated(BaseException):
    """SIGTERM arrived (a scheduler or `kill`); a BaseException so `except Exception` misses it."""


@dataclass
class Run:
    """What a stage gets besides its config: its logger, its folder, its artifacts."""

    id: str
    dir: Path
    stage: str
    log: logging.Logger
    tracker: Tracker = field(default_factory=NullTracker)
    artifacts: dict[str, dict[str, str]] = field(default_factory=dict)
    _files: dict[str, Path] = field(default_factory=dict, repr=False)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record metrics (per epoch when `step` is given) in the run folder and the tracker."""
        values = {key: float(value) for key, value in metrics.items()}
        append_json_line(self.dir / "metrics.jsonl", {"step": step, **values})
        self.tracker.log(values, step=step)

    @contextmanager
    def artifact(self, name: str, kind: str = "file") -> Iterator[Path]:
        """Give a path to write artifact `name` to; keep it only if the block completes.

        The file is written under a temporary name and moved into `artifacts/` when
        the block ends without error, then handed to the tracker.
        """
        _check_name(name, "artifact")
        folder = self.dir / ARTIFACTS
        folder.mkdir(exist_ok=True)
        partial = folder / f".{name}.partial"
        try:
            yield partial
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if not partial.is_file():
            raise FileNotFoundError(f"artifact '{name}' was not written to the path given")
        final = folder / name
        os.replace(partial, final)
        self.artifacts[name] = {"path": f"{ARTIFACTS}/{name}", "kind": kind}
        self._files[name] = final
        self.tracker.log_artifact(final, name, kind)

    def reuse(self, name: str, run_id: str) -> Path:
        """Take artifact `name` from an earlier run instead of recomputing it."""
        _check_name(name, "artifact")
        _check_name(run_id, "run id")
        source = self.dir.parent / run_id / ARTIFACTS / name
        if not source.is_file():
            raise FileNotFoundError(
                f"run '{run_id}' has no artifact '{name}' ({source}); "
                f"list runs with `python -m {__name__.split('.')[0]} runs ls`"
            )
        self.artifacts[name] = {"path": f"../{run_id}/{ARTIFACTS}/{name}", "from_run": run_id}
        self._files[name] = source
        self.log.info("artifact %s taken from run %s", name, run_id)
        return source

    def publish(self, name: str, target: Path) -> None:
        """Copy an artifact (made or reused) to a fixed output path, such as a DVC output."""
        if name not in self._files:
            raise KeyError(f"no artifact '{name}' in this run; write it with run.artifact() first")
        with replacing(target) as partial:
            shutil.copyfile(self._files[name], partial)


@dataclass(frozen=True)
class Outcome:
    """How a run ended."""

    run_id: str
    status: str
    metrics: Metrics
    error: str | None = None


def _check_name(name: str, what: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"{what} '{name}' must be a plain name (no '/', not starting with '.')")


def seed_everything(seed: int) -> None:
    """Seed Python's and numpy's random generators (and torch's, where installed)."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _check_metrics(stage: str, metrics: object) -> Metrics:
    if not isinstance(metrics, Mapping):
        raise TypeError(
            f"stage '{stage}' returned {type(metrics).__name__}; return a dict of metrics"
        )
    checked = {str(key): float(value) for key, value in metrics.items()}
    bad = [key for key, value in checked.items() if not math.isfinite(value)]
    if bad:
        raise ValueError(f"stage '{stage}' returned non-finite metrics: {', '.join(bad)}")
    return checked


def runs_dir(settings: Config) -> Path:
    """Where this run's folder goes (see `records.runs_folder`)."""
    return records_runs_dir(Path(settings.runtime.runs_dir).parent)


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into an exception while a stage runs, so its run is recorded."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"signal {signal.Signals(signum).name}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _start_record(
    settings: Config, record: dict[str, Any], run_dir: Path, overrides: Sequence[str]
) -> dict[str, Any]:
    """Write what is known before the stage starts: config, overrides, provenance, status.

    Fills in `record` (which already names the run) and returns the provenance.
    """
    write_text(run_dir / "config.yaml", OmegaConf.to_yaml(_plain(settings)))
    write_json(run_dir / "overrides.json", list(overrides))
    root = Path.cwd()
    provenance = collect(root, list(sys.argv), settings.seed)
    write_json(run_dir / "provenance.json", provenance)
    if (provenance.get("git") or {}).get("dirty"):
        write_text(run_dir / "git.diff", git_diff(root))
    record.update(
        {
            "status": "running",
            "mode": settings.runtime.mode,
            "started": _now(),
            "argv": sys.argv,
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
    )
    write_json(run_dir / "run.json", record)
    return provenance


def _summary(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The few provenance facts worth comparing runs by in the tracker."""
    git = provenance.get("git") or {}
    return {
        "git_commit": git.get("commit"),
        "git_dirty": git.get("dirty"),
        "uv_lock_sha256": provenance.get("uv_lock_sha256"),
        "python": (provenance.get("python") or {}).get("version"),
        "host": provenance.get("hostname"),
        "argv": provenance.get("argv"),
    }


def execute(settings: Config, overrides: Sequence[str], sweep: str | None = None) -> Outcome:
    """Run the stage `settings.stage` and record everything about it in a new run folder.

    Tracker runs are grouped by DVC experiment, else by sweep, else by experiment name.
    """
    stage = settings.stage
    registry.check_stage(stage)
    debug = settings.runtime.mode == "debug"
    run_id, run_dir = create_run_dir(runs_dir(settings), stage)
    log = configure_logging(run_dir / "run.log", settings.runtime.log_level, run_dir / "log.jsonl")
    record: dict[str, Any] = {"id": run_id, "stage": stage, "sweep": sweep}
    tracker: Tracker = NullTracker()
    run = Run(id=run_id, dir=run_dir, stage=stage, log=stage_logger(stage), tracker=tracker)
    started = time.perf_counter()
    error: BaseException | None = None
    metrics: Metrics = {}
    try:
        # From before the record says "running" to the end, a signal is recorded.
        with _sigterm_raises():
            provenance = _start_record(settings, record, run_dir, overrides)
            log.info("run %s: stage %s started (folder %s)", run_id, stage, run_dir)
            seed_everything(settings.seed)
            run.tracker = tracker = open_tracker(
                settings.logger,
                debug=debug,
                run_id=run_id,
                run_dir=run_dir,
                group=os.environ.get("DVC_EXP_NAME") or sweep or settings.experiment_name,
                job_type=stage,
                run_config={**_plain(settings), "provenance": _summary(provenance)},
            )
            metrics = _check_metrics(stage, registry.load_stage(stage)(settings, run))
        record["status"] = "completed"
        log.info("run %s: stage %s completed: %s", run_id, stage, _format(metrics))
    except BaseException as caught:
        error = caught
        interrupted = isinstance(caught, (KeyboardInterrupt, Terminated))
        record["status"] = "interrupted" if interrupted else "failed"
        record["error"] = f"{type(caught).__name__}: {caught}"
        record["traceback"] = traceback.format_exc()
        log.error(
            "run %s: stage %s %s: %s",
            run_id,
            stage,
            record["status"],
            record["error"],
            exc_info=not interrupted,
        )
    finally:
        record["ended"] = _now()
        record["duration_s"] = round(time.perf_counter() - started, 3)
        record["metrics"] = metrics
        record["artifacts"] = run.artifacts
        record["tracker"] = tracker.finish(metrics, 0 if error is None else 1)
        write_json(run_dir / "run.json", record)

    if isinstance(error, KeyboardInterrupt):
        raise SystemExit(128 + signal.SIGINT)
    if isinstance(error, Terminated):
        raise SystemExit(128 + signal.SIGTERM)
    if error is not None and (debug or not isinstance(error, Exception)):
        raise error
    return Outcome(run_id, str(record["status"]), metrics, record.get("error"))


def _plain(settings: Config) -> dict[str, Any]:
    return cast(dict[str, Any], OmegaConf.to_container(OmegaConf.structured(settings)))


def _format(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{key}={value:.4g}" for key, value in metrics.items()) or "no metrics"
