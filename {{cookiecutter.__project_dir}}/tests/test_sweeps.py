"""Sweeps (`--multirun`): one summary when they end, read from the jobs' run records.

The summary must not depend on the launcher, so it is built from what the jobs
wrote to disk; these sweeps run with Hydra's basic launcher, in this process.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import Main, RunCli, stage_names

from {{ cookiecutter.pkg_name }}.runtime import pipeline
from {{ cookiecutter.pkg_name }}.runtime.records import (
    RECORD,
    create_run_dir,
    runs_dir,
    write_json,
)
from {{ cookiecutter.pkg_name }}.runtime.sweeps import REFUSED, report, sweep_name


def test_a_sweep_says_how_many_of_its_runs_completed(main: Main) -> None:
    code, out, err = main("--multirun", f"stage={stage_names()[0]}", "debug=default", "seed=1,2")
    assert code == 0, err
    assert "sweep sweep-" in out
    assert ": 2 of 2 runs completed" in out


def failing_sweep(main: Main, monkeypatch: pytest.MonkeyPatch, root: Path) -> tuple[int, str, str]:
    """A two-job sweep of the first stage whose first job fails (the stage is a stand-in)."""
    first = stage_names()[0]
    schema, calls = pipeline.load_stage(first)[1], []

    def stand_in(cfg: Any, run: Any) -> dict[str, float]:
        calls.append(cfg)
        if len(calls) == 1:
            raise ValueError("diverged")
        return {}

    monkeypatch.setattr(pipeline, "load_stage", lambda name: (stand_in, schema))
    return main("--multirun", f"stage={first}", f"root={root}", "logger=none", "seed=1,2")


def test_a_sweep_names_each_failed_job_with_its_overrides_and_exits_1(
    main: Main, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, out, err = failing_sweep(main, monkeypatch, tmp_path / "project")
    assert code == 1
    assert ": 1 of 2 runs completed" in out
    summary = err[err.index("error: 1 of 2 runs failed:") :].splitlines()
    (failed,) = summary[1:]
    assert "seed=1" in failed
    assert failed.endswith("ValueError: diverged")


def test_a_job_that_left_no_record_counts_as_failed_and_other_runs_do_not_count(
    main: Main, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = datetime.now(timezone.utc)
    root = tmp_path / "project"
    failing_sweep(main, monkeypatch, root)
    runs = runs_dir(root)
    (folder,) = (runs / ".multirun").iterdir()
    (folder / "2").mkdir()  # a third job, killed before its run started
    refused = {"overrides": ["seed=abc"], "error": "config key 'seed': not an int"}
    write_json(folder / "3" / REFUSED, refused)  # a fourth, refused by the schema
    for other in ("sweep-other", None):  # another sweep's run, and a single run
        run_id, run_dir = create_run_dir(runs, stage_names()[0])
        write_json(run_dir / RECORD, {"id": run_id, "status": "failed", "sweep": other})
    assert report(sweep_name(folder), runs, folder, started) == 1
    out, err = capsys.readouterr()
    assert ": 1 of 4 runs completed" in out
    assert "error: 1 of 2 runs failed:" in err
    assert f"error: 1 of 4 jobs refused before they ran:\n  (seed=abc): {refused['error']}" in err
    assert f"error: 1 of 4 jobs left no run record; see {folder}" in err


def test_two_sweeps_started_in_the_same_second_get_two_names(run_cli: RunCli) -> None:
    first = stage_names()[0]
    args = ("--multirun", f"stage={first}", "debug=default", "seed=1")
    with ThreadPoolExecutor(2) as pool:  # two processes, started together
        done = list(pool.map(lambda _: run_cli(*args), range(2)))
    assert [result.returncode for result in done] == [0, 0], [r.stderr for r in done]
    names = {line.split(":")[0] for result in done for line in result.stdout.splitlines()}
    assert len({name for name in names if name.startswith("sweep ")}) == 2, names
