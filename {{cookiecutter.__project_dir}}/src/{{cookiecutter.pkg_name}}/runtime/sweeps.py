"""Sweeps (`--multirun`): one name per sweep, and one summary when it ends.

Hydra's launcher decides where the jobs run (here, joblib workers, submitit, SLURM).
Each job writes its run record with the sweep's name, `sweep-<Hydra's sweep folder>`,
and the summary reads those records, so it is the same for every launcher.
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

    outcomes = [
        Outcome(
            path.name,
            str(record.get("status")),
            record.get("error") or None,
            " ".join(map(str, record.get("overrides") or [])),
        )
        for path, record in sweep_records(sweep)
    ]
    jobs = sum(1 for path in sweep.folder.glob("*") if path.name.isdigit())
    missing = max(0, jobs - len(outcomes))
    completed = sum(outcome.ok for outcome in outcomes)
    print(f"sweep {sweep.name}: {completed} of {len(outcomes) + missing} runs completed")
    if missing:
        print(
            f"error: {missing} of {jobs} jobs left no run record; see {sweep.folder}",
            file=sys.stderr,
        )
    return max(report_failures(outcomes), 1 if missing else 0)


def report_failures(outcomes: Sequence[Outcome]) -> int:
    """Say which runs failed (after a sweep, all of them at once); 1 if any did."""
    failed = [outcome for outcome in outcomes if not outcome.ok]
    if failed:
        print(f"error: {len(failed)} of {len(outcomes)} runs failed:", file=sys.stderr)
    for outcome in failed:
        error = outcome.error or f"status {outcome.status}"
        print(f"  {outcome.run_id} ({outcome.overrides}): {error}", file=sys.stderr)
    return 1 if failed else 0


def report_all() -> int:
    """Report every sweep that ended in this process; 1 if any of them had a failure."""
    codes = [report(sweep) for sweep in SweepSummary.ended]
    SweepSummary.ended.clear()
    return max(codes, default=0)
