"""Sweeps (`--multirun`): each job a run of its own, recorded with its sweep's name; a failed
or refused job fails the sweep, once the other jobs have run.

These sweeps run with Hydra's basic launcher, in this process (two at once: in subprocesses).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_KEYS, ROOT, Main, RunCli, files_holding, stage_names
from my_project.runtime import pipeline
from my_project.runtime.records import RECORD, read_json, runs_dir

DEBUG = "debug=default"


def records(root: Path) -> list[dict[str, Any]]:
    """The run records under a root, oldest first."""
    return [read_json(path) for path in sorted(runs_dir(root).glob(f"*/{RECORD}"))]


def debug_root() -> Path:
    """The debug root ($TMPDIR/...: the test's tmp_path)."""
    return Path(str(pipeline.compose(ROOT, [DEBUG]).root))


def seed_of(record: dict[str, Any]) -> str:
    """The seed= override a sweep job ran with."""
    return next(o for o in record["overrides"] if o.startswith("seed=")).removeprefix("seed=")


def test_each_job_of_a_sweep_is_a_run_that_names_its_sweep(main: Main) -> None:
    code, _, err = main("--multirun", f"stage={stage_names()[0]}", DEBUG, "seed=1,2")
    assert code == 0, err
    done = records(debug_root())
    assert sorted(seed_of(record) for record in done) == ["1", "2"]
    assert [record["status"] for record in done] == ["completed"] * 2
    (sweep,) = {record["sweep"] for record in done}
    assert str(sweep).startswith("sweep-")


def test_a_failed_job_fails_the_sweep_after_the_other_jobs_ran(
    main: Main, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = stage_names()[0]
    schema, calls = pipeline.load_stage(first)[1], []

    def stand_in(cfg: Any, run: Any) -> dict[str, float]:  # its first job fails
        calls.append(cfg)
        if len(calls) == 1:
            raise ValueError("diverged")
        return {}

    monkeypatch.setattr(pipeline, "load_stage", lambda name: (stand_in, schema))
    root = tmp_path / "project"
    code, _, err = main("--multirun", f"stage={first}", f"root={root}", "logger=none", "seed=1,2")
    assert code == 1
    assert {seed_of(record): record["status"] for record in records(root)} == {
        "1": "failed",
        "2": "completed",
    }
    (told,) = [line for line in err.splitlines() if line.startswith("error: the sweep failed")]
    assert "ValueError: diverged" in told


def test_a_job_refused_before_its_run_fails_the_sweep_after_the_other_jobs_ran(
    main: Main, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    args = (f"stage={stage_names()[0]}", f"root={root}", "logger=none", "seed=-3,1")
    code, _, err = main("--multirun", *args)
    assert code == 2
    assert [(seed_of(record), record["status"]) for record in records(root)] == [("1", "completed")]
    assert any(line.startswith("error: seed must be") for line in err.splitlines()), err
    assert any(line.startswith("error: the sweep failed") for line in err.splitlines()), err


def test_a_key_given_to_a_sweep_lands_in_no_file_and_no_line_it_leaves(main: Main) -> None:
    keys = list(FAKE_KEYS.values())
    overrides = [f"+api_key={keys[0]}", *(f"+note{n}=x_{key}" for n, key in enumerate(keys))]
    code, out, err = main("--multirun", f"stage={stage_names()[0]}", DEBUG, "seed=1,2", *overrides)
    assert code == 0, err
    assert len(records(debug_root())) == 2
    assert "#1 : " in out  # Hydra printed its job list, with the overrides
    assert [key for key in keys if key in out + err] == []
    assert list((debug_root() / "runs" / ".multirun").rglob("multirun.yaml"))
    assert files_holding(debug_root(), *keys) == []


def test_two_sweeps_started_in_the_same_second_get_two_names(run_cli: RunCli) -> None:
    args = ("--multirun", f"stage={stage_names()[0]}", DEBUG, "seed=1")
    with ThreadPoolExecutor(2) as pool:  # two processes, started together
        done = list(pool.map(lambda _: run_cli(*args), range(2)))
    assert [result.returncode for result in done] == [0, 0], [r.stderr for r in done]
    assert len({record["sweep"] for record in records(debug_root())}) == 2
