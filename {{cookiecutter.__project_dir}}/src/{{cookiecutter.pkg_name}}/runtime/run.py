"""One execution of a stage: `execute`, its only caller, records it (completed, failed...)."""

import errno
import json
import logging
import math
import numbers
import os
import random
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from omegaconf import DictConfig

from . import pipeline, records
from .provenance import record as record_provenance
from .provenance import redact, redact_arg, scrub
from .records import UsageError, check_name, replacing
{% if cookiecutter.framework == "pytorch" %}from .resume import earlier_run, follower, going_on, gpus  # resume, requeue, DDP
{% endif %}from .tracking import Tracker, open_tracker

Metrics = dict[str, float]  # counts stay ints: 1000000 rows, not 1e+06
ARTIFACTS, RESERVE = "artifacts", ".reserved"  # a run's files; disk space held for its record
ROOT_LOGGER = __name__.split(".")[0]  # the package: stages log below it, as `<package>.<stage>`
DISK = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)  # full, or closed
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s | %(message)s"


@dataclass
class Run:
    """What a stage gets besides its config: its logger, its folder, its artifacts."""

    id: str
    dir: Path
    stage: str
    log: logging.Logger
    tracker: Tracker = field(default_factory=Tracker)
    artifacts: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    resumed_from: Path | None = None  # the earlier run's folder, when `<stage>.resume` names one

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record metrics (per epoch when `step` is given) in the run folder and the tracker."""
        values = {key: _number(value) for key, value in metrics.items()}
        with (self.dir / "metrics.jsonl").open("a", encoding="utf-8") as lines:  # one per call
            lines.write(json.dumps({"step": step, **values}) + "\n")
        self.tracker.send(log=values, step=step)

    def note(self, **facts: Any) -> None:
        """Keep facts that are not metrics (the task a stage chose) in run.json and the tracker."""
        self.notes.update(facts)

    @contextmanager
    def artifact(self, name: str, kind: str = "file") -> Iterator[Path]:
        """Give a path to write artifact `name` to; keep it only if the block completes."""
        final = self.dir / ARTIFACTS / check_name(name, "artifact")
        with replacing(final) as partial:
            yield partial
            if not partial.is_file():
                raise FileNotFoundError(f"artifact '{name}' was not written to the path given")
        self.artifacts[name] = {"path": f"{ARTIFACTS}/{name}", "kind": kind}
        self.tracker.send(artifact=str(final), type=kind)

    def publish(self, name: str, target: Path) -> None:
        """Copy an artifact of this run to a fixed output path, such as a DVC output."""
        if name not in self.artifacts:
            raise KeyError(f"no artifact '{name}' in this run; write it with run.artifact() first")
        with replacing(target) as partial:
            shutil.copyfile(self.dir / ARTIFACTS / name, partial)


class Redacting(logging.Formatter):
    """Log lines with their keys redacted: run.log, the console, Hydra's own (conf/config.yaml)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(log_file: Path, level: str) -> logging.Logger:
    """Send the package's log records to stderr and to `log_file` (the run's run.log)."""
    logger = logging.getLogger(ROOT_LOGGER)
    for old in logger.handlers:  # a second run in one process replaces the first's handlers
        old.close()
    logger.handlers = [logging.StreamHandler(), logging.FileHandler(log_file, encoding="utf-8")]
    for handler in logger.handlers:
        handler.setFormatter(Redacting(LOG_FORMAT, "%Y-%m-%dT%H:%M:%S%z"))
    logger.setLevel(level.upper())
    logger.propagate = False  # Hydra or a library may give the root logger handlers as well
    logging.raiseExceptions = False  # a full disk: the error's line, not logging's tracebacks
    return logger


