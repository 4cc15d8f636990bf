"""What `execute` records about a run, however the stage ends.

The stages here are small functions put in place of the project's own (the
registry's `load_stage` is swapped); everything else is the real runtime,
writing real run folders under tmp_path.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from {{ cookiecutter.pkg_name }}.config import Config, to_typed
from {{ cookiecutter.pkg_name }}.runtime import registry
from {{ cookiecutter.pkg_name }}.runtime.params import compose
from {{ cookiecutter.pkg_name }}.runtime.records import write_text_atomic
from {{ cookiecutter.pkg_name }}.runtime.run import Metrics, Outcome, Run, execute
from {{ cookiecutter.pkg_name }}.runtime.sweeps import report_failures

Stage = Callable[[Config, Run], Any]


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the runs go; the working directory is an empty folder outside any repository."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path / "runs"


def settings(runs_dir: Path, *overrides: str) -> Config:
    """The project's config for stage `train`, without a tracker, with runs in `runs_dir`."""
    composed = compose(
        ROOT, ["stage=train", "logger=none", f"runtime.runs_dir={runs_dir}", *overrides]
    )
    return to_typed(composed)


def run_stage(
    monkeypatch: pytest.MonkeyPatch, stage: Stage, config: Config, sweep: str | None = None
) -> Outcome:
    """Execute `stage` as the project's train stage."""
    monkeypatch.setattr(registry, "load_stage", lambda name: stage)
    return execute(config, overrides=["train.epochs=3"], sweep=sweep)


def record_of(runs_dir: Path, run_id: str) -> dict[str, Any]:
    """The run.json of a run."""
    return dict(json.loads((runs_dir / run_id / "run.json").read_text(encoding="utf-8")))


