"""Score the trained model on the test set: metrics JSON, predictions table and a plot."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

from ..runtime import Metrics, Run, UsageError, write_text
from ._io import Table, read_xy, write_table


@dataclass
class EvaluateConfig:
    """Section `evaluate` of conf/config.yaml: everything this stage reads."""

    input_dir: str
    model_path: str
    target: str
    metrics_json: str
    predictions_csv: str
    figure_png: str


def evaluate(cfg: EvaluateConfig, run: Run) -> Metrics:
    """Score the trained model on the test set: metrics JSON, predictions table and a plot."""
    model_path = Path(cfg.model_path)
    if not model_path.is_file():
        raise UsageError(f"{model_path} does not exist; run stage=train first")
    model = joblib.load(model_path)
    _, x_test, y_test = read_xy(Path(cfg.input_dir) / "test.csv", cfg.target)
    predicted = model.predict(x_test)
    metrics = {
        "rmse": root_mean_squared_error(y_test, predicted),
        "mae": mean_absolute_error(y_test, predicted),
        "r2": r2_score(y_test, predicted),
    }
    write_text(Path(cfg.metrics_json), json.dumps(metrics, indent=2) + "\n")
    write_table(
        Path(cfg.predictions_csv), ["actual", "predicted"], np.column_stack([y_test, predicted])
    )
    with run.artifact("pred_vs_actual.png", kind="plot") as path:
        plot_predictions(y_test, predicted, path, type(model.regressor_).__name__)
    run.publish("pred_vs_actual.png", Path(cfg.figure_png))
    run.log.info(
        "test %s -> %s", " ".join(f"{k}={v:.3f}" for k, v in metrics.items()), cfg.metrics_json
    )
    return {key: float(value) for key, value in metrics.items()}


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
