"""End-to-end tier: sweeps on Hydra's real launchers, the way they scale out.

`hydra/launcher=joblib` runs a sweep's jobs in worker processes on this machine,
`submitit_local` as separate jobs through submitit (the same path SLURM jobs take,
without the scheduler). Each job must leave its run record and its offline W&B
run, all in one group, and the command must summarise the sweep from the records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import read_record, require_ok, stage_run
from reliability import Recorder
from wandb_files import of_type, wandb_records

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


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_a_four_job_sweep_leaves_four_records_and_four_wandb_runs_in_one_group(
    project: Path, launcher: str
) -> None:
    before = set((project / "runs").glob("train_*"))
    sweep = ["--multirun", f"hydra/launcher={launcher}", "stage=train", "train.epochs=2,3,4,5"]
    result = require_ok(stage_run(project, *sweep))

    runs = new_runs(project, before)
    assert len(runs) == 4
    records = [record for _, record in runs]
    assert [record["status"] for record in records] == ["completed"] * 4
    assert sorted(record["metrics"]["epochs"] for record in records) == [2, 3, 4, 5]
    (name,) = {record["sweep"] for record in records}
    assert name.startswith("sweep-")
    # The jobs ran outside the command's process, in more than one process.
    assert len({record["pid"] for record in records}) >= 2
    assert f"sweep {name}: 4 of 4 runs completed" in result.stdout

    starts = [of_type(wandb_records(project, path), "run")[0] for path, _ in runs]
    assert {start["run_group"] for start in starts} == {name}
    assert {start["job_type"] for start in starts} == {"train"}
    # Each record names its W&B run; each W&B run is named after its record.
    assert sorted(start["run_id"] for start in starts) == sorted(
        record["tracker"]["wandb_id"] for record in records
    )
    assert sorted(start["display_name"] for start in starts) == sorted(r["id"] for r in records)
    if launcher == "submitit_local":
        folder = project / "runs" / ".multirun" / name.removeprefix("sweep-") / ".submitit"
        assert len(list(folder.glob("*/*_result.pkl"))) == 4


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
