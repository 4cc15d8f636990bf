"""Sweeps (`--multirun`): one name per sweep, and one summary when it ends.

Hydra's launcher decides where the jobs run: one after another in this process
(the default), in worker processes (`hydra/launcher=joblib`), as separate
processes (`submitit_local`) or as SLURM jobs (`slurm`, conf/hydra/launcher/).
Whichever it is, each job writes its run record with the sweep's name, and the
summary reads those records: it is the same for every launcher.

The name is `sweep-<folder>`, after Hydra's sweep folder (`runs/.multirun/<time>`),
which every job of a sweep shares; the tracker groups the sweep's runs by it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from .records import TIMESTAMP_FORMAT, runs_dir

if TYPE_CHECKING:
    from .run import Outcome

RECORD = "run.json"
# Run ids carry their start time: a sweep's runs started after the sweep did.
CLOCK_SLACK = timedelta(minutes=5)


def sweep_name(sweep_dir: str | Path) -> str:
    """The name of the sweep whose Hydra folder is `sweep_dir`."""
    return f"sweep-{Path(sweep_dir).name}"


@dataclass(frozen=True)
class Sweep:
    """A sweep that ran: its name, where its runs are, when it started."""

    name: str
    runs_dir: Path
    folder: Path
    started: datetime


class SweepSummary(Callback):
    """Hydra callback (conf/config.yaml, hydra.callbacks): notes each sweep as it ends.

    Hydra calls it in the process that launched the sweep, whatever the launcher.
    """

    ended: list[Sweep] = []  # noqa: RUF012 (read by the command line once Hydra returns)

    def __init__(self) -> None:
        self._started = datetime.now(timezone.utc)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Note the start time: the sweep's runs are the ones that started after it."""
        self._started = datetime.now(timezone.utc)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Note the sweep for the summary the command prints when Hydra returns."""
        folder = Path(str(config.hydra.sweep.dir))
        runs = runs_dir(Path(str(config.runtime.runs_dir)).parent)
        SweepSummary.ended.append(Sweep(sweep_name(folder), runs, folder, self._started))


def sweep_runs(sweep: Sweep) -> list[tuple[Path, dict[str, Any]]]:
    """The run folders and records of a sweep's jobs, in start order."""
    from .runs import read_json, run_names

    cutoff = (sweep.started - CLOCK_SLACK).strftime(TIMESTAMP_FORMAT)
    # A run id is `<stage>_<start time>_<random>`: order by the time, not the stage.
    names = sorted(
        run_names(sweep.runs_dir, cutoff=cutoff), key=lambda name: name.rsplit("_", 2)[1:]
    )
    records = [(sweep.runs_dir / name, read_json(sweep.runs_dir / name / RECORD)) for name in names]
    return [(path, record) for path, record in records if record.get("sweep") == sweep.name]


def report(sweep: Sweep) -> int:
    """Print how the sweep's runs ended, each failed one with its error; 1 if any failed.

    A job that left no record (killed before it started, say) counts as failed;
    the launcher's own logs are in the sweep folder.
    """
    runs = sweep_runs(sweep)
    outcomes = [(" ".join(_overrides(path)), _outcome(record)) for path, record in runs]
    jobs = sum(1 for path in sweep.folder.glob("*") if path.name.isdigit())
    missing = max(0, jobs - len(runs))
    completed = sum(1 for _, outcome in outcomes if outcome.status == "completed")
    print(f"sweep {sweep.name}: {completed} of {len(runs) + missing} runs completed")
    code = report_failures(outcomes)
    if missing:
        print(
            f"error: {missing} of {jobs} jobs left no run record; the launcher's logs are "
            f"in {sweep.folder}",
            file=sys.stderr,
        )
        return 1
    return code


def report_failures(outcomes: Sequence[tuple[str, Outcome]]) -> int:
    """Say which runs failed (after a sweep, all of them at once); 1 if any did."""
    failed = [(job, outcome) for job, outcome in outcomes if outcome.status != "completed"]
    if not failed:
        return 0
    print(f"error: {len(failed)} of {len(outcomes)} runs failed:", file=sys.stderr)
    for job, outcome in failed:
        print(f"  {outcome.run_id} ({job}): {outcome.error}", file=sys.stderr)
    return 1


def report_all() -> int:
    """Report every sweep that ended in this process; 1 if any of them had a failure."""
    codes = [report(sweep) for sweep in SweepSummary.ended]
    SweepSummary.ended.clear()
    return max(codes, default=0)


def _outcome(record: dict[str, Any]) -> Outcome:
    from .run import Outcome

    status = str(record.get("status"))
    error = record.get("error") or (None if status == "completed" else f"status {status}")
    return Outcome(str(record.get("id")), status, dict(record.get("metrics") or {}), error)


def _overrides(run_dir: Path) -> list[str]:
    try:
        return [str(item) for item in json.loads((run_dir / "overrides.json").read_text("utf-8"))]
    except (OSError, ValueError, TypeError):
        return []
