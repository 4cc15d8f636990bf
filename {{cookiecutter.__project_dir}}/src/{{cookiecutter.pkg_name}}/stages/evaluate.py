"""Score the saved model on the raw test rows: metrics, plot data for DVC, and figures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
{% if cookiecutter.framework != "pytorch" %}
import joblib
{%- endif %}
import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.base import is_classifier
from sklearn.preprocessing import label_binarize

from ..runtime import Metrics, Run, UsageError, write_text
from ._io import (
    check_columns,
    features_and_target,
{%- if cookiecutter.framework == "pytorch" %}
    load_preprocessor,
{%- endif %}
    outputs,
    read_stage_table,
    task_of,
    write_csv,
)
{%- if cookiecutter.framework == "pytorch" %}
from ._nets import load_model
{%- endif %}

RETRAIN = "run the pipeline again on this data (`make repro`), or give it the columns it knows"
# The plot data files of each task, in `plots_dir` (dvc.yaml's top-level `plots` draws them).
PLOTS = {"regression": ("pred_vs_actual.csv",), "classification": ("confusion.csv", "roc.csv")}


@dataclass
class EvaluateConfig:
    """Section `evaluate` of conf/config.yaml: everything this stage reads."""

    input_dir: str
    model_path: str
{%- if cookiecutter.framework == "pytorch" %}
    preprocessor_path: str
{%- endif %}
    target: str
    seed: int
    max_points: int
    metrics_json: str
    plots_dir: str
    figures_dir: str

    def __post_init__(self) -> None:  # a value out of range: refused before any run starts
        if self.max_points < 1:
            raise UsageError(f"max_points must be 1 or more (got {self.max_points})")


def sample(frame: pd.DataFrame, most: int, seed: int) -> pd.DataFrame:
    """At most `most` rows of `frame`, drawn with the seed (plot data stays small in git)."""
    return frame if len(frame) <= most else frame.sample(n=most, random_state=seed)


def regression_report(
    y: Any, predicted: Any, cfg: EvaluateConfig
) -> tuple[Metrics, dict[str, pd.DataFrame]]:
    """RMSE, MAE and R², and the predicted-versus-actual points."""
    scores = {
        "rmse": skm.root_mean_squared_error(y, predicted),
        "mae": skm.mean_absolute_error(y, predicted),
        "r2": skm.r2_score(y, predicted),
    }
    points = pd.DataFrame({"actual": np.asarray(y), "predicted": predicted})
    return scores, {"pred_vs_actual.csv": sample(points, cfg.max_points, cfg.seed)}


def classification_report(
    model: Any, x: pd.DataFrame, y: Any, cfg: EvaluateConfig
) -> tuple[Metrics, dict[str, pd.DataFrame]]:
    """Accuracy, balanced accuracy, macro F1, ROC AUC, log loss; the confusion and ROC data."""
    predicted = model.predict(x)
    scores = {
        "accuracy": skm.accuracy_score(y, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
        "f1_macro": skm.f1_score(y, predicted, average="macro"),
    }
    pairs = pd.DataFrame({"actual": np.asarray(y).astype(str), "predicted": predicted.astype(str)})
    plots = {"confusion.csv": sample(pairs, cfg.max_points, cfg.seed)}
    classes = getattr(model, "classes_", [])
    seen = set(np.unique(y))
    # Probabilities are scored on the classes the model knows: every test label among them.
    if hasattr(model, "predict_proba") and seen <= set(classes):
        proba = model.predict_proba(x)
        scores["log_loss"] = skm.log_loss(y, proba, labels=classes)
        truth = label_binarize(y, classes=classes)  # binary: one column, 1 for classes[1]
        binary = len(classes) == 2
        if seen == set(classes):  # AUC needs each class among the test rows
            scores["roc_auc"] = skm.roc_auc_score(
                truth.ravel() if binary else y,
                proba[:, 1] if binary else proba,
                multi_class="ovr",
                labels=None if binary else classes,
            )
        # Binary: the ROC curve of the second class; more classes: the micro-average.
        fpr, tpr, _ = skm.roc_curve(truth.ravel(), proba[:, 1] if binary else proba.ravel())
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), cfg.max_points)).astype(int))
        plots["roc.csv"] = pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep]})
    return scores, plots


def evaluate(cfg: EvaluateConfig, run: Run) -> Metrics:
    """Score the saved model on the raw test rows: metrics, plot data for DVC, and figures."""
    model_path, test_path = Path(cfg.model_path), Path(cfg.input_dir) / "test.parquet"
    if not model_path.is_file():
        raise UsageError(f"{model_path} does not exist; run stage=train first")
{%- if cookiecutter.framework == "pytorch" %}
    model = load_model(model_path, load_preprocessor(cfg.preprocessor_path))
{%- else %}
    model = joblib.load(model_path)
{%- endif %}
    test = read_stage_table(test_path)
    task = task_of(test)
    x, y = features_and_target(test, cfg.target)
    check_columns(x, test_path, model, "the model's", RETRAIN)
    if is_classifier(model) != (task == "classification"):
        raise UsageError(f"{model_path} was not trained for {task}; run stage=train again")
    if task == "regression":
        scores, plots = regression_report(y, model.predict(x), cfg)
    else:
        scores, plots = classification_report(model, x, y, cfg)
    if task == "classification" and hasattr(model, "predict_proba") and "roc_auc" not in scores:
        run.log.warning("roc_auc left out: the test rows lack a class, or hold one the model lacks")
    scores = {key: float(value) for key, value in scores.items()}
    plots_dir, figures_dir = Path(cfg.plots_dir), Path(cfg.figures_dir)
    with outputs() as output:  # the metrics, plot data and figures, or none of them
        write_text(output(Path(cfg.metrics_json)), json.dumps(scores, indent=2) + "\n")
        for name, frame in plots.items():
            write_csv(output(plots_dir / name), frame)
            figure = Path(name).with_suffix(".png").name
            with run.artifact(figure, kind="plot") as path:
                draw(name, frame, path, type(model[-1]).__name__)
            run.publish(figure, output(figures_dir / figure))
    for name in (n for names in PLOTS.values() for n in names if n not in plots):
        (plots_dir / name).unlink(missing_ok=True)  # another task's, from an earlier run
        (figures_dir / Path(name).with_suffix(".png").name).unlink(missing_ok=True)
    shown = " ".join(f"{key}={value:.4g}" for key, value in scores.items())
    run.log.info("test (%s, %d rows): %s -> %s", task, len(test), shown, cfg.metrics_json)
    return scores


def draw(name: str, frame: pd.DataFrame, path: Path, model_name: str) -> None:
    """Draw a plot data file as a PNG figure: scatter, confusion matrix or ROC curve."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed: the plot only goes to a file
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    if name == "pred_vs_actual.csv":
        low, high = frame.min().min(), frame.max().max()
        ax.scatter(frame["actual"], frame["predicted"], s=10, alpha=0.6)
        ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
        ax.set(xlabel="actual", ylabel="predicted", title=f"{model_name}: predicted vs actual")
    elif name == "confusion.csv":
        skm.ConfusionMatrixDisplay.from_predictions(frame["actual"], frame["predicted"], ax=ax)
        ax.set_title(f"{model_name}: confusion matrix")
    else:
        ax.plot(frame["fpr"], frame["tpr"])
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        ax.set(
            xlabel="false positive rate", ylabel="true positive rate", title=f"{model_name}: ROC"
        )
    fig.savefig(path, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)
