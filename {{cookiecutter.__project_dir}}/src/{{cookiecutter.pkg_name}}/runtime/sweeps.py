"""Sweeps: each job records its sweep's name, and the summary reads the records, whatever
the launcher (here, joblib, submitit, SLURM) ran the jobs."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from .records import RECORD, RUN_ID, TIMESTAMP_FORMAT, read_json, runs_dir

REFUSED = "refused.json"  # in a job's Hydra folder: its overrides, and why it was refused


def sweep_name(sweep_dir: str | Path) -> str:
    """The name of the sweep whose Hydra folder is `sweep_dir`."""
    return f"sweep-{Path(sweep_dir).name}"


class SweepSummary(Callback):
    """Hydra callback (conf/config.yaml, hydra.callbacks), called where the sweep was launched."""

    ended: list[int] = []  # noqa: RUF012 (each sweep's status, read once Hydra returns)
    current: ClassVar[tuple[SweepSummary, DictConfig] | None] = None  # for a launcher's crash

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Note the start time (the sweep's runs started after it) and the number of jobs."""
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        self.started, SweepSummary.current = datetime.now(timezone.utc), (self, config)
        overrides = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
        self.jobs = len(BasicSweeper.split_arguments(overrides, None)[0])  # as Hydra splits them

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Print the sweep's summary, once its jobs are done, wherever they ran."""
        SweepSummary.current = None
        if config.get("search"):  # the workers' trials are runs of the search, not the sweep
            from .search import report as report_search

            SweepSummary.ended.append(report_search(config))
            return
        folder, runs = Path(str(config.hydra.sweep.dir)), runs_dir(Path(str(config.root)))
        ended = report(sweep_name(folder), runs, folder, self.started, self.jobs)
        SweepSummary.ended.append(ended)


def report(name: str, runs: Path, folder: Path, started: datetime, jobs: int = 0) -> int:
    """Print how the jobs of sweep `name` (Hydra folder `folder`) ended, naming each failed,
    refused (REFUSED in its folder) or lost one (no record at all); 1 if any."""
    from .runs import read_run

    # Run ids carry their start time (clocks may differ a little between machines).
    cutoff = (started - timedelta(minutes=5)).strftime(TIMESTAMP_FORMAT)
    ids = [match for path in runs.glob("*") if (match := RUN_ID.match(path.name))]
    found = [read_json(runs / m.string / RECORD) for m in ids if m["stamp"] >= cutoff]
    found = [r for r in found if r.get("sweep") == name]
    resumed = {record.get("resumed_from") for record in found}  # a requeued job's earlier try
    found = [record for record in found if record.get("id") not in resumed]
    found.sort(key=lambda record: str(record.get("started")))
    failed = [record for record in found if record.get("status") != "completed"]
    refused = [read_json(path) for path in sorted(folder.glob(f"*/{REFUSED}"))]
    jobs = max(jobs, sum(1 for path in folder.glob("*") if path.name.isdigit()))
    missing = max(0, jobs - len(found) - len(refused))
    done, total = len(found) - len(failed), len(found) + len(refused) + missing
    print(f"sweep {name}: {done} of {total} runs completed")
    errors = [f"error: {len(failed)} of {len(found)} runs failed:"] if failed else []
    for record in failed:  # died: its process was killed (out of memory, kill -9)
        overrides = " ".join(map(str, record.get("overrides") or []))
        status = read_run(runs / str(record.get("id")), record).status
        errors.append(f"  {record.get('id')} ({overrides}): {record.get('error') or status}")
    errors += [f"error: {len(refused)} of {total} jobs refused before they ran:"] * bool(refused)
    errors += [f"  ({' '.join(job.get('overrides', []))}): {job.get('error')}" for job in refused]
    if missing:
        errors.append(f"error: {missing} of {jobs} jobs left no run record; see {folder}")
    print("\n".join(errors), file=sys.stderr, end="\n" * bool(errors))
    return 1 if errors else 0


def report_all() -> int:
    """1 if a sweep that ended in this process had a failure (its summary says which)."""
    codes, SweepSummary.ended[:] = list(SweepSummary.ended), []
    return max(codes, default=0)
