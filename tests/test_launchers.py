"""End-to-end tier: sweeps on Hydra's joblib launcher whose jobs fail, are refused or killed.

The tutorial's sweeps (test_tutorial.py) show that every job on joblib and
submitit_local leaves its record and its offline W&B run in the sweep's group.
Here a job fails in a worker process, a value is refused in one job, a worker is
killed, and the sweep's main process is killed: the summary, read from the records,
names what happened, and no worker runs on as an orphan.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import read_record, stage_run
from reliability import Recorder

pytestmark = pytest.mark.e2e
# What every run folder keeps, whatever ran it.
RECORD_FILES = ("run.json", "config.yaml", "provenance.json", "run.log")


@pytest.fixture(scope="module")
def project(prepared: Path) -> Path:
    """The shared installed project, its data prepared and featurized."""
    return prepared


def new_runs(project: Path, before: set[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """The train runs made since `before`, with their records."""
    folders = sorted(set((project / "runs").glob("train_*")) - before)
    return [(path, read_record(path)) for path in folders]


def test_a_failed_job_of_a_parallel_sweep_is_named_after_the_others_complete(
    project: Path, reliability: Recorder
) -> None:
    before = set((project / "runs").glob("train_*"))
    sweep = ["--multirun", "hydra/launcher=joblib", "stage=train", "logger=none"]
    # The first job's estimator refuses its alpha once training starts: a crash.
    result = stage_run(project, *sweep, "train.epochs=2", "model.regression.alpha=-1,0.001,0.01")
    assert result.returncode == 1, result.stderr
    runs = new_runs(project, before)
    statuses = sorted(record["status"] for _, record in runs)
    assert statuses == ["completed", "completed", "failed"]
    (failed,) = [record["id"] for _, record in runs if record["status"] == "failed"]
    ended = [line for line in result.stderr.splitlines() if line.startswith("error: the sweep")]
    assert len(ended) == 1, result.stderr
    assert f"run {failed} failed: " in ended[0]
    lost = sum(not (path / name).is_file() for path, _ in runs for name in RECORD_FILES)
    reliability.record(
        "Sweeps",
        "a 3-job sweep in joblib worker processes whose first job crashes",
        "the other 2 complete; one closing `error: the sweep failed` line names the failed run",
        lost,
    )
    assert lost == 0


def test_a_value_the_schema_refuses_in_one_job_is_named_and_the_others_run(
    project: Path, reliability: Recorder
) -> None:
    before = set((project / "runs").glob("*"))
    sweep = ["--multirun", "hydra/launcher=joblib", "stage=train", "logger=none"]
    result = stage_run(project, *sweep, "train.epochs=2,abc,3")
    assert result.returncode == 1, result.stderr
    runs = new_runs(project, before)
    assert sorted(record["status"] for _, record in runs) == ["completed", "completed"]
    ended = [line for line in result.stderr.splitlines() if line.startswith("error: the sweep")]
    assert len(ended) == 1, result.stderr
    assert "config key 'train.epochs'" in ended[0]
    assert "Traceback" not in result.stderr
    # Every new folder in runs/ is a run with its record: none is left half-made.
    new = [path for path in set((project / "runs").glob("*")) - before if path.name != ".multirun"]
    lost = sum(not (path / "run.json").is_file() for path in new)
    reliability.record(
        "Sweeps",
        "`train.epochs=2,abc,3` on joblib: the schema refuses one job's value",
        "the other 2 jobs complete; the refused job's value is named in one line; exit 1",
        lost,
    )
    assert lost == 0


def start_sweep(
    project: Path, *args: str, output: int = subprocess.PIPE
) -> tuple[subprocess.Popen[str], set[Path]]:
    """Start a joblib sweep of the train stage on 2 workers; return it and runs/ before it."""
    before = set((project / "runs").glob("train_*"))
    command = [str(project / ".venv/bin/python"), "-m", project.name, "--multirun"]
    command += ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "stage=train", "logger=none"]
    sweep = subprocess.Popen(
        [*command, *args], cwd=project, stdout=output, stderr=output, text=True
    )
    return sweep, before


def wait_for(found: Callable[[], list[Any]], count: int, timeout: float = 120) -> list[Any]:
    """Poll `found` until it gives `count` items or more; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while len(items := found()) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {count} items, got {items}")
        time.sleep(0.2)
    return items


