"""End-to-end tier: sweeps on Hydra's real launchers, the way they scale out.

`hydra/launcher=joblib` runs a sweep's jobs in worker processes on this machine,
`submitit_local` as separate jobs through submitit (the same path SLURM jobs take,
without the scheduler). Each job must leave its run record and its offline W&B
run, all in one group, and the command must summarise the sweep from the records.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Bakery, require_ok
from reliability import Recorder
from wandb_files import of_type, offline_run, prepared_project, wandb_records

pytestmark = pytest.mark.e2e
PKG = "sweep_check"


@pytest.fixture(scope="module")
def project(bakery: Bakery, uv: str) -> Path:
    """A baked, installed project with its data prepared and featurized (no tracker)."""
    return prepared_project(bakery, uv, "Sweep Check", PKG)


def stage_run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m sweep_check ARGS`, W&B offline for want of a login."""
    return offline_run(project, PKG, *args, **env)


def new_runs(project: Path, before: set[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """The train runs made since `before`, with their records."""
    folders = sorted(set((project / "runs").glob("train_*")) - before)
    return [(path, json.loads((path / "run.json").read_text("utf-8"))) for path in folders]


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
    expected = ("run.json", "config.yaml", "overrides.json", "provenance.json", "run.log")
    lost = sum(not (path / name).is_file() for path, _ in runs for name in expected)
    reliability.record(
        "Sweeps",
        "a 3-job sweep in joblib worker processes whose first job crashes",
        "the other 2 complete; the summary, read from the records, names the failed run",
        lost,
    )
    assert lost == 0
