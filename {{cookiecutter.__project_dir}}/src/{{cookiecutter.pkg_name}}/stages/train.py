"""Fit the model: epoch by epoch where the estimator has partial_fit, in one fit otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from hydra.utils import instantiate
from sklearn.compose import TransformedTargetRegressor
from sklearn.metrics import root_mean_squared_error
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from ..runtime import Metrics, Run, UsageError
from ._io import Table, read_xy, write_table


@dataclass
class TrainConfig:
    """Section `train` of conf/config.yaml: everything this stage reads."""

    input_dir: str
    target: str
    seed: int
    model: dict[str, Any]
    epochs: int
    batch_size: int
    model_path: str
    curve_csv: str
    load_from: str | None = None


def build(model: dict[str, Any], seed: int) -> Any:
    """The untrained estimator of conf/model/<name>.yaml: `_target_` built with its arguments."""
    if "_target_" not in model:
        raise UsageError("the model config has no _target_; name an estimator class (conf/model/)")
    estimator = instantiate(model)
    if estimator.get_params().get("random_state", 0) is None:
        estimator.set_params(random_state=seed)
    return estimator


def predicting_raw_units(estimator: Any, scaler: StandardScaler) -> TransformedTargetRegressor:
    """Wrap an estimator trained on the scaled target so that it predicts in the target's units."""
    model = TransformedTargetRegressor(regressor=estimator, transformer=scaler)
    # The attributes TransformedTargetRegressor.fit sets; partial_fit cannot go through fit.
    model.regressor_, model.transformer_, model._training_dim = estimator, scaler, 1
    return model


def fit(
    cfg: TrainConfig, run: Run, x_train: Table, y_train: Table, x_val: Table, y_val: Table
) -> tuple[TransformedTargetRegressor, list[list[float]]]:
    """Train; return the model and one [epoch, train_rmse, val_rmse] row per epoch."""
    estimator = build(cfg.model, cfg.seed)
    if hasattr(estimator, "partial_fit"):
        scaler = StandardScaler().fit(y_train.reshape(-1, 1))
        y_scaled = scaler.transform(y_train.reshape(-1, 1)).ravel()
        model = predicting_raw_units(estimator, scaler)
        rng = np.random.default_rng(cfg.seed)

        def one_epoch() -> None:
            order = rng.permutation(len(x_train))
            for start in range(0, len(order), cfg.batch_size):
                batch = order[start : start + cfg.batch_size]
                estimator.partial_fit(x_train[batch], y_scaled[batch])

        epochs = cfg.epochs
    else:  # no partial_fit: one fit is the whole training
        model = TransformedTargetRegressor(regressor=estimator, transformer=StandardScaler())

        def one_epoch() -> None:
            model.fit(x_train, y_train)

        epochs = 1
    how = f"{epochs} epochs" if hasattr(estimator, "partial_fit") else "one fit"
    run.log.info("training %s (%s)", type(estimator).__name__, how)
    curve: list[list[float]] = []
    # The bar shows on a terminal; in logs (DVC, SLURM) a line every tenth of the epochs does.
    bar = tqdm(range(1, epochs + 1), desc=f"train {type(estimator).__name__}", disable=None)
    for epoch in bar:
        one_epoch()
        scores = {
            "train_rmse": root_mean_squared_error(y_train, model.predict(x_train)),
            "val_rmse": root_mean_squared_error(y_val, model.predict(x_val)),
        }
        run.log_metrics(scores, step=epoch)
        curve.append([epoch, scores["train_rmse"], scores["val_rmse"]])
        bar.set_postfix(scores)
        if bar.disable and (epoch % max(1, epochs // 10) == 0 or epoch == epochs):
            run.log.info("epoch %d/%d: val_rmse=%.3f", epoch, epochs, scores["val_rmse"])
    return model, curve


def train(cfg: TrainConfig, run: Run) -> Metrics:
    """Fit the model: epoch by epoch where the estimator has partial_fit, in one fit otherwise."""
    data = Path(cfg.input_dir)
    _, x_train, y_train = read_xy(data / "train.csv", cfg.target)
    _, x_val, y_val = read_xy(data / "val.csv", cfg.target)
    if cfg.load_from:
        # Reuse an earlier run's model instead of training again.
        model = joblib.load(run.reuse("model.joblib", cfg.load_from))
        scores = [
            root_mean_squared_error(y, model.predict(x))
            for x, y in ((x_train, y_train), (x_val, y_val))
        ]
        curve = [[0, *scores]]
    else:
        model, curve = fit(cfg, run, x_train, y_train, x_val, y_val)
        with run.artifact("model.joblib", kind="model") as path:
            joblib.dump(model, path)
    run.publish("model.joblib", Path(cfg.model_path))
    write_table(Path(cfg.curve_csv), ["epoch", "train_rmse", "val_rmse"], np.array(curve))
    run.log.info("val_rmse=%.3f -> %s", curve[-1][2], cfg.model_path)
    return {"val_rmse": curve[-1][2], "train_rmse": curve[-1][1], "epochs": curve[-1][0]}
