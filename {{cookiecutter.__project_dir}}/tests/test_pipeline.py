"""The whole pipeline runs, stage by stage, as a user runs it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import RunCli

from {{ cookiecutter.pkg_name }}.runtime import registry


@pytest.mark.slow
def test_every_stage_runs_in_debug_mode_and_leaves_its_outputs(
    run_cli: RunCli, tmp_path: Path
) -> None:
    root = tmp_path / "out"
    for stage in registry.stage_names():
        result = run_cli(f"stage={stage}", "debug=default", f"paths.root={root}")
        assert result.returncode == 0, f"{stage} failed:\n{result.stderr}"
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert set(metrics) == {"rmse", "mae", "r2"}
    assert all(math.isfinite(value) for value in metrics.values())
    assert (root / "models" / "model.pkl").stat().st_size > 0
    assert (root / "reports" / "figures" / "pred_vs_actual.png").read_bytes().startswith(b"\x89PNG")
    runs = sorted((root / "runs").iterdir())
    assert [json.loads((run / "run.json").read_text())["status"] for run in runs] == [
        "completed"
    ] * 4


def test_a_failing_stage_is_recorded_as_failed(run_cli: RunCli, tmp_path: Path) -> None:
    root = tmp_path / "empty"
    result = run_cli("stage=evaluate", "debug=default", f"paths.root={root}")
    assert result.returncode != 0
    assert "run stage=train first" in result.stderr
    (run,) = (root / "runs").iterdir()
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed"
    assert "FileNotFoundError" in record["error"]
