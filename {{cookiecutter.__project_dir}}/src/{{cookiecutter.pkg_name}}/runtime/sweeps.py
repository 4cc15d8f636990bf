"""Sweeps: each job records its sweep's name, and the summary reads the records, whatever
the launcher (here, joblib, submitit, SLURM) ran the jobs."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from .records import RECORD, RUN_ID, TIMESTAMP_FORMAT, read_json, runs_dir


def sweep_name(sweep_dir: str | Path) -> str:
    """The name of the sweep whose Hydra folder is `sweep_dir`."""
    return f"sweep-{Path(sweep_dir).name}"


class SweepSummary(Callback):
    """Hydra callback (conf/config.yaml, hydra.callbacks), called where the sweep was launched."""

    ended: list[int] = []  # noqa: RUF012 (each sweep's status, read once Hydra returns)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Note the start time: the sweep's runs are the ones that started after it."""
        self.started = datetime.now(timezone.utc)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Print the sweep's summary, once its jobs are done, wherever they ran."""
        if config.get("search"):  # the workers' trials are runs of the search, not the sweep
            from .search import report as report_search

            SweepSummary.ended.append(report_search(config))
            return
        folder, runs = Path(str(config.hydra.sweep.dir)), runs_dir(Path(str(config.root)))
        SweepSummary.ended.append(report(sweep_name(folder), runs, folder, self.started))


def report(name: str, runs: Path, folder: Path, started: datetime) -> int:
    """Print how the runs of sweep `name` (Hydra folder `folder`) ended, each failed one (or
    lost: no record) named; 1 if any."""
    # Run ids carry their start time (clocks may differ a little between machines).
    cutoff = (started - timedelta(minutes=5)).strftime(TIMESTAMP_FORMAT)
    ids = [match for path in runs.glob("*") if (match := RUN_ID.match(path.name))]
    found = [read_json(runs / m.string / RECORD) for m in ids if m["stamp"] >= cutoff]
    found = [r for r in found if r.get("sweep") == name]
    resumed = {record.get("resumed_from") for record in found}  # a requeued job's earlier try
    found = [record for record in found if record.get("id") not in resumed]
    found.sort(key=lambda record: str(record.get("started")))
    failed = [record for record in found if record.get("status") != "completed"]
    jobs = sum(1 for path in folder.glob("*") if path.name.isdigit())
    missing = max(0, jobs - len(found))
    done = len(found) - len(failed)
    print(f"sweep {name}: {done} of {len(found) + missing} runs completed")
    errors = [f"error: {len(failed)} of {len(found)} runs failed:"] if failed else []
    for record in failed:
        overrides = " ".join(map(str, record.get("overrides") or []))
        error = record.get("error") or f"status {record.get('status')}"
        errors.append(f"  {record.get('id')} ({overrides}): {error}")
    if missing:
        errors.append(f"error: {missing} of {jobs} jobs left no run record; see {folder}")
    print("\n".join(errors), file=sys.stderr, end="\n" * bool(errors))
    return 1 if failed or missing else 0


def report_all() -> int:
    """1 if a sweep that ended in this process had a failure (its summary says which)."""
    codes, SweepSummary.ended[:] = list(SweepSummary.ended), []
    return max(codes, default=0)
