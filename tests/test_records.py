"""End-to-end tier: every run leaves a complete record that nothing overwrites.

Real stage runs of a baked project, as subprocesses: concurrency, crashes,
signals and kill -9, sweeps with a failing job, debug mode, seeds, artifacts.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Bakery, require_ok, run

pytestmark = pytest.mark.e2e
PKG = "run_records"
QUIET = {"WANDB_MODE": "disabled"}


@pytest.fixture(scope="module")
def project(bakery: Bakery, uv: str) -> Path:
    """A baked, installed, committed project with its data prepared and featurized."""
    baked = bakery({"project_name": "Run Records"})
    require_ok(run(["make", "setup", f"UV={uv}"], cwd=baked))
    env = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@e.org"}
    env |= {"GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@e.org"}
    require_ok(run(["git", "add", "-A"], cwd=baked))
    require_ok(run(["git", "commit", "-q", "--no-verify", "-m", "Start"], cwd=baked, env=env))
    for stage in ("prepare", "featurize"):
        require_ok(stage_run(baked, f"stage={stage}"))
    return baked


def stage_run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m run_records ARGS` with the tracker off."""
    command = [str(project / ".venv/bin/python"), "-m", PKG, *args, "logger=none"]
    return run(command, cwd=project, env={**QUIET, **env})


def records(project: Path, stage: str = "") -> dict[str, dict[str, object]]:
    """Every run record in runs/, by run id."""
    found = {}
    for path in sorted((project / "runs").glob(f"{stage}*/run.json")):
        found[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
    return found


def newest(project: Path, stage: str) -> Path:
    """The folder of the most recent run of a stage."""
    return max((project / "runs").glob(f"{stage}_*"), key=lambda p: p.stat().st_mtime)


def test_a_completed_run_records_everything(project: Path) -> None:
    result = require_ok(stage_run(project, "stage=train", "train.epochs=3"))
    folder = newest(project, "train")
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["id"] == folder.name
    assert list(record["metrics"]) == ["val_rmse", "train_rmse", "epochs"]
    assert record["started"] < record["ended"]
    names = {p.name for p in folder.iterdir()}
    assert {"config.yaml", "overrides.json", "provenance.json", "run.log", "log.jsonl"} <= names
    assert {"metrics.jsonl", "artifacts"} <= names
    provenance = json.loads((folder / "provenance.json").read_text())
    head = require_ok(run(["git", "rev-parse", "HEAD"], cwd=project)).stdout.strip()
    assert provenance["git"]["commit"] == head
    assert provenance["seed"] == 42
    assert "numpy" in {name.lower() for name in provenance["packages"]}
    log_lines = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert any("completed" in line["message"] for line in log_lines)
    assert json.loads((folder / "overrides.json").read_text()) == [
        "stage=train",
        "train.epochs=3",
        "logger=none",
    ]
    assert "train" in result.stderr


def test_sixteen_runs_started_at_once_get_sixteen_records(project: Path) -> None:
    before = set(records(project, "prepare"))
    command = [str(project / ".venv/bin/python"), "-m", PKG, "logger=none", "stage=prepare"]
    env = {**os.environ, **QUIET}
    processes = [
        subprocess.Popen(command, cwd=project, env=env, stderr=subprocess.DEVNULL)
        for _ in range(16)
    ]
    assert [p.wait(timeout=300) for p in processes] == [0] * 16
    new = {k: v for k, v in records(project, "prepare").items() if k not in before}
    assert len(new) == 16
    assert {r["status"] for r in new.values()} == {"completed"}


def test_same_config_same_seed_same_metrics(project: Path) -> None:
    for _ in range(2):
        require_ok(stage_run(project, "stage=train", "model=mlp", "train.epochs=4"))
    last_two = sorted((project / "runs").glob("train_*"), key=lambda p: p.stat().st_mtime)[-2:]
    metrics = [json.loads((p / "run.json").read_text())["metrics"] for p in last_two]
    assert metrics[0] == metrics[1]


def test_a_crash_is_recorded_with_its_traceback(project: Path) -> None:
    result = stage_run(project, "stage=train", "train.batch_size=0")
    assert result.returncode == 1
    record = json.loads((newest(project, "train") / "run.json").read_text())
    assert record["status"] == "failed"
    assert "ValueError" in record["error"]
    assert "Traceback (most recent call last)" in record["traceback"]
    assert "1 of 1 runs failed" in result.stderr


def test_a_sweep_with_a_failing_job_runs_the_others_and_fails_at_the_end(project: Path) -> None:
    before = set(records(project, "train"))
    result = stage_run(project, "--multirun", "stage=train", "train.batch_size=0,16,32")
    assert result.returncode == 1
    new = {k: v for k, v in records(project, "train").items() if k not in before}
    assert sorted(r["status"] for r in new.values()) == ["completed", "completed", "failed"]
    assert "1 of 3 runs failed" in result.stderr
    assert "train.batch_size=0" in result.stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_marks_the_run_interrupted(project: Path, sig: int, code: int) -> None:
    before = set(records(project, "train"))
    command = [str(project / ".venv/bin/python"), "-m", PKG, "logger=none", "stage=train"]
    process = subprocess.Popen(
        [*command, "train.epochs=100000"],
        cwd=project,
        env={**os.environ, **QUIET},
        stderr=subprocess.PIPE,
        text=True,
    )
    new = wait_for_new_run(project, before)
    wait_for_status(new, "running")
    time.sleep(1.0)
    process.send_signal(sig)
    assert process.wait(timeout=60) == code
    record = json.loads((new / "run.json").read_text())
    assert record["status"] == "interrupted"
    assert record["ended"]


def test_kill_9_at_any_moment_leaves_no_half_written_json(project: Path) -> None:
    rng = random.Random(7)
    command = [str(project / ".venv/bin/python"), "-m", PKG, "logger=none", "stage=train"]
    for _ in range(6):
        process = subprocess.Popen(
            [*command, "train.epochs=300"],
            cwd=project,
            env={**os.environ, **QUIET},
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.2, 4.0))
        process.kill()
        process.wait(timeout=60)
    for path in (project / "runs").rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
    for path in (project / "runs").rglob("*.jsonl"):
        lines = path.read_text(encoding="utf-8").splitlines()
        for line in lines[:-1]:
            json.loads(line)


