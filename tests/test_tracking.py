"""End-to-end tier: Weights & Biases runs, read back from real offline `.wandb` files.

The project logs with real wandb in offline mode (no account, no network); the
tests read the transaction log with `wandb leet inspect --json`, as a user could.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import Bakery, require_ok, run
from wandb_files import of_type, offline_run, prepared_project, wandb_records

pytestmark = pytest.mark.e2e
PKG = "track_check"


@pytest.fixture(scope="module")
def project(bakery: Bakery, uv: str) -> Path:
    """A baked, installed project with its data prepared and featurized (no tracker)."""
    return prepared_project(bakery, uv, "Track Check", PKG)


def stage_run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m track_check ARGS`, W&B offline for want of a login."""
    return offline_run(project, PKG, *args, **env)


def newest(project: Path, stage: str) -> Path:
    """The folder of the most recent run of a stage."""
    return max((project / "runs").glob(f"{stage}_*"), key=lambda p: p.stat().st_mtime)


def test_a_run_logs_config_curves_summary_and_artifacts_offline(project: Path) -> None:
    result = require_ok(stage_run(project, "stage=train", "train.epochs=7"))
    assert "W&B: no credentials found, logging offline" in result.stderr
    run_dir = newest(project, "train")
    records = wandb_records(project, run_dir)
    (start,) = of_type(records, "run")
    assert start["display_name"] == run_dir.name
    assert start["run_group"] == "default"
    assert start["job_type"] == "train"
    assert "train" in start.get("tags", [])
    config = start["config"]["update"]
    assert {"data", "model", "train", "seed", "provenance"} <= set(config)
    assert config["train"]["epochs"] == 7
    assert len(of_type(records, "history")) == 7
    summary = {k: v for record in of_type(records, "summary") for k, v in record["update"].items()}
    assert {"val_rmse", "train_rmse", "epochs"} <= set(summary)
    assert [a["name"] for a in of_type(records, "artifact")] == [f"{run_dir.name}-model"]
    assert of_type(records, "exit")[0].get("exit_code", 0) == 0
    tracker = json.loads((run_dir / "run.json").read_text())["tracker"]
    assert tracker["tracker"] == "wandb"
    assert Path(project / tracker["wandb_dir"]).is_dir()


def test_a_failing_stage_finishes_its_wandb_run_with_an_error_code(project: Path) -> None:
    result = stage_run(project, "stage=train", "train.batch_size=0")
    assert result.returncode == 1
    (exit_record,) = of_type(wandb_records(project, newest(project, "train")), "exit")
    assert exit_record["exit_code"] != 0


def test_a_sweep_of_three_jobs_gives_three_runs_in_one_group(project: Path) -> None:
    before = set((project / "runs").glob("train_*"))
    require_ok(stage_run(project, "--multirun", "stage=train", "train.epochs=2,3,4"))
    new = sorted(set((project / "runs").glob("train_*")) - before)
    assert len(new) == 3
    starts = [of_type(wandb_records(project, folder), "run")[0] for folder in new]
    groups = {start["run_group"] for start in starts}
    assert len(groups) == 1
    assert groups.pop().startswith("sweep-")
    assert len({start["run_id"] for start in starts}) == 3


def test_an_unreachable_server_falls_back_to_offline_without_hanging(project: Path) -> None:
    result = require_ok(
        stage_run(
            project,
            "stage=train",
            "train.epochs=2",
            WANDB_API_KEY="0123456789abcdef0123456789abcdef01234567",
            WANDB_BASE_URL="http://127.0.0.1:9",
            WANDB_INIT_TIMEOUT="5",
        )
    )
    assert "W&B: cannot reach the server" in result.stderr
    assert list(newest(project, "train").glob("wandb/offline-run-*/run-*.wandb"))


def test_wandb_is_not_imported_without_the_wandb_logger(project: Path) -> None:
    code = (
        "import sys, runpy; sys.argv = ['x', 'stage=prepare', 'logger=none'];"
        "\ntry:\n    runpy.run_module('track_check', run_name='__main__')"
        "\nexcept SystemExit:\n    pass\nprint('wandb' in sys.modules)"
    )
    result = require_ok(run([str(project / ".venv/bin/python"), "-c", code], cwd=project))
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_make_wandb_sync_says_when_there_is_nothing_to_upload(
    project: Path, uv: str, tmp_path: Path
) -> None:
    # Uploading needs the W&B servers, which tests never contact.
    makefile = str(project / "Makefile")
    result = require_ok(run(["make", "-f", makefile, "wandb-sync", f"UV={uv}"], cwd=tmp_path))
    assert "no offline W&B runs in runs/" in result.stdout
