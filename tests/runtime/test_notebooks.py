"""Every notebook in notebooks/ runs top to bottom in a fresh kernel, as `make notebook` runs it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import PACKAGE, ROOT, stage_names
from my_project.runtime import find_runs, load_config, pipeline, run_stage
from my_project.runtime.records import runs_dir
from nbclient import NotebookClient

DEBUG = "debug=default"

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_every_notebook_runs_top_to_bottom(isolated: None, path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    folder = {"path": path.parent}  # the kernel's working directory, as in JupyterLab
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": folder}
    )
    client.execute()  # a cell that raises fails the test, naming the cell
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert outputs, f"{path.name} ran but showed nothing"


def test_a_stage_run_here_is_a_recorded_run_and_a_failed_one_raises(
    isolated: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # outside the project: its root is found from the sources
    stage, argv = stage_names()[0], list(sys.argv)
    record = run_stage(stage, [DEBUG])
    assert record["status"] == "completed"
    assert record["argv"] == [PACKAGE, f"stage={stage}", DEBUG]  # how to run it again
    assert (Path.cwd(), sys.argv) == (tmp_path, argv)
    debug_runs = runs_dir(Path(str(load_config([DEBUG]).root)))
    (found,) = find_runs(record["id"], runs_dir=debug_runs)  # as the notebook's table lists it
    assert (found.status, found.metrics) == ("completed", record["metrics"])

    def broken(section: Any, run: Any) -> None:
        raise ValueError("broken on purpose")

    prepared = pipeline.prepared

    def with_broken_stage(*args: Any) -> tuple[Any, ...]:
        settings, _, section, config = prepared(*args)
        return settings, broken, section, config

    monkeypatch.setattr(pipeline, "prepared", with_broken_stage)
    failed = rf"run {stage}_\S+ failed: ValueError: broken on purpose"
    with pytest.raises(RuntimeError, match=failed):
        run_stage(stage, ["logger=none", f"root={tmp_path}"])
    assert (Path.cwd(), sys.argv) == (tmp_path, argv)