def test_debug_mode_leaves_no_record_and_raises_at_once(project: Path, tmp_path: Path) -> None:
    before = set(records(project))
    result = stage_run(
        project, "stage=train", "debug=default", "train.batch_size=0", TMPDIR=str(tmp_path)
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert set(records(project)) == before
    debug_runs = list((tmp_path / f"{PKG}-debug" / "runs").glob("train_*"))
    assert len(debug_runs) == 1


def test_an_artifact_can_be_reused_instead_of_recomputed(project: Path) -> None:
    require_ok(stage_run(project, "stage=train", "train.epochs=3"))
    source = newest(project, "train")
    model = (source / "artifacts/model.pkl").read_bytes()
    require_ok(stage_run(project, "stage=train", f"train.load_from={source.name}"))
    reused = newest(project, "train")
    record = json.loads((reused / "run.json").read_text())
    assert record["artifacts"]["model.pkl"]["from_run"] == source.name
    assert (project / "models/model.pkl").read_bytes() == model
    missing = stage_run(project, "stage=train", "train.load_from=train_19990101T000000Z_000000")
    assert missing.returncode == 1
    assert "has no artifact 'model.pkl'" in missing.stderr


def wait_for_new_run(project: Path, before: set[str], timeout: float = 60) -> Path:
    """The folder of the first run that was not in `before`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = set(records(project, "train")) - before
        if new:
            return project / "runs" / new.pop()
        time.sleep(0.1)
    raise AssertionError("no new run folder appeared")


def wait_for_status(folder: Path, status: str, timeout: float = 60) -> None:
    """Wait until a run's record says `status`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if json.loads((folder / "run.json").read_text()).get("status") == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"{folder.name} never reached {status}")
