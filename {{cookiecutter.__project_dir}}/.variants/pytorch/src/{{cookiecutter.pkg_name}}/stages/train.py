"""Train the network with PyTorch Lightning: checkpoints in the run folder, the best published.

The run folder's `checkpoints/` holds `last.ckpt` (every epoch) and `best.ckpt` (by
train.monitor); the best is published to train.model_path for DVC. `train.resume=<run id>` (or
`last`) goes on from that run's last checkpoint: epoch, optimizer, scheduler, early stopping, the
curve, and the same W&B run. A SLURM or submitit job that is preempted or hits its time limit is
requeued by the launcher and resumes from its own last checkpoint the same way.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.plugins.environments import SLURMEnvironment  # type: ignore[attr-defined]
from torch.utils.data import DataLoader, TensorDataset

from ..runtime import Metrics, Run, UsageError
from ._io import (
    check_columns,
    features_and_target,
    listed,
    load_preprocessor,
    outputs,
    read_stage_table,
    task_of,
    write_csv,
)
from ._nets import EpochSampler, Learner

CHECKPOINTS = "checkpoints"
REFIT = "run stage=featurize first (`make repro` runs what changed)"
# Lightning's own lines once (not again through Hydra's root logger), its warnings only.
logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
logging.getLogger("lightning.pytorch").propagate = False
warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated")  # torch vs Lightning


@dataclass
class TrainConfig:
    """Section `train` of conf/config.yaml: everything this stage reads."""

    input_dir: str
    target: str
    seed: int
    model: dict[str, Any]
    trainer: dict[str, Any]
    optimizer: dict[str, Any]
    epochs: int
    batch_size: int
    monitor: str
    monitor_mode: str
    preprocessor_path: str
    model_path: str
    curve_csv: str
    resume: str | None = None

    def __post_init__(self) -> None:  # a value out of range: refused before any run starts
        if self.epochs < 1:
            raise UsageError(f"epochs must be 1 or more (got {self.epochs})")
        if self.batch_size < 1:
            raise UsageError(f"batch_size must be 1 or more (got {self.batch_size})")
        if not self.optimizer.get("lr", 1) > 0:
            raise UsageError(f"optimizer.lr must be more than 0 (got {self.optimizer['lr']})")
        if self.monitor_mode not in ("min", "max"):
            raise UsageError(f"monitor_mode must be min or max (got {self.monitor_mode})")


class Curve(Callback):
    """After each epoch: its metrics to the run (and W&B) from rank 0, and one curve row. The
    rows are saved in the checkpoints, so a resumed run's curve holds every epoch."""

    def __init__(self, run: Run) -> None:
        self.run, self.rows, self.trained = run, list[dict[str, float]](), 0
        self.started = self.seconds = 0.0  # the epochs' wall time, Lightning's set-up aside

    def on_train_start(self, trainer: Trainer, module: LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer: Trainer, module: LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        epoch = trainer.current_epoch + 1
        metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
        self.run.log_metrics(metrics, step=epoch)
        self.rows.append({"epoch": epoch, **metrics})
        self.trained += 1  # in this run: a resumed run counts from where it went on
        self.seconds = time.perf_counter() - self.started

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])