def test_a_completed_run_records_config_metrics_artifacts_and_logs(
    runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = tmp_path / "models" / "model.pkl"

    def train(cfg: Config, run: Run) -> Metrics:
        run.log.info("training for %d epochs", cfg.train.epochs)
        for epoch in range(2):
            run.log_metrics({"train_rmse": 10.0 - epoch}, step=epoch)
        with run.artifact("model.pkl", kind="model") as path:
            path.write_bytes(b"weights")
        run.publish("model.pkl", published)
        return {"val_rmse": 8.5, "epochs": 2}

    outcome = run_stage(monkeypatch, train, settings(runs_dir))
    assert outcome.status == "completed"
    assert outcome.metrics == {"val_rmse": 8.5, "epochs": 2.0}
    assert outcome.error is None
    folder = runs_dir / outcome.run_id
    record = record_of(runs_dir, outcome.run_id)
    assert record["status"] == "completed"
    assert record["stage"] == "train"
    assert record["metrics"] == {"val_rmse": 8.5, "epochs": 2.0}
    artifact = {"path": "artifacts/model.pkl", "kind": "model"}
    assert record["artifacts"] == {"model.pkl": artifact}
    assert record["tracker"] == {"tracker": "none"}
    assert record["pid"] == os.getpid()
    assert record["duration_s"] >= 0
    assert published.read_bytes() == (folder / "artifacts" / "model.pkl").read_bytes()
    assert [p.name for p in (folder / "artifacts").iterdir()] == ["model.pkl"]
    steps = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert steps == [{"step": 0, "train_rmse": 10.0}, {"step": 1, "train_rmse": 9.0}]
    assert json.loads((folder / "overrides.json").read_text()) == ["train.epochs=3"]
    assert "epochs: 30" in (folder / "config.yaml").read_text()
    assert json.loads((folder / "provenance.json").read_text())["seed"] == 42
    assert "training for 30 epochs" in (folder / "run.log").read_text()
    messages = [
        json.loads(line)["message"] for line in (folder / "log.jsonl").read_text().splitlines()
    ]
    assert any(f"run {outcome.run_id}: stage train completed: val_rmse=8.5" in m for m in messages)


def test_a_later_run_reuses_an_artifact_instead_of_recomputing_it(
    runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def train(cfg: Config, run: Run) -> Metrics:
        with run.artifact("model.pkl") as path:
            path.write_bytes(b"first weights")
        return {}

    first = run_stage(monkeypatch, train, settings(runs_dir)).run_id
    target = tmp_path / "models" / "model.pkl"

    def reuse(cfg: Config, run: Run) -> Metrics:
        source = run.reuse("model.pkl", first)
        run.publish("model.pkl", target)
        return {"size": source.stat().st_size}

    second = run_stage(monkeypatch, reuse, settings(runs_dir))
    assert second.status == "completed"
    assert target.read_bytes() == b"first weights"
    assert record_of(runs_dir, second.run_id)["artifacts"] == {
        "model.pkl": {"path": f"../{first}/artifacts/model.pkl", "from_run": first}
    }
    assert not (runs_dir / second.run_id / "artifacts").exists()


@pytest.mark.parametrize(
    ("stage", "error"),
    [
        (
            lambda cfg, run: run.reuse("model.pkl", "train_20200101T000000Z_000000"),
            "has no artifact",
        ),
        (
            lambda cfg, run: run.reuse("../model.pkl", "x"),
            "artifact '../model.pkl' must be a plain",
        ),
        (lambda cfg, run: run.reuse("model.pkl", ".."), "run id '..' must be a plain name"),
        (lambda cfg, run: run.publish("model.pkl", Path("m.pkl")), 'KeyError: "no artifact'),
    ],
    ids=["missing-run", "path-as-name", "path-as-run-id", "publish-unknown"],
)
def test_a_misused_artifact_fails_the_run_with_a_message_that_says_why(
    runs_dir: Path, stage: Stage, error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = run_stage(monkeypatch, stage, settings(runs_dir))
    assert outcome.status == "failed"
    assert error in str(outcome.error)


def test_an_artifact_is_kept_only_if_its_block_completes(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def train(cfg: Config, run: Run) -> Metrics:
        with run.artifact("model.pkl") as path:
            path.write_bytes(b"half")
            raise RuntimeError("out of memory while saving")
        return {}  # pragma: no cover

    outcome = run_stage(monkeypatch, train, settings(runs_dir))
    assert outcome.status == "failed"
    assert outcome.error == "RuntimeError: out of memory while saving"
    assert list((runs_dir / outcome.run_id / "artifacts").iterdir()) == []
    assert record_of(runs_dir, outcome.run_id)["artifacts"] == {}


def test_an_artifact_never_written_fails_the_run(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def train(cfg: Config, run: Run) -> Metrics:
        with run.artifact("model.pkl"):
            pass
        return {}  # pragma: no cover

    outcome = run_stage(monkeypatch, train, settings(runs_dir))
    assert "artifact 'model.pkl' was not written to the path given" in str(outcome.error)


def test_a_failed_run_is_recorded_with_its_traceback_and_execution_goes_on(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def train(cfg: Config, run: Run) -> Metrics:
        raise ValueError("learning rate too high")

    outcome = run_stage(monkeypatch, train, settings(runs_dir))
    assert outcome.status == "failed"
    assert outcome.error == "ValueError: learning rate too high"
    record = record_of(runs_dir, outcome.run_id)
    assert record["status"] == "failed"
    assert "raise ValueError" in record["traceback"]
    assert record["metrics"] == {}
    log = (runs_dir / outcome.run_id / "log.jsonl").read_text().splitlines()
    assert "Traceback" in json.loads(log[-1])["traceback"]
    # After a sweep, the command names every failed run and exits 1.
    capsys.readouterr()
    assert report_failures([("model=ridge", outcome)]) == 1
    err = capsys.readouterr().err
    assert "error: 1 of 1 runs failed:" in err
    assert f"{outcome.run_id} (model=ridge): ValueError: learning rate too high" in err
    assert report_failures([]) == 0


def test_in_debug_mode_the_error_is_raised_after_it_is_recorded(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def train(cfg: Config, run: Run) -> Metrics:
        raise ValueError("learning rate too high")

    config = settings(runs_dir, "runtime.mode=debug")
    with pytest.raises(ValueError, match="learning rate too high"):
        run_stage(monkeypatch, train, config)
    (folder,) = runs_dir.iterdir()
    assert record_of(runs_dir, folder.name)["status"] == "failed"
    assert record_of(runs_dir, folder.name)["mode"] == "debug"


@pytest.mark.parametrize(
    ("returned", "error"),
    [
        ({"val_rmse": math.nan}, "ValueError: stage 'train' returned non-finite metrics: val_rmse"),
        ({"a": 1.0, "b": -math.inf}, "returned non-finite metrics: b"),
        (0.5, "TypeError: stage 'train' returned float; return a dict of metrics"),
        (None, "returned NoneType; return a dict of metrics"),
    ],
)
def test_a_stage_must_return_finite_metrics_in_a_dict(
    runs_dir: Path, returned: object, error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = run_stage(monkeypatch, lambda cfg, run: returned, settings(runs_dir))
    assert outcome.status == "failed"
    assert error in str(outcome.error)
    assert record_of(runs_dir, outcome.run_id)["metrics"] == {}


def test_sigterm_interrupts_the_stage_and_the_run_is_recorded_as_interrupted(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = signal.getsignal(signal.SIGTERM)

    def train(cfg: Config, run: Run) -> Metrics:
        os.kill(os.getpid(), signal.SIGTERM)  # what a scheduler or `kill` sends
        for _ in range(100):
            time.sleep(0.05)
        return {}  # pragma: no cover

    with pytest.raises(SystemExit) as exit_info:
        run_stage(monkeypatch, train, settings(runs_dir))
    assert exit_info.value.code == 128 + signal.SIGTERM
    (folder,) = runs_dir.iterdir()
    record = record_of(runs_dir, folder.name)
    assert record["status"] == "interrupted"
    assert record["error"] == "Terminated: signal SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == before


def test_ctrl_c_is_recorded_as_interrupted_and_exits_130(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def train(cfg: Config, run: Run) -> Metrics:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exit_info:
        run_stage(monkeypatch, train, settings(runs_dir))
    assert exit_info.value.code == 130
    (folder,) = runs_dir.iterdir()
    assert record_of(runs_dir, folder.name)["status"] == "interrupted"


def test_a_run_started_outside_the_main_thread_still_completes(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes: list[Outcome] = []
    config = settings(runs_dir)
    monkeypatch.setattr(registry, "load_stage", lambda name: lambda cfg, run: {"x": 1})
    worker = threading.Thread(target=lambda: outcomes.append(execute(config, overrides=[])))
    worker.start()
    worker.join(timeout=60)
    assert [outcome.status for outcome in outcomes] == ["completed"]


def test_runs_with_the_same_seed_draw_the_same_numbers(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    def train(cfg: Config, run: Run) -> Metrics:
        return {"python": random.random(), "numpy": float(np.random.rand())}

    first = run_stage(monkeypatch, train, settings(runs_dir, "seed=7")).metrics
    second = run_stage(monkeypatch, train, settings(runs_dir, "seed=7")).metrics
    other = run_stage(monkeypatch, train, settings(runs_dir, "seed=8")).metrics
    assert first == second
    assert first != other


def test_under_dvc_runs_land_in_the_repository_dvc_started_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = tmp_path / "original"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_ROOT", str(original))
    outcome = run_stage(monkeypatch, lambda cfg, run: {}, settings(Path("runs")))
    assert (original / "runs" / outcome.run_id / "run.json").is_file()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.usefixtures("git_identity")
def test_a_run_from_a_dirty_tree_saves_the_uncommitted_changes(
    runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Path.cwd()
    (repo / "train.py").write_text("lr = 0.1\n")
    for command in (["init", "-q"], ["add", "train.py"], ["commit", "-q", "-m", "first"]):
        subprocess.run(["git", *command], cwd=repo, check=True, capture_output=True)
    (repo / "train.py").write_text("lr = 0.2\n")

    outcome = run_stage(monkeypatch, lambda cfg, run: {}, settings(runs_dir))
    diff = (runs_dir / outcome.run_id / "git.diff").read_text()
    assert "+lr = 0.2" in diff
    provenance = json.loads((runs_dir / outcome.run_id / "provenance.json").read_text())
    assert provenance["git"]["dirty"] is True


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    write_text_atomic(target, "seed: 1\n")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(target, "seed: \ud800\n")  # not encodable: fails mid-write
    assert target.read_text() == "seed: 1\n"
    assert [path.name for path in tmp_path.iterdir()] == ["config.yaml"]
