"""End-to-end tier: a baked project installs, runs every stage, and passes its own tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import DEFAULT_PKG, ROOT, Bakery, require_ok, run

pytestmark = pytest.mark.e2e
STAGES = ("prepare", "featurize", "train", "evaluate")
# Tracking goes to offline W&B files: real wandb, no network, no account.
OFFLINE = {"WANDB_MODE": "offline"}


@pytest.fixture(scope="module")
def project(bakery: Bakery, uv: str) -> Path:
    """The default bake after `make setup`: locked environment and git hooks installed."""
    baked = bakery()
    require_ok(run(["make", "setup", f"UV={uv}"], cwd=baked))
    return baked


@pytest.fixture(scope="module")
def pipeline(project: Path) -> dict[str, dict[str, object]]:
    """Run every stage in order, as separate processes; return each stage's run record."""
    records = {}
    for stage in STAGES:
        before = set((project / "runs").glob(f"{stage}_*"))
        command = [".venv/bin/python", "-m", DEFAULT_PKG, f"stage={stage}"]
        require_ok(run(command, cwd=project, env=OFFLINE))
        (run_dir,) = set((project / "runs").glob(f"{stage}_*")) - before
        records[stage] = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        records[stage]["dir"] = str(run_dir)
    return records


def test_make_setup_installs_the_environment_and_the_git_hook(project: Path) -> None:
    assert (project / ".venv" / "bin" / "python").exists()
    assert (project / ".git" / "hooks" / "pre-commit").exists()


def test_the_stage_list_in_the_package_is_the_one_the_tests_run(project: Path) -> None:
    code = f"from {DEFAULT_PKG}.stages import PIPELINE; print(*PIPELINE)"
    result = require_ok(run([".venv/bin/python", "-c", code], cwd=project))
    assert tuple(result.stdout.split()) == STAGES


def test_every_stage_completes_and_leaves_its_outputs(
    project: Path, pipeline: dict[str, dict[str, object]]
) -> None:
    assert [record["status"] for record in pipeline.values()] == ["completed"] * len(STAGES)
    for name in (
        "data/raw/diabetes.csv",
        "data/interim/train.csv",
        "data/interim/test.csv",
        "data/processed/train.csv",
        "data/processed/val.csv",
        "data/processed/test.csv",
        "models/model.pkl",
        "reports/plots/train_curve.csv",
        "reports/plots/predictions.csv",
    ):
        assert (project / name).stat().st_size > 0, name
    png = (project / "reports/figures/pred_vs_actual.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert len((project / "data/raw/diabetes.csv").read_text().splitlines()) == 443


def test_the_metrics_are_finite_and_better_than_guessing_the_mean(
    project: Path, pipeline: dict[str, dict[str, object]]
) -> None:
    metrics = json.loads((project / "reports/metrics.json").read_text(encoding="utf-8"))
    assert set(metrics) == {"rmse", "mae", "r2"}
    assert all(math.isfinite(value) for value in metrics.values())
    assert metrics["r2"] > 0.2


def test_training_logs_one_curve_row_per_epoch(
    project: Path, pipeline: dict[str, dict[str, object]]
) -> None:
    curve = (project / "reports/plots/train_curve.csv").read_text().splitlines()
    assert curve[0] == "epoch,train_rmse,val_rmse"
    assert len(curve) == 1 + 30
    per_epoch = Path(str(pipeline["train"]["dir"])) / "metrics.jsonl"
    assert len(per_epoch.read_text().splitlines()) == 30


def test_each_run_folder_keeps_config_overrides_and_log(
    pipeline: dict[str, dict[str, object]],
) -> None:
    for stage, record in pipeline.items():
        run_dir = Path(str(record["dir"]))
        assert run_dir.name.startswith(f"{stage}_")
        assert f"stage: {stage}" in (run_dir / "config.yaml").read_text()
        assert json.loads((run_dir / "overrides.json").read_text()) == [f"stage={stage}"]
        assert f"stage {stage} completed" in (run_dir / "run.log").read_text()
        assert list(run_dir.glob("wandb/offline-run-*/run-*.wandb")), "no offline W&B record"


def test_train_runs_with_the_other_model(
    project: Path, pipeline: dict[str, dict[str, object]]
) -> None:
    command = [".venv/bin/python", "-m", DEFAULT_PKG, "stage=train", "model=mlp", "logger=none"]
    result = require_ok(run(command, cwd=project))
    assert "mlp: val_rmse=" in result.stderr
    latest = max((project / "runs").glob("train_*"), key=lambda p: p.stat().st_mtime)
    assert "name: mlp" in (latest / "config.yaml").read_text()


def test_help_works_from_outside_the_project(project: Path, tmp_path: Path) -> None:
    result = require_ok(
        run([str(project / ".venv/bin/python"), "-m", DEFAULT_PKG, "--help"], cwd=tmp_path)
    )
    for stage in STAGES:
        assert stage in result.stdout


def test_the_project_passes_its_own_tests(project: Path, uv: str) -> None:
    result = require_ok(run(["make", "test", f"UV={uv}"], cwd=project))
    assert " passed" in result.stdout
    assert "failed" not in result.stdout


def test_make_repro_runs_the_pipeline_through_dvc(
    project: Path, pipeline: dict[str, dict[str, object]], uv: str
) -> None:
    result = require_ok(run(["make", "repro", f"UV={uv}"], cwd=project, env=OFFLINE))
    lock = (project / "dvc.lock").read_text(encoding="utf-8")
    for stage in STAGES:
        assert f"  {stage}:" in lock
    assert "epoch 30/30" in result.stderr + result.stdout


def test_make_demo_bakes_installs_runs_and_prints_the_metrics(tmp_path: Path, uv: str) -> None:
    demo = tmp_path / "demo"
    result = require_ok(
        run(["make", "demo", f"DEMO_DIR={demo}", f"UV={uv}"], cwd=ROOT, env=OFFLINE)
    )
    printed = result.stdout[result.stdout.index("metrics.json ==") :]
    metrics, _ = json.JSONDecoder().raw_decode(printed[printed.index("{") :])
    assert set(metrics) == {"rmse", "mae", "r2"}
    assert all(math.isfinite(value) for value in metrics.values())
