"""Fit the model (epoch by epoch where it has partial_fit) and save it with the preprocessing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from hydra.utils import instantiate
from sklearn.base import is_classifier, is_regressor
from sklearn.compose import TransformedTargetRegressor
from sklearn.metrics import accuracy_score, log_loss, r2_score, root_mean_squared_error
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

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

# What the curve and the metrics call the loss and the score of each task.
NAMES = {"regression": ("rmse", "r2"), "classification": ("log_loss", "accuracy")}
REFIT = "run stage=featurize first (`make repro` runs what changed)"


@dataclass
class TrainConfig:
    """Section `train` of conf/config.yaml: everything this stage reads."""

    input_dir: str
    target: str
    seed: int
    model: dict[str, Any]
    epochs: int
    batch_size: int
    preprocessor_path: str
    model_path: str
    curve_csv: str
    load_from: str | None = None

    def __post_init__(self) -> None:  # a value out of range: refused before any run starts
        if self.epochs < 1:
            raise UsageError(f"epochs must be 1 or more (got {self.epochs})")
        if self.batch_size < 1:
            raise UsageError(f"batch_size must be 1 or more (got {self.batch_size})")


def build(model: dict[str, Any], task: str, seed: int) -> Any:
    """The untrained estimator of conf/model/<name>.yaml for `task`: its `<task>:` section, or
    the file itself when it names one `_target_` for every task."""
    spec = model.get(task, model)
    if not isinstance(spec, dict) or "_target_" not in spec:
        raise UsageError(
            f"the model config has no _target_ for {task}: give it `_target_` (an estimator "
            f"class) or a `{task}:` section with one (conf/model/)"
        )
    estimator = instantiate(spec)
    if not (is_classifier if task == "classification" else is_regressor)(estimator):
        kind = "classifier" if task == "classification" else "regressor"
        raise UsageError(
            f"{spec['_target_']} is not a {kind}, and the task is {task}; choose a {kind} "
            "(set data.task if the task was guessed wrong)"
        )
    if estimator.get_params().get("random_state", 0) is None:
        estimator.set_params(random_state=seed)
    return estimator


def scores(model: Any, task: str, x: Any, y: Any) -> tuple[float, float]:
    """The loss and the score of a model on (x, y): RMSE and R² or log loss and accuracy."""
    if task == "regression":
        predicted = model.predict(x)
        return root_mean_squared_error(y, predicted), r2_score(y, predicted)
    accuracy = accuracy_score(y, model.predict(x))
    if not hasattr(model, "predict_proba"):  # e.g. SGDClassifier with the hinge loss
        return 1.0 - accuracy, accuracy
    return log_loss(y, model.predict_proba(x), labels=model.classes_), accuracy


def fit(
    cfg: TrainConfig, run: Run, task: str, train: tuple[Any, Any], val: tuple[Any, Any]
) -> tuple[Any, list[list[float]]]:
    """Train; return the model and one [epoch, train_loss, val_loss, val_score] row per epoch."""
    (x_train, y_train), (x_val, y_val) = train, val
    estimator = build(cfg.model, task, cfg.seed)
    iterative = hasattr(estimator, "partial_fit")
    model: Any = estimator
    rng = np.random.default_rng(cfg.seed)
    y_rows = y_train
    if task == "regression":  # the target scaled for the estimator, predictions in its units
        scaler = StandardScaler().fit(y_train.reshape(-1, 1))
        model = TransformedTargetRegressor(regressor=estimator, transformer=scaler)
        if iterative:  # what TransformedTargetRegressor.fit would set; partial_fit cannot use it
            model.regressor_, model.transformer_, model._training_dim = estimator, scaler, 1
            y_rows = scaler.transform(y_train.reshape(-1, 1)).ravel()
    classes = {"classes": np.unique(y_rows)} if task == "classification" else {}

    def one_epoch() -> None:
        if not iterative:  # one fit is the whole training
            model.fit(x_train, y_train)
            return
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), cfg.batch_size):
            batch = order[start : start + cfg.batch_size]
            estimator.partial_fit(x_train[batch], y_rows[batch], **classes)

    epochs = cfg.epochs if iterative else 1
    loss_name, score_name = NAMES[task]
    how = f"{epochs} epochs" if iterative else "one fit"
    run.log.info("training %s for %s (%s)", type(estimator).__name__, task, how)
    curve: list[list[float]] = []
    # The bar shows on a terminal; in logs (DVC, SLURM) a line every tenth of the epochs does.
    bar = tqdm(range(1, epochs + 1), desc=f"train {type(estimator).__name__}", disable=None)
    for epoch in bar:
        one_epoch()
        train_loss, _ = scores(model, task, x_train, y_train)
        val_loss, val_score = scores(model, task, x_val, y_val)
        metrics = {f"train_{loss_name}": train_loss, f"val_{loss_name}": val_loss}
        run.log_metrics({**metrics, f"val_{score_name}": val_score}, step=epoch)
        curve.append([epoch, train_loss, val_loss, val_score])
        bar.set_postfix(metrics)
        if bar.disable and (epoch % max(1, epochs // 10) == 0 or epoch == epochs):
            run.log.info("epoch %d/%d: val_%s=%.4g", epoch, epochs, loss_name, val_loss)
    return model, curve


def train(cfg: TrainConfig, run: Run) -> Metrics:
    """Fit the model (epoch by epoch where it has partial_fit); save it after the preprocessing."""
    data = Path(cfg.input_dir)
    train_table, val_table = (read_stage_table(data / f"{s}.parquet") for s in ("train", "val"))
    task = task_of(train_table)
    (x, y), (x_val, y_val) = (features_and_target(t, cfg.target) for t in (train_table, val_table))
    if task == "classification" and (unknown := set(y_val) - set(y)):  # prepare keeps them out
        raise UsageError(
            "validation rows hold classes the training rows lack: "
            f"{listed(sorted(unknown, key=str))}; run stage=prepare again"
        )
    preprocess = load_preprocessor(cfg.preprocessor_path)  # featurize's, fitted on the train rows
    check_columns(x, data / "train.parquet", preprocess, f"{cfg.preprocessor_path}'s", REFIT)
    # The model sees what the preprocessing gives it, as it will in the saved pipeline.
    fitted, held_out = (
        (preprocess.transform(rows).astype(np.float32), truth.to_numpy())
        for rows, truth in ((x, y), (x_val, y_val))
    )
    if cfg.load_from:  # reuse an earlier run's model (a folder beside this run's) instead
        earlier = run.dir.parent / Path(cfg.load_from).name / "artifacts" / "model.joblib"
        if not earlier.is_file():
            raise UsageError(f"train.load_from: no run '{cfg.load_from}' with a model; see runs ls")
        model = joblib.load(earlier).named_steps["model"]
        losses = [scores(model, task, *split) for split in (fitted, held_out)]
        curve = [[0, losses[0][0], *losses[1]]]
        run.note(load_from=cfg.load_from)  # in run.json: where the model came from
    else:
        model, curve = fit(cfg, run, task, fitted, held_out)
    with run.artifact("model.joblib", kind="model") as path:
        joblib.dump(Pipeline([("preprocess", preprocess), ("model", model)]), path)  # raw rows in
    columns = ["epoch", "train_loss", "val_loss", "val_score"]
    rows = pd.DataFrame(curve, columns=columns).astype({"epoch": int})
    with outputs() as output:  # the model and its curve, or neither
        run.publish("model.joblib", output(Path(cfg.model_path)))
        write_csv(output(Path(cfg.curve_csv)), rows)
    loss_name, score_name = NAMES[task]
    epoch, train_loss, val_loss, val_score = curve[-1]
    run.log.info("val_%s=%.4g -> %s", loss_name, val_loss, cfg.model_path)
    return {
        f"val_{loss_name}": val_loss,
        f"val_{score_name}": val_score,
        f"train_{loss_name}": train_loss,
        "epochs": int(epoch),
    }
