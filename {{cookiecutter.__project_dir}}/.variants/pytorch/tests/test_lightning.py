"""Training with Lightning: checkpoints that load under `weights_only`, resume after SIGTERM to
the same metrics, a preempted submitit job requeued and resumed, DDP on two CPU processes.

These run `train` as a user would, in a copy of the project, on the data set and network that
conf/ names (whatever they are); only the epochs are set here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import PACKAGE, ROOT, read_yaml

from {{ cookiecutter.pkg_name }}.runtime import UsageError, pipeline
from {{ cookiecutter.pkg_name }}.stages._nets import build_net, load_learner

pytestmark = pytest.mark.slow
EPOCHS = 40  # long enough to stop in the middle; each epoch's batches depend on the seed only
DDP_TOLERANCE = 0.25  # relative: DDP's best monitored value against one process's
ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def command(*args: str, flags: tuple[str, ...] = ()) -> list[str]:
    """`python -m <package> FLAGS stage=train ARGS`, for EPOCHS epochs."""
    return [sys.executable, "-m", PACKAGE, *flags, "stage=train", f"train.epochs={EPOCHS}", *args]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A project copy with the data prepared and one straight training run: its root and record."""
    root = tmp_path_factory.mktemp("lightning") / "project"
    shutil.copytree(ROOT / "conf", root / "conf")
    shutil.copyfile(ROOT / "dvc.yaml", root / "dvc.yaml")
    for stage in ("prepare", "featurize"):
        run([sys.executable, "-m", PACKAGE, f"stage={stage}", "logger=none"], root)
    run(command("logger=none", "trainer=cpu"), root)
    (straight,) = records(root)
    return root, straight