def seed_everything(seed: int) -> None:
    """Seed Python's and numpy's random generators (and torch's, where imported)."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def _number(value: Any) -> float:  # a count (numpy's too) stays an int, as JSON keeps it
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def exit_status(record: Mapping[str, Any]) -> int:
    """0 for a completed run, 2 for bad input (a UsageError: one line), 1 for other failures."""
    usage = str(record.get("error")).startswith(f"{UsageError.__name__}:")
    return 0 if record["status"] == "completed" else 2 if usage else 1


_stopped: list[BaseException] = []  # stops, even those library code turned into its own error
_again: list[threading.Timer] = []  # a SIGTERM raised again until the run takes it


def _stop(signum: int, frame: FrameType | None, hold: bool = False) -> None:
    stop = KeyboardInterrupt() if signum == signal.SIGINT else SystemExit(128 + signum)
    _stopped.append(stop)
    if hold:  # until the run's first record exists, so that no folder lacks one
        return
    if signum != signal.SIGINT:  # raised where Python drops it (a __del__), a scheduler's one
        # SIGTERM would be lost: it comes again each second until the run takes it
        main = threading.main_thread().ident or 0
        _again.append(threading.Timer(1.0, signal.pthread_kill, (main, signum)))
        _again[-1].daemon = True
        _again[-1].start()
    raise stop


def _taken(handlers: Mapping[signal.Signals, Any] | None = None) -> None:
    """Cancel a SIGTERM's repeats; and put `handlers` back, if given."""
    while _again:
        _again.pop().cancel()
    for signum, handler in (handlers or {}).items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _refused(error: BaseException) -> BaseException:
    """Hydra's instantiate failing on a config (no such class, a wrong argument) as one line."""
    from hydra.errors import InstantiationException

    if not isinstance(error, InstantiationException):
        return error
    said = str(error).replace(", set env var HYDRA_FULL_ERROR=1 to see chained exception.", ":")
    lines = [*said.splitlines()[:2], *str(error.__cause__ or "").splitlines()[1:2]]
    return UsageError(f"{' '.join(lines[:2])}; fix its `_target_` or its arguments in conf/")


def _finish(tracker: Tracker, record: dict[str, Any], signals: Sequence[int]) -> Any:
    """End the tracker's run, waiting logger.finish_timeout at most (Ctrl-C, SIGTERM: none)."""
    for signum in signals:
        signal.signal(signum, _stop)
    try:
        summary = {**record["notes"], **record["metrics"]}
        return tracker.finish(summary, 0 if record["status"] == "completed" else 1)
    except (KeyboardInterrupt, SystemExit) as stop:  # SystemExit: SIGTERM's
        return {"tracker": "wandb", "finish": f"not waited for: {type(stop).__name__}"}
    finally:
        for signum in signals:
            signal.signal(signum, signal.SIG_IGN)
        _taken()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _checked(stage: str, metrics: object) -> Metrics:
    if not isinstance(metrics, Mapping):
        raise TypeError(f"stage '{stage}' returned {type(metrics).__name__}; return a dict")
    checked = {str(key): _number(value) for key, value in metrics.items()}
    if bad := [key for key, value in checked.items() if not math.isfinite(value)]:
        raise ValueError(f"stage '{stage}' returned non-finite metrics: {', '.join(bad)}")
    return checked


