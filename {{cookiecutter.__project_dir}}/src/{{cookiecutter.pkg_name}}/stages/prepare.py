"""Load the raw table, decide the task, split it into train, validation and test (parquet)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pandas.api.types import is_bool_dtype, is_float_dtype, is_integer_dtype, is_numeric_dtype

from ..runtime import Metrics, Run, UsageError
from ._io import TASKS, read_table, split, write_table

MAX_CLASSES = 20  # `auto`: an integer target with at most this many values is a class label


@dataclass
class PrepareConfig:
    """Section `prepare` of conf/config.yaml: everything this stage reads."""

    source: str
    source_file: str
    target: str
    task: str
    limit: int | None
    test_size: float
    val_size: float
    seed: int
    output_dir: str

    def __post_init__(self) -> None:  # a value out of range: refused before any run starts
        for key, share in (("test_size", self.test_size), ("val_size", self.val_size)):
            if not 0 < share < 1:
                raise UsageError(f"{key} must be between 0 and 1 (got {share}); set data.{key}")
        if self.limit is not None and self.limit < 1:
            raise UsageError(f"limit must be 1 or more, or null (got {self.limit}); set data.limit")


def load_source(source: str) -> pd.DataFrame:
    """The table of `sklearn:<name>` (a data set bundled with scikit-learn) or of a file."""
    if not source.startswith("sklearn:"):
        return read_table(Path(source))
    from sklearn import datasets  # only here: importing scikit-learn takes a second

    name = source.removeprefix("sklearn:")
    loader = getattr(datasets, f"load_{name}", None)
    if loader is None or name in ("files", "sample_image", "sample_images", "svmlight_file"):
        raise UsageError(
            f"data.source '{source}' is not a data set bundled with scikit-learn "
            "(e.g. sklearn:diabetes); give the path of a CSV or parquet file instead"
        )
    frame: pd.DataFrame = loader(as_frame=True).frame
    return frame


def decide_task(target: pd.Series, task: str, where: str) -> str:
    """`regression` or `classification`: as configured, or (`auto`) from the target's values.

    Text, booleans and integers with few distinct values are class labels; the rest is a
    number to regress.
    """
    if task not in (*TASKS, "auto"):
        raise UsageError(f"data.task '{task}' is not one of auto, {', '.join(TASKS)}")
    values = target.dropna()
    if task == "auto":
        whole = is_integer_dtype(values) or (
            is_float_dtype(values) and bool((values == values.round()).all())
        )
        few = values.nunique() <= MAX_CLASSES
        numeric = is_numeric_dtype(values) and not is_bool_dtype(values)
        task = "classification" if not numeric or (whole and few) else "regression"
    if task == "regression" and not (is_numeric_dtype(values) and not is_bool_dtype(values)):
        raise UsageError(
            f"{where}: target '{target.name}' holds text, which cannot be regressed; "
            "set data.task to classification (or auto)"
        )
    if task == "classification" and values.nunique() < 2:
        raise UsageError(
            f"{where}: target '{target.name}' has {values.nunique()} class "
            f"({', '.join(map(str, values.unique()[:1])) or 'no values'}); a classifier "
            "needs at least two: check the column, or set data.target to another one"
        )
    return task


def check_table(frame: pd.DataFrame, target: str, where: str) -> pd.DataFrame:
    """The table, if it can be learned from: its target column there, no column empty."""
    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:30]))
        raise UsageError(
            f"{where}: no column '{target}' (columns: {columns}); set data.target to the "
            "column to predict"
        )
    if frame.empty:
        raise UsageError(f"{where}: no rows to learn from; check the file (and data.limit)")
    if empty := [str(name) for name in frame.columns if frame[name].isna().all()]:
        raise UsageError(
            f"{where}: column '{empty[0]}' is empty in every row; drop it from the file, or fill it"
        )
    return frame


def prepare(cfg: PrepareConfig, run: Run) -> Metrics:
    """Load the raw table, decide the task, split it into train, validation and test (parquet)."""
    frame = load_source(cfg.source)
    frame = frame.head(cfg.limit) if cfg.limit is not None else frame
    frame = check_table(frame, cfg.target, cfg.source)
    unlabelled = frame[cfg.target].isna()
    if unlabelled.any():  # rows with no target teach nothing and cannot be scored
        run.log.warning("dropping %d rows whose target is empty", int(unlabelled.sum()))
        frame = frame[~unlabelled]
    task = decide_task(frame[cfg.target], cfg.task, cfg.source)
    classes = task == "classification"  # split so that each part holds every class
    rest, test = split(frame, cfg.test_size, cfg.seed, frame[cfg.target] if classes else None)
    train, val = split(rest, cfg.val_size, cfg.seed, rest[cfg.target] if classes else None)
    out = Path(cfg.output_dir)
    for name, part in (("train", train), ("val", val), ("test", test)):
        part.attrs["task"] = task  # kept in the parquet file: the next stages read it
        write_table(out / f"{name}.parquet", part)
    run.note(task=task)
    run.log.info(
        "%s of %s on %d rows from %s: %d train, %d validation, %d test -> %s",
        task,
        cfg.target,
        len(frame),
        cfg.source,
        len(train),
        len(val),
        len(test),
        out,
    )
    sizes = {"train_rows": len(train), "val_rows": len(val), "test_rows": len(test)}
    return {"rows": len(frame), **sizes, "columns": len(frame.columns) - 1}