def run(args: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    """Run a command in `root`; fail the test with its output if it fails."""
    done = subprocess.run(args, cwd=root, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def records(root: Path, stage: str = "train") -> list[dict[str, Any]]:
    """The run records of `stage` under `root`, oldest first."""
    paths = sorted((root / "runs").glob(f"{stage}_*/run.json"))
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths]


def running_with_epochs(
    root: Path, known: int, epochs: int, job: subprocess.Popen[str], timeout: float = 300
) -> Path:
    """The folder of the newest run (beyond the first `known`) once it logged `epochs` epochs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if job.poll() is not None:
            raise AssertionError(f"the command ended early: {job.communicate()[1][-3000:]}")
        folders = sorted((root / "runs").glob("train_*"))[known:]
        lines = folders[-1] / "metrics.jsonl" if folders else None
        if lines and lines.is_file() and len(lines.read_text().splitlines()) >= epochs:
            return folders[-1]
        time.sleep(0.1)
    raise AssertionError(f"no new training run reached {epochs} epochs in {timeout} s")


def same_metrics(resumed: dict[str, Any], straight: dict[str, Any]) -> None:
    """Equal metrics, to float rounding."""
    assert resumed["metrics"] == pytest.approx(straight["metrics"], rel=1e-6, abs=1e-9)


def test_best_checkpoint_loads_with_weights_only(trained: tuple[Path, dict[str, Any]]) -> None:
    root, straight = trained
    folder = root / "runs" / straight["id"]
    assert {"best.ckpt", "last.ckpt"} <= {p.name for p in (folder / "checkpoints").iterdir()}
    state = torch.load(folder / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert state["epoch"] < EPOCHS
    learner = load_learner(folder / "artifacts" / "model.ckpt")
    assert learner.hparams["inputs"] > 0


def test_sigterm_then_resume_reaches_the_straight_runs_metrics(
    trained: tuple[Path, dict[str, Any]],
) -> None:
    root, straight = trained
    known = len(records(root))
    job = subprocess.Popen(
        command("trainer=cpu"), cwd=root, env=ENV, stderr=subprocess.PIPE, text=True
    )
    folder = running_with_epochs(root, known, 5, job)
    job.send_signal(signal.SIGTERM)
    _, err = job.communicate(timeout=120)
    assert job.returncode == 128 + signal.SIGTERM, err[-2000:]
    stopped = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert stopped["status"] == "interrupted"
    assert len((folder / "metrics.jsonl").read_text().splitlines()) < EPOCHS

    run(command("trainer=cpu", f"train.resume={stopped['id']}"), root)
    resumed = records(root)[-1]
    assert resumed["resumed_from"] == stopped["id"]
    assert resumed["tracker"]["wandb_id"] == stopped["tracker"]["wandb_id"]  # the same W&B run
    same_metrics(resumed, straight)
    assert resumed["metrics"]["epochs"] == EPOCHS


def test_preempted_submitit_job_is_requeued_and_resumes(
    trained: tuple[Path, dict[str, Any]],
) -> None:
    root, straight = trained
    known = len(records(root))
    sweep = command("hydra/launcher=submitit_local", "logger=none", "trainer=cpu", flags=("-m",))
    job = subprocess.Popen(sweep, cwd=root, env=ENV, stderr=subprocess.PIPE, text=True)
    folder = running_with_epochs(root, known, 5, job)
    first = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    os.kill(first["pid"], signal.SIGUSR2)  # what SLURM sends before preempting or timing out
    _, err = job.communicate(timeout=600)
    assert job.returncode == 0, err[-3000:]
    stopped, requeued = records(root)[known:]
    assert stopped["status"] == "interrupted"
    assert requeued["job"] == stopped["job"] is not None
    assert requeued["resumed_from"] == stopped["id"]
    same_metrics(requeued, straight)


def test_ddp_on_two_cpu_processes_records_one_run(
    trained: tuple[Path, dict[str, Any]],
) -> None:
    root, straight = trained
    known = len(records(root))
    # Two processes of half the batch: the same rows per optimizer step as the straight run.
    train = read_yaml(root / "conf" / "config.yaml")["train"]
    half = f"train.batch_size={train['batch_size'] // 2}"
    done = run(command("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", half), root)
    (ddp,) = records(root)[known:]
    assert ddp["status"] == "completed"
    assert ddp["notes"]["processes"] == 2
    assert done.stderr.count("stage train started") == 1  # rank 0 logs, rank 1 does not
    wandb_runs = list((root / "runs" / ddp["id"]).glob("wandb/offline-run-*"))
    assert len(wandb_runs) == 1
    # The processes draw other batches than one process does: close metrics, not equal ones.
    best = f"best_{train['monitor']}"
    assert ddp["metrics"][best] == pytest.approx(straight["metrics"][best], rel=DDP_TOLERANCE)


@pytest.mark.parametrize("wanted", ["train_20000101T000000Z_000000", "../elsewhere"])
def test_resuming_a_run_that_is_not_there_is_refused_in_one_line(
    trained: tuple[Path, dict[str, Any]], wanted: str
) -> None:
    root, _ = trained
    known = len(records(root))
    args = command("logger=none", f"train.resume={wanted}")
    done = subprocess.run(args, cwd=root, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert wanted in line
    assert len(records(root)) == known  # refused before any run folder was made


@pytest.mark.parametrize(
    ("hidden", "dropout", "named"), [([8, 0], 0.1, "hidden"), ([8], 1.5, "dropout")]
)
def test_the_example_network_refuses_a_bad_width_or_dropout_in_one_line(
    hidden: list[int], dropout: float, named: str
) -> None:
    mlp = {"_target_": f"{PACKAGE}.stages._nets.MLP", "hidden": hidden, "dropout": dropout}
    with pytest.raises(UsageError, match=rf"^model\.{named}") as error:  # not Hydra's wrapper
        build_net(mlp, inputs=4, outputs=2)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("train.optimizer.lr=-0.001", "train.optimizer.lr"),
        ("train.monitor_mode=up", "train.monitor_mode"),
    ],
)
def test_a_training_setting_out_of_range_is_refused_in_one_line(override: str, named: str) -> None:
    cfg = pipeline.compose(ROOT, [override])
    with pytest.raises(UsageError, match=re.escape(named)) as error:
        pipeline.prepared(ROOT, cfg, "train")  # as a run checks its section, before it starts
    assert "(got " in str(error.value)
    assert "\n" not in str(error.value)
