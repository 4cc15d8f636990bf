"""Sweeps (`--multirun`): one name per sweep, and one summary when it ends.

Hydra's launcher decides where the jobs run: here one after another, in worker
processes (joblib), as separate processes (submitit_local) or as SLURM jobs. Each
job writes its run record with the sweep's name, and the summary reads those
records, so it is the same for every launcher. The name is `sweep-<folder>`, after
Hydra's sweep folder (`runs/.multirun/<time>`), which every job shares.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from .records import RECORD, RUN_ID, TIMESTAMP_FORMAT, read_json, runs_dir

if TYPE_CHECKING:
    from .run import Outcome

CLOCK_SLACK = timedelta(minutes=5)  # run ids carry their start: a sweep's runs start after it


def sweep_name(sweep_dir: str | Path) -> str:
    """The name of the sweep whose Hydra folder is `sweep_dir`."""
    return f"sweep-{Path(sweep_dir).name}"


@dataclass(frozen=True)
class Sweep:
    """A sweep that ran: its name, where its runs are, its Hydra folder, when it started."""

    name: str
    runs: Path
    folder: Path
    started: datetime


class SweepSummary(Callback):
    """Hydra callback (conf/config.yaml, hydra.callbacks), called where the sweep was launched."""

    ended: list[Sweep] = []  # noqa: RUF012 (read by the command line once Hydra returns)

    def __init__(self) -> None:
        self._started = datetime.now(timezone.utc)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Note the start time: the sweep's runs are the ones that started after it."""
        self._started = datetime.now(timezone.utc)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Note the sweep for the summary the command prints when Hydra returns."""
        folder = Path(str(config.hydra.sweep.dir))
        runs = runs_dir(Path(str(config.root)))
        SweepSummary.ended.append(Sweep(sweep_name(folder), runs, folder, self._started))


def sweep_records(sweep: Sweep) -> list[tuple[Path, dict[str, Any]]]:
    """The run folders and records of a sweep's jobs, in start order."""
    cutoff = (sweep.started - CLOCK_SLACK).strftime(TIMESTAMP_FORMAT)
    matches = [RUN_ID.match(p.name) for p in sweep.runs.iterdir()] if sweep.runs.is_dir() else []
    names = sorted((m["stamp"], m.string) for m in matches if m and m["stamp"] >= cutoff)
    found = [(sweep.runs / name, read_json(sweep.runs / name / RECORD)) for _, name in names]
    return [(path, record) for path, record in found if record.get("sweep") == sweep.name]


def report(sweep: Sweep) -> int:
    """Print how the sweep's runs ended, each failed one with its error; 1 if any failed.

    A job that left no record (killed before it started) counts as failed; the
    launcher's own logs are in the sweep folder.
    """
    from .run import Outcome

    outcomes = []
    for path, record in sweep_records(sweep):
        status = str(record.get("status"))
        error = record.get("error") or (None if status == "completed" else f"status {status}")
        job = " ".join(map(str, record.get("overrides") or []))
        outcomes.append((job or path.name, Outcome(path.name, status, {}, error)))
    jobs = sum(1 for path in sweep.folder.glob("*") if path.name.isdigit())
    missing = max(0, jobs - len(outcomes))
    completed = sum(1 for _, outcome in outcomes if outcome.status == "completed")
    print(f"sweep {sweep.name}: {completed} of {len(outcomes) + missing} runs completed")
    code = report_failures(outcomes)
    if missing:
        print(
            f"error: {missing} of {jobs} jobs left no run record; see {sweep.folder}",
            file=sys.stderr,
        )
    return 1 if missing else code


def report_failures(outcomes: Sequence[tuple[str, Outcome]]) -> int:
    """Say which runs failed (after a sweep, all of them at once); 1 if any did."""
    failed = [(job, outcome) for job, outcome in outcomes if outcome.status != "completed"]
    if failed:
        print(f"error: {len(failed)} of {len(outcomes)} runs failed:", file=sys.stderr)
    for job, outcome in failed:
        print(f"  {outcome.run_id} ({job}): {outcome.error}", file=sys.stderr)
    return 1 if failed else 0


def report_all() -> int:
    """Report every sweep that ended in this process; 1 if any of them had a failure."""
    codes = [report(sweep) for sweep in SweepSummary.ended]
    SweepSummary.ended.clear()
    return max(codes, default=0)
