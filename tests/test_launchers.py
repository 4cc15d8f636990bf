"""End-to-end tier: a sweep on Hydra's joblib launcher whose job fails.

The tutorial's sweeps (test_tutorial.py) show that every job on joblib and
submitit_local leaves its record and its offline W&B run in the sweep's group.
Here a job fails in a worker process: the others complete and the summary,
read from the records, names the failed one.
"""

from __future__ import annotations

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
    result = stage_run(project, *sweep, "train.epochs=2", "train.batch_size=0,16,32")
    assert result.returncode == 1, result.stderr
    runs = new_runs(project, before)
    statuses = sorted(record["status"] for _, record in runs)
    assert statuses == ["completed", "completed", "failed"]
    assert "2 of 3 runs completed" in result.stdout
    assert "error: 1 of 3 runs failed:" in result.stderr
    assert "train.batch_size=0" in result.stderr
    lost = sum(not (path / name).is_file() for path, _ in runs for name in RECORD_FILES)
    reliability.record(
        "Sweeps",
        "a 3-job sweep in joblib worker processes whose first job crashes",
        "the other 2 complete; the summary, read from the records, names the failed run",
        lost,
    )
    assert lost == 0
