"""For notebooks (notebooks/compare_runs.ipynb): conf/ composed with overrides, a stage run in
this process, and the runs as a pandas DataFrame (DVC's experiments: `dvc.api.exp_show`)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from . import pipeline
from .records import UsageError, runs_dir
from .run import execute
from .runs import find_runs

if TYPE_CHECKING:
    import pandas as pd
    from omegaconf import DictConfig


def load_config(overrides: Sequence[str] = ()) -> DictConfig:
    """conf/ composed with `overrides` (e.g. ["model=mlp", "train.epochs=5"]), as a run gets it."""
    return pipeline.compose(pipeline.find_project_root(), list(overrides))


def run_stage(stage: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Run a stage here as `python -m <package> stage=NAME OVERRIDES` does (a run folder and its
    record); return the record (run.json). A run that fails raises RuntimeError naming it (in
    debug mode, the stage's own exception)."""
    root, here, argv = pipeline.find_project_root(), Path.cwd(), sys.argv
    if given := [o for o in overrides if str(o).startswith("stage=")]:
        raise UsageError(f"{given[0]}: name the stage as run_stage's first argument")
    try:
        os.chdir(root)  # paths in conf/ are relative to the project root
        sys.argv = [pipeline.PACKAGE, f"stage={stage}", *overrides]  # the record's command line
        cfg = pipeline.compose(root, sys.argv[1:])
        settings, function, section, config = pipeline.prepared(root, cfg, stage)
        record = execute(settings, function, section, config, list(overrides))
    finally:
        os.chdir(here)
        sys.argv = argv
    if record["status"] != "completed":
        raise RuntimeError(f"run {record['id']} {record['status']}: {record.get('error')}")
    return record


def runs_frame(
    prefix: str | None = None,
    status: str | None = None,
    since: timedelta | None = None,
    root: Path | str | None = None,
) -> pd.DataFrame:
    """One row per run (find_runs' filters) in `root`/runs (root: this project's, or a config's
    `root`, a temp folder in debug mode): id, stage, status, started, duration_s, then the
    values of its stage's section that differ between these runs, then the metrics."""
    import pandas as pd

    runs = find_runs(prefix, status, since, runs_dir(pipeline.find_project_root() / (root or ".")))
    fields = ("id", "stage", "status", "started", "duration_s")
    rows = pd.DataFrame([[getattr(run, key) for key in fields] for run in runs], columns=fields)
    configs = pd.json_normalize([_section(run.path, run.stage) for run in runs])
    varying = configs.loc[:, configs.astype(str).nunique(dropna=False) > 1]
    return pd.concat([rows, varying, pd.DataFrame([run.metrics for run in runs])], axis=1)


def _section(run_dir: Path, stage: str) -> dict[str, Any]:
    config = None  # the whole config the run had; its stage read its section
    with contextlib.suppress(OSError, ValueError, yaml.YAMLError):  # unreadable or cut short
        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    return {stage: config.get(stage)} if isinstance(config, dict) else {}
