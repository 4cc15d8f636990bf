"""Sweeps: the summary read from run records, the SLURM config, outputs shared by parallel jobs.

The summary must not depend on the launcher, so it is built from what the jobs
wrote to disk; here the jobs are real `execute` calls with a swapped stage.
"""

from __future__ import annotations

import os
import stat
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import ROOT, RunCli
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from {{ cookiecutter.pkg_name }}.config import Config, to_typed
from {{ cookiecutter.pkg_name }}.runtime import registry
from {{ cookiecutter.pkg_name }}.runtime.params import compose as compose_project
from {{ cookiecutter.pkg_name }}.runtime.records import replacing, write_text_atomic
from {{ cookiecutter.pkg_name }}.runtime.run import Metrics, Run, execute
from {{ cookiecutter.pkg_name }}.runtime.sweeps import Sweep, SweepSummary, report, sweep_name

SWEEP_DIR = "runs/.multirun/2026-11-22_10-00-00"


def settings(runs_dir: Path, batch_size: int) -> Config:
    """Stage train without a tracker, runs in `runs_dir`."""
    overrides = [
        "stage=train",
        "logger=none",
        f"runtime.runs_dir={runs_dir}",
        f"train.batch_size={batch_size}",
    ]
    return to_typed(compose_project(ROOT, overrides))


def train(cfg: Config, run: Run) -> Metrics:
    """A stand-in for the train stage that fails on batch size 0."""
    if cfg.train.batch_size == 0:
        raise ValueError("batch_size must be positive")
    return {"val_rmse": 1.0 / cfg.train.batch_size}


@pytest.fixture
def swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sweep:
    """A three-job sweep (batch sizes 0, 16, 32) whose first job fails."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setattr(registry, "load_stage", lambda name: train)
    started = datetime.now(timezone.utc)
    runs_dir = tmp_path / "runs"
    folder = tmp_path / SWEEP_DIR
    for job, batch_size in enumerate([0, 16, 32]):
        (folder / str(job)).mkdir(parents=True)
        config = settings(runs_dir, batch_size)
        execute(config, [f"train.batch_size={batch_size}"], sweep=sweep_name(folder))
    return Sweep(sweep_name(folder), runs_dir, folder, started)


def test_the_sweep_name_follows_hydras_folder() -> None:
    assert sweep_name(SWEEP_DIR) == "sweep-2026-11-22_10-00-00"


def test_the_summary_names_each_failed_run_with_its_overrides(
    swept: Sweep, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report(swept) == 1
    out, err = capsys.readouterr()
    assert f"sweep {swept.name}: 2 of 3 runs completed" in out
    assert "error: 1 of 3 runs failed:" in err
    assert "(train.batch_size=0): ValueError: batch_size must be positive" in err


def test_a_sweep_that_completed_reports_success(
    swept: Sweep, capsys: pytest.CaptureFixture[str]
) -> None:
    for run_json in swept.runs_dir.glob("*/run.json"):
        if '"failed"' in run_json.read_text(encoding="utf-8"):
            run_json.parent.rename(run_json.parent.with_name("ignored"))
    (swept.folder / "0").rmdir()
    assert report(swept) == 0
    assert "2 of 2 runs completed" in capsys.readouterr().out


def test_a_job_that_left_no_record_counts_as_failed(
    swept: Sweep, capsys: pytest.CaptureFixture[str]
) -> None:
    (swept.folder / "3").mkdir()  # a fourth job that died before its run started
    assert report(swept) == 1
    out, err = capsys.readouterr()
    assert "2 of 4 runs completed" in out
    assert f"1 of 4 jobs left no run record; the launcher's logs are in {swept.folder}" in err


def test_runs_of_other_sweeps_and_single_runs_are_left_out(
    swept: Sweep, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    execute(settings(swept.runs_dir, 0), ["train.batch_size=0"])  # not a sweep
    execute(settings(swept.runs_dir, 0), ["train.batch_size=0"], sweep="sweep-other")
    assert report(swept) == 1
    assert "error: 1 of 3 runs failed:" in capsys.readouterr().err


def test_the_callback_notes_each_sweep_as_it_ends(tmp_path: Path) -> None:
    callback = SweepSummary()
    config = OmegaConf.create()
    config.runtime = {"runs_dir": "runs"}
    sweep_settings = {"dir": SWEEP_DIR}
    config.hydra = {"sweep": sweep_settings}
    callback.on_multirun_start(config)
    callback.on_multirun_end(config)
    sweep = SweepSummary.ended.pop()
    assert (sweep.name, sweep.runs_dir, sweep.folder) == (
        "sweep-2026-11-22_10-00-00",
        Path("runs"),
        Path(SWEEP_DIR),
    )


def test_the_slurm_launcher_config_composes_with_its_documented_fields() -> None:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        config = compose(
            "config",
            ["stage=train", "hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
            return_hydra_config=True,
        )
    launcher = config.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    documented = (ROOT / "conf/hydra/launcher/slurm.yaml").read_text(encoding="utf-8")
    for field in ("partition", "gpus_per_node", "cpus_per_task", "mem_gb", "timeout_min"):
        assert f"\n{field}:" in documented
        assert field in launcher
    assert "\narray_parallelism:" in documented
    assert "\nsetup:" in documented
    assert (launcher.partition, launcher.array_parallelism, launcher.cpus_per_task) == ("gpu", 8, 4)


def test_help_names_the_launchers(run_cli: RunCli) -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "hydra/launcher: basic, joblib, submitit_local, slurm" in result.stdout


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out" / "table.csv"
    write_text_atomic(target, "old\n")

    def stopped_midway() -> None:
        with replacing(target) as partial:
            partial.write_text("half", encoding="utf-8")
            raise RuntimeError("the job was stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        stopped_midway()
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [path.name for path in target.parent.iterdir()] == ["table.csv"]


def test_jobs_writing_one_output_at_once_leave_one_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    contents = [bytes([job]) * 200_000 for job in range(8)]

    def write(content: bytes) -> None:
        for _ in range(5):
            with replacing(target) as partial:
                partial.write_bytes(content)

    threads = [threading.Thread(target=write, args=(content,)) for content in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert target.read_bytes() in contents
    assert [path.name for path in tmp_path.iterdir()] == ["model.bin"]


def test_outputs_get_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "metrics.json", "{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == 0o644