def running(project: Path, before: set[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """The new train runs that are training (their record made), with their records."""
    new = new_runs_so_far(project, before)
    return [
        (p, r) for p, r in new if r.get("status") == "running" and (p / "metrics.jsonl").is_file()
    ]


def new_runs_so_far(project: Path, before: set[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """The new train runs that have a record already."""
    folders = sorted(set((project / "runs").glob("train_*")) - before)
    return [(path, read_record(path)) for path in folders if (path / "run.json").is_file()]


def alive(pid: int) -> bool:
    """Whether a process with this id runs (a zombie, ended but not yet reaped, does not)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_worker_ends_the_sweep_in_one_line_and_its_run_reads_died(
    project: Path, reliability: Recorder
) -> None:
    sweep, before = start_sweep(project, "train.epochs=1000000,2,3,4")
    long = "train.epochs=1000000"

    def cut() -> list[tuple[Path, dict[str, Any]]]:  # the job that would run for hours
        return [(p, r) for p, r in running(project, before) if long in r["overrides"]]

    ((path, record),) = wait_for(cut, 1)
    os.kill(record["pid"], signal.SIGKILL)  # as the kernel's out-of-memory killer would
    _, err = sweep.communicate(timeout=300)
    assert sweep.returncode == 1, err
    assert "Traceback" not in err
    stopped = [line for line in err.splitlines() if line.startswith("error: the sweep failed")]
    assert len(stopped) == 1, err
    # Its record still says running, with a process that is gone: `runs ls` shows it as died.
    assert read_record(path)["status"] == "running"
    assert not alive(record["pid"])
    # Killed runs (this one, and any joblib's teardown killed while starting) keep what they
    # wrote before: their run.json at least; completed runs keep all of their record.
    runs = new_runs(project, before)
    whole = [p for p, r in runs if r.get("status") == "completed"]
    lost = sum(not (p / name).is_file() for p in whole for name in RECORD_FILES)
    lost += sum(not r.get("id") for _, r in runs)  # a record that is not JSON
    reliability.record(
        "Sweeps",
        "kill -9 of a joblib worker mid-run (as an out-of-memory kill)",
        "one `error: the sweep failed` line; the killed run is listed as died; exit 1",
        lost,
    )
    assert lost == 0


def test_killing_a_sweeps_main_process_stops_its_workers_and_their_runs(
    project: Path, reliability: Recorder
) -> None:
    jobs = "train.epochs=1000000,1000001,2,3,4,5"
    sweep, before = start_sweep(project, jobs, output=subprocess.DEVNULL)
    started = wait_for(lambda: running(project, before), 2)
    sweep.kill()  # the launcher dies, its 2 workers each in a run, 4 jobs still queued
    sweep.wait(timeout=60)
    ended = wait_for(
        lambda: [r for _, r in new_runs_so_far(project, before) if r["status"] != "running"], 2, 60
    )
    time.sleep(3)  # time for a worker that went on to start a queued job
    runs = new_runs_so_far(project, before)
    assert sorted(record["status"] for _, record in runs) == ["interrupted", "interrupted"], ended
    wait_for(lambda: [r for _, r in started if not alive(r["pid"])], len(started), 60)
    lost = sum(not (p / name).is_file() for p, _ in runs for name in RECORD_FILES)
    reliability.record(
        "Signals",
        "kill -9 of a joblib sweep's main process, 2 runs going and 4 jobs queued",
        "both workers end their runs as interrupted and exit; no queued job starts",
        lost,
    )
    assert lost == 0


def test_two_sweeps_started_together_keep_their_own_names(
    project: Path, reliability: Recorder
) -> None:
    before = set((project / "runs").glob("train_*"))
    command = [str(project / ".venv/bin/python"), "-m", project.name, "--multirun"]
    command += ["stage=train", "logger=none", "train.epochs=2", "seed=1,2"]
    sweeps = [
        subprocess.Popen(
            command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    ended = [sweep.communicate(timeout=300) for sweep in sweeps]
    assert [sweep.returncode for sweep in sweeps] == [0, 0], [err for _, err in ended]
    runs = new_runs(project, before)
    counted = Counter(str(record["sweep"]) for _, record in runs)
    lost = 4 - len(runs)
    reliability.record(
        "Sweeps",
        "two 2-job sweeps started in the same second",
        "two sweep names, each on its own 2 runs' records",
        lost,
    )
    assert lost == 0
    assert sorted(counted.values()) == [2, 2], counted
    assert all(name.startswith("sweep-") for name in counted)
