"""One execution of one stage: its folder, its record, its logs and its tracker.

`execute` is the only place that calls a stage. It makes the run folder, saves
the resolved config and the overrides, sets the seeds, starts the tracker, runs
the stage, and writes how it ended, whether it succeeded or not.
"""

from __future__ import annotations

import logging
import math
import os
import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

from omegaconf import OmegaConf

from ..config import Config
from . import registry
from .logs import configure_logging, stage_logger
from .records import append_json_line, create_run_dir, write_json_atomic, write_text_atomic
from .tracking import NullTracker, Tracker, open_tracker

Metrics = dict[str, float]


@dataclass
class Run:
    """What a stage gets besides its config: where to log and where its run folder is."""

    id: str
    dir: Path
    stage: str
    log: logging.Logger
    tracker: Tracker = field(default_factory=NullTracker)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record metrics (per epoch when `step` is given) in the run folder and the tracker."""
        values = {key: float(value) for key, value in metrics.items()}
        append_json_line(self.dir / "metrics.jsonl", {"step": step, **values})
        self.tracker.log(values, step=step)


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
    """Where run folders go; under DVC, in the repository DVC was started from.

    `dvc exp run --queue/--temp` runs stages in a temporary copy that is deleted
    afterwards; DVC_ROOT names the original repository, so the records survive.
    """
    path = Path(settings.runtime.runs_dir)
    dvc_root = os.environ.get("DVC_ROOT")
    if dvc_root and not path.is_absolute():
        return Path(dvc_root) / path
    return path


def execute(settings: Config, overrides: Sequence[str]) -> Metrics:
    """Run the stage `settings.stage` and record everything about it in a new run folder."""
    stage = settings.stage
    registry.check_stage(stage)
    debug = settings.runtime.mode == "debug"
    run_id, run_dir = create_run_dir(runs_dir(settings), stage)
    log = configure_logging(run_dir / "run.log", settings.runtime.log_level)
    resolved = cast(dict[str, Any], OmegaConf.to_container(OmegaConf.structured(settings)))
    write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(resolved))
    write_json_atomic(run_dir / "overrides.json", list(overrides))
    record: dict[str, Any] = {
        "id": run_id,
        "stage": stage,
        "status": "running",
        "mode": settings.runtime.mode,
        "started": _now(),
        "argv": sys.argv,
    }
    write_json_atomic(run_dir / "run.json", record)
    log.info("run %s: stage %s started (folder %s)", run_id, stage, run_dir)

    seed_everything(settings.seed)
    tracker = open_tracker(
        settings.logger,
        debug=debug,
        run_id=run_id,
        run_dir=run_dir,
        group=os.environ.get("DVC_EXP_NAME") or settings.experiment_name,
        job_type=stage,
        run_config=resolved,
    )
    run = Run(id=run_id, dir=run_dir, stage=stage, log=stage_logger(stage), tracker=tracker)
    started = time.perf_counter()
    metrics: Metrics = {}
    try:
        metrics = _check_metrics(stage, registry.load_stage(stage)(settings, run))
    except BaseException as error:
        interrupted = isinstance(error, KeyboardInterrupt)
        record["status"] = "interrupted" if interrupted else "failed"
        record["error"] = f"{type(error).__name__}: {error}"
        log.error("run %s: stage %s %s: %s", run_id, stage, record["status"], record["error"])
        raise
    else:
        record["status"] = "completed"
        log.info("run %s: stage %s completed: %s", run_id, stage, _format(metrics))
    finally:
        record["ended"] = _now()
        record["duration_s"] = round(time.perf_counter() - started, 3)
        record["metrics"] = metrics
        exit_code = 0 if record["status"] == "completed" else 1
        record["tracker"] = tracker.finish(metrics, exit_code)
        write_json_atomic(run_dir / "run.json", record)
    return metrics


def _format(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{key}={value:.4g}" for key, value in metrics.items()) or "no metrics"
