"""End-to-end tier: the stages as a DVC pipeline, in a baked and installed project.

One project is baked for the module; the tests run in file order on one worker
(`--dist loadfile`) because each builds on the pipeline state the previous one left.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Bakery, require_ok, run

pytestmark = pytest.mark.e2e
STAGES = ["prepare", "featurize", "train", "evaluate"]
PKG = "pipeline_check"
ENV = {
    # W&B is covered elsewhere; here it would only add seconds per stage.
    "WANDB_MODE": "disabled",
    # DVC's experiments make git commits; a fresh machine may have no identity.
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def uv_run(project: Path, uv: str, *command: str) -> subprocess.CompletedProcess[str]:
    """Run a command in the project's environment, as `uv run` does for a user."""
    return run([uv, "run", "--frozen", *command], cwd=project, env=ENV)


def stages_run(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The stages DVC ran, in order, from its output."""
    return re.findall(r"Running stage '([\w-]+)'", result.stdout + result.stderr)


def metrics(project: Path) -> dict[str, float]:
    """The evaluate stage's metrics."""
    return json.loads((project / "reports/metrics.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def commit(project: Path, message: str) -> None:
    """Commit everything, as a user would after a change (the hooks have their own tests)."""
    require_ok(run(["git", "add", "-A"], cwd=project, env=ENV))
    require_ok(run(["git", "commit", "-q", "--no-verify", "-m", message], cwd=project, env=ENV))


@pytest.fixture(scope="module")
def project(bakery: Bakery, uv: str) -> Path:
    """A default bake, installed, committed, with the pipeline run once by `dvc repro`."""
    baked = bakery({"project_name": "Pipeline Check"})
    assert baked.name == PKG
    require_ok(run(["make", "setup", f"UV={uv}"], cwd=baked))
    commit(baked, "Start the project")
    result = require_ok(uv_run(baked, uv, "dvc", "repro"))
    assert stages_run(result) == ["params", *STAGES]
    commit(baked, "Run the pipeline")
    return baked


def test_a_second_repro_with_nothing_changed_runs_nothing(project: Path, uv: str) -> None:
    result = require_ok(uv_run(project, uv, "dvc", "repro"))
    assert stages_run(result) == []
    assert "Data and pipelines are up to date" in result.stdout


def test_editing_conf_reruns_only_the_stages_that_read_the_value(project: Path, uv: str) -> None:
    before = metrics(project)
    config = project / "conf/config.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("  epochs: 30 ", "  epochs: 12 ", 1), encoding="utf-8")
    result = require_ok(uv_run(project, uv, "dvc", "repro"))
    # `params` rewrites params.yaml because conf/ changed; then only train reads the value.
    assert stages_run(result) == ["params", "train", "evaluate"]
    assert "params.yaml: train.epochs: 30 -> 12" in result.stdout
    assert "epochs: 12" in (project / "params.yaml").read_text(encoding="utf-8")
    assert metrics(project) != before
    curve = (project / "reports/plots/train_curve.csv").read_text().splitlines()
    assert len(curve) == 1 + 12
    commit(project, "Train for 12 epochs")


def test_exp_run_with_a_train_value_reaches_the_stage(project: Path, uv: str) -> None:
    before = metrics(project)
    result = require_ok(uv_run(project, uv, "dvc", "exp", "run", "-S", "train.epochs=4"))
    assert stages_run(result) == ["train", "evaluate"]
    assert len((project / "reports/plots/train_curve.csv").read_text().splitlines()) == 1 + 4
    assert metrics(project) != before


def test_exp_run_can_switch_the_model_group(project: Path, uv: str) -> None:
    before = metrics(project)
    result = require_ok(uv_run(project, uv, "dvc", "exp", "run", "-S", "model=mlp"))
    assert stages_run(result) == ["train", "evaluate"]
    assert "name: mlp" in (project / "params.yaml").read_text(encoding="utf-8")
    latest = max((project / "runs").glob("train_*"), key=lambda p: p.stat().st_mtime)
    assert "name: mlp" in (latest / "config.yaml").read_text(encoding="utf-8")
    assert metrics(project) != before


def test_a_queued_sweep_of_four_experiments_runs_every_one_on_two_workers(
    project: Path, uv: str
) -> None:
    require_ok(run(["git", "checkout", "--", "."], cwd=project))
    before = set((project / "runs").glob("train_*"))
    grid = ["-S", "train.epochs=3,6", "-S", "model=ridge,mlp"]
    queued = require_ok(uv_run(project, uv, "dvc", "exp", "run", "--queue", *grid))
    assert queued.stdout.count("Queued experiment") == 4
    require_ok(uv_run(project, uv, "dvc", "queue", "start", "-j", "2"))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = require_ok(uv_run(project, uv, "dvc", "queue", "status")).stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            break
        time.sleep(2)
    assert status.count("Success") == 4, status
    shown = json.loads(require_ok(uv_run(project, uv, "dvc", "exp", "show", "--json")).stdout)
    scored = set()
    for commit_entry in shown:
        for exp in commit_entry.get("experiments") or []:
            for rev in exp.get("revs") or []:
                data = rev.get("data") or {}
                params = data.get("params", {}).get("params.yaml", {}).get("data", {})
                scores = data.get("metrics", {}).get("reports/metrics.json", {}).get("data", {})
                if scores.get("rmse") is not None:
                    scored.add((params["train"]["epochs"], params["model"]["name"]))
    assert {(3, "ridge"), (6, "ridge"), (3, "mlp"), (6, "mlp")} <= scored
    # The experiments ran in temporary copies; their run records are in this repository.
    new = set((project / "runs").glob("train_*")) - before
    assert len(new) == 4


def test_dvc_and_the_project_compose_params_yaml_identically(project: Path, uv: str) -> None:
    require_ok(uv_run(project, uv, "python", "-m", PKG, "params"))
    ours = (project / "params.yaml").read_text(encoding="utf-8")
    code = (
        "from dvc.utils.hydra import compose_and_dump; "
        f"compose_and_dump('dvc-params.yaml', '{project / 'conf'}', None, 'config', 'x', [])"
    )
    require_ok(run([str(project / ".venv/bin/python"), "-c", code], cwd=project))
    assert (project / "dvc-params.yaml").read_text(encoding="utf-8") == ours
    (project / "dvc-params.yaml").unlink()


def test_check_passes_and_names_a_stage_that_drifted(project: Path, uv: str) -> None:
    ok = require_ok(uv_run(project, uv, "python", "-m", PKG, "check"))
    assert "dvc.yaml matches the stage registry" in ok.stdout
    dvc_yaml = project / "dvc.yaml"
    original = dvc_yaml.read_text(encoding="utf-8")
    try:
        dvc_yaml.write_text(original.replace("  featurize:\n", "  features:\n"), encoding="utf-8")
        drifted = uv_run(project, uv, "python", "-m", PKG, "check")
        assert drifted.returncode == 1
        assert "stage 'featurize' is in PIPELINE but not in dvc.yaml" in drifted.stderr
        assert "dvc.yaml stage 'features' is not in PIPELINE" in drifted.stderr
    finally:
        dvc_yaml.write_text(original, encoding="utf-8")


def test_metrics_and_plots_commands_work(project: Path, uv: str) -> None:
    shown = require_ok(uv_run(project, uv, "dvc", "metrics", "show", "--json")).stdout
    assert "rmse" in shown
    plots = require_ok(uv_run(project, uv, "dvc", "plots", "show", "--json")).stdout
    for name in ("train_curve.csv", "predictions.csv"):
        assert name in plots


def test_stage_runs_under_dvc_leave_records_outside_the_outputs(project: Path) -> None:
    records = [json.loads(p.read_text()) for p in (project / "runs").glob("*/run.json")]
    overrides = {
        json.dumps(json.loads((project / "runs" / r["id"] / "overrides.json").read_text()))
        for r in records
    }
    assert '["(params.yaml)"]' in overrides
    assert all(r["status"] == "completed" for r in records)
    ignored = run(["git", "check-ignore", "runs"], cwd=project)
    assert ignored.stdout.strip() == "runs"
