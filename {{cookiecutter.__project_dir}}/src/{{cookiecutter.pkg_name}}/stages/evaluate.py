"""Score the trained model on the test set: metrics JSON, predictions table and a plot."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from ..config import Config
from ..runtime import Metrics, Run
from ..runtime.records import write_text
from ._io import Table, read_xy, write_table
from .train import FittedModel


def evaluate(cfg: Config, run: Run) -> Metrics:
    """Score the trained model on the test set: metrics JSON, predictions table and a plot."""
    model_path = Path(cfg.train.model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path} does not exist; run stage=train first")
    model = pickle.loads(model_path.read_bytes())
    if not isinstance(model, FittedModel):
        raise TypeError(f"{model_path} does not hold a model written by stage=train")
    _, x_test, y_test = read_xy(Path(cfg.featurize.output_dir) / "test.csv", cfg.data.target)
    predicted = model.predict(x_test)

    errors = predicted - y_test
    metrics = {
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "r2": float(1 - np.sum(errors**2) / np.sum((y_test - y_test.mean()) ** 2)),
    }
    metrics_path = Path(cfg.evaluate.metrics_json)
    write_text(metrics_path, json.dumps(metrics, indent=2) + "\n")
    write_table(
        Path(cfg.evaluate.predictions_csv),
        ["actual", "predicted"],
        np.column_stack([y_test, predicted]),
    )
    with run.artifact("pred_vs_actual.png", kind="plot") as path:
        plot_predictions(y_test, predicted, path, cfg.model.name)
    run.publish("pred_vs_actual.png", Path(cfg.evaluate.figure_png))
    run.log.info(
        "test rmse=%.3f mae=%.3f r2=%.3f -> %s",
        metrics["rmse"],
        metrics["mae"],
        metrics["r2"],
        metrics_path,
    )
    return metrics


def plot_predictions(actual: Table, predicted: Table, path: Path, title: str) -> None:
    """Save a predicted-versus-actual scatter plot as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed: the plot only goes to a file
    import matplotlib.pyplot as plt

    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(actual, predicted, s=12, alpha=0.7)
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    ax.set(xlabel="actual", ylabel="predicted", title=f"{title}: predicted vs actual")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)
