"""End-to-end tier: Weights & Biases runs, read back from real offline `.wandb` files.

The project logs with real wandb in offline mode (no account, no network); the
tests read the transaction log with `wandb leet inspect --json`, as a user could.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import make, newest, read_record, require_ok, run, stage_run
from reliability import Recorder
from wandb_files import of_type, wandb_records

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(prepared: Path) -> Path:
    """The shared installed project, its data prepared and featurized."""
    return prepared


def test_a_run_logs_config_curves_summary_and_artifacts_offline(project: Path) -> None:
    result = require_ok(stage_run(project, "stage=train", "train.epochs=7"))
    assert "W&B:" not in result.stderr  # offline is the default: nothing to tell
    run_dir = newest(project, "train")
    records = wandb_records(project, run_dir)
    (start,) = of_type(records, "run")
    assert start["display_name"] == run_dir.name
    assert start["run_group"] == "default"
    assert start["job_type"] == "train"
    assert "train" in start.get("tags", [])
    config = start["config"]["update"]  # at start; provenance comes as soon as it is known
    config |= {k: v for record in of_type(records, "config") for k, v in record["update"].items()}
    assert {"data", "model", "train", "seed", "provenance"} <= set(config)
    assert config["train"]["epochs"] == 7
    assert len(of_type(records, "history")) == 7
    summary = {k: v for record in of_type(records, "summary") for k, v in record["update"].items()}
    assert {"val_rmse", "train_rmse", "epochs"} <= set(summary)
    assert [a["name"] for a in of_type(records, "artifact")] == [f"{run_dir.name}-model"]
    assert of_type(records, "exit")[0].get("exit_code", 0) == 0
    tracker = read_record(run_dir)["tracker"]
    assert tracker["tracker"] == "wandb"
    assert Path(project / tracker["wandb_dir"]).is_dir()


def test_a_failing_stage_finishes_its_wandb_run_with_an_error_code(project: Path) -> None:
    result = stage_run(project, "stage=train", "model.regression.alpha=-1")  # raises in training
    assert result.returncode == 1
    (exit_record,) = of_type(wandb_records(project, newest(project, "train")), "exit")
    assert exit_record["exit_code"] != 0


def test_sigterm_while_wandb_starts_leaves_the_record_and_the_wandb_run_in_agreement(
    project: Path, reliability: Recorder
) -> None:
    # SIGTERM at growing delays after the run's W&B folder appears, until one lands while
    # W&B starts up: every time, the record says interrupted and a W&B run says failed.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "AWS_"))}
    env = {**clean, "NETRC": str(project / "no-netrc")}
    command = [str(project / ".venv/bin/python"), "-m", project.name, "stage=train"]
    outcomes: list[tuple[str, list[int]]] = []
    for delay in (0.0, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0):
        before = set((project / "runs").glob("train_*"))
        process = subprocess.Popen([*command, "train.epochs=1000000"], cwd=project, env=env)
        deadline = time.monotonic() + 60
        while not (started := list(set((project / "runs").glob("train_*")) - before)):
            assert time.monotonic() < deadline, "no run folder"
            time.sleep(0.01)
        while not (started[0] / "wandb").is_dir():
            assert process.poll() is None, "the run ended before W&B started"
            assert time.monotonic() < deadline, "W&B did not start"
            time.sleep(0.005)
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 143
        logs = list(started[0].glob("wandb/offline-run-*/run-*.wandb"))
        exits = of_type(wandb_records(project, started[0]), "exit") if logs else []
        outcomes.append((read_record(started[0])["status"], [e.get("exit_code", 0) for e in exits]))
        if exits:  # W&B had begun its run: the case to prove
            break
    assert all(status == "interrupted" for status, _ in outcomes), outcomes
    assert outcomes[-1][1], f"SIGTERM never landed while W&B started: {outcomes}"
    disagree = sum(0 in codes for _, codes in outcomes)
    reliability.record(
        "Signals",
        f"SIGTERM while W&B starts up ({len(outcomes)} tries at growing delays)",
        "the record says interrupted and the W&B run ends with exit code 1, every time",
        disagree,
    )
    assert disagree == 0


def test_an_online_run_with_its_server_out_of_reach_logs_offline_without_hanging(
    project: Path,
) -> None:
    result = require_ok(
        stage_run(
            project,
            "stage=train",
            "train.epochs=2",
            "logger.mode=online",
            WANDB_API_KEY="0123456789abcdef0123456789abcdef01234567",
            WANDB_BASE_URL="http://127.0.0.1:9",
            WANDB_INIT_TIMEOUT="5",
        )
    )
    assert "W&B: no online run (" in result.stderr
    assert "logging offline (upload later: make wandb-sync)" in result.stderr
    assert list(newest(project, "train").glob("wandb/offline-run-*/run-*.wandb"))


def test_wandb_is_not_imported_without_the_wandb_logger(project: Path) -> None:
    code = (
        "import sys, runpy; sys.argv = ['x', 'stage=prepare', 'logger=none'];"
        f"\ntry:\n    runpy.run_module('{project.name}', run_name='__main__')"
        "\nexcept SystemExit:\n    pass\nprint('wandb' in sys.modules)"
    )
    result = require_ok(run([str(project / ".venv/bin/python"), "-c", code], cwd=project))
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_make_wandb_sync_says_when_there_is_nothing_to_upload(
    project: Path, tmp_path: Path
) -> None:
    # Uploading needs the W&B servers, which tests never contact: a folder without runs.
    result = require_ok(make(tmp_path, "-f", str(project / "Makefile"), "wandb-sync"))
    assert "no offline W&B runs in runs/" in result.stdout