def execute(
    settings: pipeline.Settings,
    stage_function: Callable[[Any, Run], Any],
    stage_config: Any,
    config: Mapping[str, Any],
    overrides: Sequence[str],
    sweep: str | None = None,
) -> dict[str, Any]:
    """Run a stage on its checked section in a new run folder; return its record (run.json)."""
    from omegaconf import OmegaConf

    stage, debug = settings.stage, settings.runtime.mode == "debug"
    runs, log = records.runs_dir(Path(settings.root)), logging.getLogger(f"{ROOT_LOGGER}.{stage}")
{%- if cookiecutter.framework == "pytorch" %}
    earlier = earlier_run(stage, stage_config, runs)  # checked before this run's folder exists
    resumed = runs / str(earlier["id"]) if earlier else None
    if follower():  # DDP's other processes: no folder, record or tracker; warnings logged only
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            seed_everything(settings.seed)
            stage_function(stage_config, Run("-", Path(folder), stage, log, resumed_from=resumed))
        return {"status": "completed"}
{%- endif %}
    main, _stopped[:] = threading.current_thread() is threading.main_thread(), []
    signals = (signal.SIGTERM, signal.SIGINT) if main else ()  # stops, recorded as interrupted
    previous = {signum: signal.signal(signum, partial(_stop, hold=True)) for signum in signals}
    try:
        run_id, run_dir = records.create_run_dir(runs, stage)
        configure_logging(run_dir / "run.log", settings.runtime.log_level)
    except BaseException:
        _taken(previous)
        raise
    run = Run(run_id, run_dir, stage, log{% if cookiecutter.framework == "pytorch" %}, resumed_from=resumed{% endif %})
    overrides, config = [redact_arg(str(o)) for o in overrides], scrub(dict(config))  # no keys
    record: dict[str, Any] = dict(id=run_id, stage=stage, sweep=sweep, overrides=overrides,
        status="running", mode=settings.runtime.mode, pid=os.getpid(), host=os.uname().nodename,
        argv=[redact_arg(arg) for arg in sys.argv], job=records.cluster_job(),
        resumed_from=run.resumed_from and run.resumed_from.name, started=_now())  # fmt: skip
    started, error, metrics = time.perf_counter(), None, {}
    try:
        records.write_json(run_dir / records.RECORD, record)  # first: no folder lacks a record
        for signum in signals:  # a stop is recorded from here on; one held till now, at once
            signal.signal(signum, _stop)
        if _stopped:
            raise _stopped[0]
        (run_dir / RESERVE).write_bytes(os.urandom(1 << 16))  # room for the last record
        records.write_text(run_dir / "config.yaml", OmegaConf.to_yaml(config))
        group = redact_arg(os.environ.get("DVC_EXP_NAME") or sweep or settings.experiment_name)
        names = dict(name=run_id, group=group, job_type=stage, config=config{% if cookiecutter.framework == "pytorch" %}, **going_on(earlier){% endif %})
        run.tracker = open_tracker(settings.logger, run_dir, debug, **names)  # starts meanwhile
        provenance = record_provenance(Path.cwd(), run_dir, sys.argv, settings.seed{% if cookiecutter.framework == "pytorch" %}, gpus=gpus(){% endif %})
        run.tracker.send(config={"provenance": provenance})  # W&B's config: provenance too
        log.info("run %s: stage %s started (folder %s)", run_id, stage, run_dir)
        seed_everything(settings.seed)
        metrics = _checked(stage, stage_function(stage_config, run))
        record["status"] = "completed"
        shown = [f"{k}={v}" if isinstance(v, int) else f"{k}={v:.4g}" for k, v in metrics.items()]
        log.info("run %s: stage %s completed: %s", run_id, stage, ", ".join(shown) or "no metrics")
    except BaseException as caught:
        _taken()
        stops = (KeyboardInterrupt, SystemExit)
        error = caught if isinstance(caught, stops) or not _stopped else _stopped[0]
        error = _refused(error)  # a config naming a class that cannot be built: bad input
        interrupted, said = isinstance(error, stops), redact(f"{type(error).__name__}: {error}")
        record.update(status="interrupted" if interrupted else "failed", error=said)
        record["traceback"] = redact(traceback.format_exc())
        disk = isinstance(error, OSError) and error.errno in DISK
        traced = not (interrupted or disk or isinstance(error, UsageError))  # else one line
        log.error("run %s: stage %s %s: %s", run_id, stage, record["status"], said, exc_info=traced)
    finally:
        for signum in signals:  # the record is written whatever comes (a 2nd SIGTERM: ignored)
            signal.signal(signum, signal.SIG_IGN)
        _taken()
        if record["status"] == "running" and _stopped:  # a 2nd stop cut the except clause short
            record.update(status="interrupted", error=f"SystemExit: {_stopped[-1]}")
        (run_dir / RESERVE).unlink(missing_ok=True)  # its room is the record's now
        record.update(ended=_now(), duration_s=round(time.perf_counter() - started, 3))
        record.update(metrics=metrics, artifacts=run.artifacts, notes=scrub(run.notes))
        for waited in (False, True):  # written before the tracker's wait (a completed run stays
            if waited:  # completed, whatever the wait), and after it, saying how it ended
                record["tracker"] = _finish(run.tracker, record, signals)
            try:
                records.write_json(run_dir / records.RECORD, record)
            except OSError as failed:  # a full disk, beyond the room held
                log.error("run %s: its record could not be written: %s", run_id, failed)
                record.update(status="failed", error=f"{type(failed).__name__}: {failed}")
        _taken(previous)
    if isinstance(error, KeyboardInterrupt):
        raise SystemExit(128 + signal.SIGINT)
    usage = isinstance(error, UsageError)  # bad input: its one line was logged, exit status 2
    if error is not None and not usage and (debug or not isinstance(error, Exception)):
        raise error
    return record


def load_config(overrides: Sequence[str] = ()) -> DictConfig:
    """conf/ composed with `overrides` (e.g. ["model=mlp", "train.epochs=5"]), as a run gets it."""
    return pipeline.compose(pipeline.find_project_root(), list(overrides))


def run_stage(stage: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Run a stage here (a notebook, a test) as `python -m <package> stage=NAME OVERRIDES` does;
    return its record. A failed run raises RuntimeError (in debug mode, the stage's error)."""
    root, here, argv = pipeline.find_project_root(), Path.cwd(), sys.argv
    try:
        os.chdir(root)  # paths in conf/ are relative to the project root
        sys.argv = [ROOT_LOGGER, f"stage={stage}", *overrides]  # the record's command line
        cfg = pipeline.compose(root, sys.argv[1:])
        record = execute(*pipeline.prepared(root, cfg, stage), list(overrides))
    finally:
        os.chdir(here)
        sys.argv = argv
    if record["status"] != "completed":
        raise RuntimeError(f"run {record['id']} {record['status']}: {record.get('error')}")
    return record
