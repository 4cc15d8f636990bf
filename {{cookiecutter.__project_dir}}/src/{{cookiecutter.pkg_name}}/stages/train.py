"""Fit the model one epoch at a time, logging train and validation RMSE per epoch."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import SGDRegressor
from sklearn.neural_network import MLPRegressor
from tqdm import tqdm

from ..config import Config, MLPConfig, ModelConfig, RidgeConfig
from ..runtime import Metrics, Run
from ._io import Table, read_xy, write_table


@dataclass
class FittedModel:
    """A regressor trained on a standardized target, predicting in the original units."""

    estimator: Any
    y_mean: float
    y_std: float

    def predict(self, x: Table) -> Table:
        """Predict the target for the rows of `x`."""
        scaled: Table = self.estimator.predict(x)
        return scaled * self.y_std + self.y_mean


def build_estimator(model: ModelConfig, seed: int) -> Any:
    """Create the untrained scikit-learn estimator for the chosen `model` option."""
    if isinstance(model, RidgeConfig):
        return SGDRegressor(
            penalty="l2", alpha=model.alpha, eta0=model.learning_rate, random_state=seed
        )
    if isinstance(model, MLPConfig):
        return MLPRegressor(
            hidden_layer_sizes=tuple(model.hidden_sizes),
            alpha=model.alpha,
            learning_rate_init=model.learning_rate,
            random_state=seed,
        )
    raise ValueError(f"model '{model.name}' has no estimator; add it to build_estimator()")


def rmse(model: FittedModel, x: Table, y: Table) -> float:
    """Root mean squared error of `model` on (x, y)."""
    return float(np.sqrt(np.mean((model.predict(x) - y) ** 2)))


def _fmt(scores: dict[str, float]) -> str:
    return " ".join(f"{key}={value:.3f}" for key, value in scores.items())


def fit(
    cfg: Config, run: Run, x_train: Table, y_train: Table, x_val: Table, y_val: Table
) -> tuple[FittedModel, list[list[float]]]:
    """Train epoch by epoch; return the model and one [epoch, train_rmse, val_rmse] row each."""
    model = FittedModel(
        build_estimator(cfg.model, cfg.seed), float(y_train.mean()), float(y_train.std())
    )
    y_scaled = (y_train - model.y_mean) / model.y_std
    rng = np.random.default_rng(cfg.seed)
    curve: list[list[float]] = []
    # The bar shows on a terminal; in logs (DVC, SLURM) a line every tenth of the epochs does.
    bar = tqdm(range(1, cfg.train.epochs + 1), desc=f"train {cfg.model.name}", disable=None)
    report_every = max(1, cfg.train.epochs // 10)
    for epoch in bar:
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), cfg.train.batch_size):
            batch = order[start : start + cfg.train.batch_size]
            model.estimator.partial_fit(x_train[batch], y_scaled[batch])
        scores = {
            "train_rmse": rmse(model, x_train, y_train),
            "val_rmse": rmse(model, x_val, y_val),
        }
        run.log_metrics(scores, step=epoch)
        curve.append([epoch, scores["train_rmse"], scores["val_rmse"]])
        bar.set_postfix(scores)
        if bar.disable and (epoch % report_every == 0 or epoch == cfg.train.epochs):
            run.log.info("epoch %d/%d: %s", epoch, cfg.train.epochs, _fmt(scores))
    return model, curve


def train(cfg: Config, run: Run) -> Metrics:
    """Fit the model one epoch at a time, logging train and validation RMSE per epoch."""
    data_dir = Path(cfg.featurize.output_dir)
    _, x_train, y_train = read_xy(data_dir / "train.csv", cfg.data.target)
    _, x_val, y_val = read_xy(data_dir / "val.csv", cfg.data.target)

    if cfg.train.load_from:
        # Reuse an earlier run's model instead of training again.
        model = pickle.loads(run.reuse("model.pkl", cfg.train.load_from).read_bytes())
        curve = [[0, rmse(model, x_train, y_train), rmse(model, x_val, y_val)]]
    else:
        model, curve = fit(cfg, run, x_train, y_train, x_val, y_val)
        with run.artifact("model.pkl", kind="model") as path:
            path.write_bytes(pickle.dumps(model))
    run.publish("model.pkl", Path(cfg.train.model_path))
    write_table(Path(cfg.train.curve_csv), ["epoch", "train_rmse", "val_rmse"], np.array(curve))
    run.log.info("%s: val_rmse=%.3f -> %s", cfg.model.name, curve[-1][2], cfg.train.model_path)
    return {"val_rmse": curve[-1][2], "train_rmse": curve[-1][1], "epochs": curve[-1][0]}
