"""End-to-end tier: `make demo` bakes, installs and runs the pipeline; bakes pass their own tests.

The demo's pipeline logs to offline W&B files: real wandb, no network, no account.
The default bake's own tests run in test_make_it_yours.py, after a user's edits.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
from conftest import (
    DEFAULT_PKG,
    ROOT,
    Bakery,
    install,
    make,
    read_record,
    require_ok,
    run,
    run_dirs,
    stage_run,
)

pytestmark = pytest.mark.e2e
Demo = tuple[subprocess.CompletedProcess[str], Path]


@pytest.fixture(scope="module")
def demo(uv: str, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """`make demo` from the template's root: its output and the demo project."""
    folder = tmp_path_factory.mktemp("demo") / "demo"
    command = ["make", "demo", f"DEMO_DIR={folder}", f"UV={uv}"]
    result = require_ok(run(command, cwd=ROOT, env={"WANDB_MODE": "offline"}))
    return result, folder / DEFAULT_PKG


def test_make_demo_prints_finite_metrics_better_than_guessing_the_mean(demo: Demo) -> None:
    result, _ = demo
    printed = result.stdout[result.stdout.index("metrics.json ==") :]
    metrics, _ = json.JSONDecoder().raw_decode(printed[printed.index("{") :])
    assert metrics
    assert all(math.isfinite(value) for value in metrics.values())
    # The example learns something: better than predicting the mean (r2 = 0).
    assert metrics["r2"] > 0.2


def test_the_demo_has_its_environment_and_git_hook(demo: Demo) -> None:
    _, project = demo
    assert (project / ".venv" / "bin" / "python").exists()
    assert (project / ".git" / "hooks" / "pre-commit").exists()


def test_every_stage_ran_under_dvc_with_a_record_and_an_offline_wandb_run(demo: Demo) -> None:
    _, project = demo
    stages = require_ok(stage_run(project, "stages")).stdout.split()
    assert stages
    lock = (project / "dvc.lock").read_text(encoding="utf-8")
    for stage in stages:
        assert f"  {stage}:" in lock
        (folder,) = run_dirs(project, f"{stage}_")
        record = read_record(folder)
        assert (record["status"], record["overrides"]) == ("completed", ["(params.yaml)"])
        assert list(folder.glob("wandb/offline-run-*/run-*.wandb")), f"{stage}: no W&B run"


def test_help_works_from_outside_the_project(demo: Demo, tmp_path: Path) -> None:
    _, project = demo
    python = str(project / ".venv/bin/python")
    result = require_ok(run([python, "-m", DEFAULT_PKG, "--help"], cwd=tmp_path))
    for stage in require_ok(stage_run(project, "stages")).stdout.split():
        assert stage in result.stdout


def test_a_bake_with_a_b2_bucket_passes_its_own_tests(
    bakery: Bakery, uv: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project = install(bakery, tmp_path_factory.mktemp("b2"), {"b2_bucket": "lab-data"})
    result = require_ok(make(project, "test"))
    assert " passed" in result.stdout