def _moved(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return new + value[len(old) :] if value.startswith(old) else value
    if isinstance(value, dict):
        return {_moved(key, old, new): _moved(item, old, new) for key, item in value.items()}
    return value


def carried_over(earlier: Path, checkpoints: Path) -> Path:
    """The earlier run's last checkpoint, its paths moved to this run's folder (its best copied
    along), so the best checkpoint is still tracked across the interruption."""
    last = earlier / CHECKPOINTS / "last.ckpt"
    if not last.is_file():
        raise UsageError(f"run {earlier.name} left no checkpoint ({last}); train it again")
    state = torch.load(last, map_location="cpu", weights_only=True)
    old, new = str(last.parent.resolve()), str(checkpoints.resolve())
    for key in [key for key in state.get("callbacks", {}) if key.startswith("ModelCheckpoint")]:
        state["callbacks"][key] = _moved(state["callbacks"][key], old, new)
    checkpoints.mkdir(parents=True, exist_ok=True)
    if (best := last.parent / "best.ckpt").is_file():
        shutil.copyfile(best, checkpoints / "best.ckpt")
    torch.save(state, checkpoints / "resumed.ckpt")
    return checkpoints / "resumed.ckpt"


def tensors(frame: pd.DataFrame, cfg: TrainConfig, preprocess: Any, hparams: dict[str, Any]) -> Any:
    """The rows as tensors: preprocessed features, and class indices or the scaled target."""
    x, y = features_and_target(frame, cfg.target)
    features = torch.as_tensor(np.asarray(preprocess.transform(x), dtype=np.float32))
    if hparams["task"] == "classification":
        index = {label: i for i, label in enumerate(hparams["classes"])}
        unknown = sorted({str(label) for label in y if label not in index})
        if unknown:
            raise UsageError(
                f"validation rows hold classes the training rows lack: {listed(unknown)}; run "
                "stage=prepare again"
            )
        return TensorDataset(features, torch.as_tensor([index[label] for label in y]))
    mean, deviation = hparams["scale"]
    target = (y.to_numpy(dtype=np.float32) - mean) / deviation
    return TensorDataset(features, torch.as_tensor(target, dtype=torch.float32))


def trainer_for(cfg: TrainConfig, run: Run, curve: Curve) -> tuple[Trainer, ModelCheckpoint]:
    """Lightning's Trainer from conf/trainer/, with checkpoints in the run folder."""
    options = dict(cfg.trainer)
    patience = options.pop("early_stopping_patience", None)
    mode = cfg.monitor_mode
    best = ModelCheckpoint(
        dirpath=run.dir / CHECKPOINTS,
        filename="best",
        monitor=cfg.monitor,
        mode=mode,
        save_last=True,
        save_on_train_epoch_end=True,  # after the curve has its row: the row is saved too
        enable_version_counter=False,
    )
    callbacks: list[Callback] = [curve, best]
    if patience:
        callbacks.append(EarlyStopping(monitor=cfg.monitor, mode=mode, patience=patience))
    # On SLURM the launcher (submitit) requeues a preempted job; Lightning's own requeue is off.
    plugins: list[Any] = [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []
    trainer = Trainer(
        max_epochs=cfg.epochs,
        callbacks=callbacks,
        plugins=plugins,
        logger=False,  # metrics go to the run (and W&B) through Curve
        default_root_dir=run.dir,
        enable_progress_bar=sys.stderr.isatty(),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **options,
    )
    return trainer, best


def train(cfg: TrainConfig, run: Run) -> Metrics:
    """Train the network on the preprocessed rows; publish the best checkpoint."""
    data = Path(cfg.input_dir)
    train_table, val_table = (read_stage_table(data / f"{s}.parquet") for s in ("train", "val"))
    preprocess = load_preprocessor(cfg.preprocessor_path)  # featurize's, fitted on the train rows
    x = features_and_target(train_table, cfg.target)[0]
    check_columns(x, data / "train.parquet", preprocess, f"{cfg.preprocessor_path}'s", REFIT)
    task, y = task_of(train_table), train_table[cfg.target]
    hparams: dict[str, Any] = {"task": task, "seed": cfg.seed, "model": dict(cfg.model)}
    hparams["optimizer"] = dict(cfg.optimizer)
    if task == "classification":
        hparams["classes"] = sorted(y.unique().tolist())
        hparams["scale"] = [0.0, 1.0]
    else:
        hparams["classes"] = []
        hparams["scale"] = [float(y.mean()), float(y.std()) or 1.0]
    train_set = tensors(train_table, cfg, preprocess, hparams)
    val_set = tensors(val_table, cfg, preprocess, hparams)
    hparams["inputs"] = int(train_set.tensors[0].shape[1])
    hparams["outputs"] = max(1, len(hparams["classes"]))
    torch.manual_seed(cfg.seed)  # the network's initial weights
    learner = Learner(**hparams)
    sampler = EpochSampler(len(train_set), cfg.seed)
    train_rows = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler)
    val_rows = DataLoader(val_set, batch_size=cfg.batch_size)
    curve = Curve(run)
    trainer, best = trainer_for(cfg, run, curve)
    start = None
    if run.resumed_from is not None:
        start = carried_over(run.resumed_from, run.dir / CHECKPOINTS)
        run.log.info("resuming run %s from its last checkpoint", run.resumed_from.name)
    device = type(trainer.accelerator).__name__.removesuffix("Accelerator").lower()
    run.note(task=task, processes=trainer.world_size, device=device)
    what = f"{type(learner.net).__name__} for {task}, {cfg.epochs} epochs"
    run.log.info("training %s on %d %s process(es)", what, trainer.world_size, device)
    trainer.fit(learner, train_rows, val_rows, ckpt_path=start, weights_only=True)
    if not trainer.is_global_zero:
        return {}
    # Training rows per second over the epochs this run trained, validation included.
    run.note(samples_per_s=round(curve.trained * len(train_set) / max(curve.seconds, 1e-9), 1))
    if not best.best_model_path or best.best_model_score is None:
        raise UsageError("no checkpoint was saved: train.epochs must be at least 1")
    score = float(best.best_model_score)
    with run.artifact("model.ckpt", kind="model") as path:
        shutil.copyfile(best.best_model_path, path)
    with outputs() as output:  # the model and its curve, or neither
        run.publish("model.ckpt", output(Path(cfg.model_path)))
        write_csv(output(Path(cfg.curve_csv)), pd.DataFrame(curve.rows))
    final = curve.rows[-1]
    run.log.info("best %s=%.4g -> %s", cfg.monitor, score, cfg.model_path)
    return {
        **{key: value for key, value in final.items() if key != "epoch"},
        f"best_{cfg.monitor}": score,
        "epochs": int(final["epoch"]),
    }
