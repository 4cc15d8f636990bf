"""Load the raw table, decide the task, split it into train, validation and test (parquet)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_float_dtype, is_integer_dtype, is_numeric_dtype

from ..runtime import Metrics, Run, UsageError
from ._io import TASKS, listed, outputs, read_table, shown, split, write_table

MAX_CLASSES = 20  # `auto`: an integer target with at most this many values is a class label
MIN_ROWS = 2  # in each of training, validation and test: R² is undefined on one row


@dataclass
class PrepareConfig:
    """Section `prepare` of conf/config.yaml: everything this stage reads."""

    source: str
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
            f"{where}: target '{shown(target.name)}' holds text, which cannot be regressed; "
            "set data.task to classification (or auto)"
        )
    if task == "classification" and values.nunique() < 2:
        raise UsageError(
            f"{where}: target '{shown(target.name)}' has {values.nunique()} class "
            f"({listed(values.unique()[:1]) or 'no values'}); a classifier "
            "needs at least two: check the column, or set data.target to another one"
        )
    return task


def check_table(frame: pd.DataFrame, target: str, where: str) -> pd.DataFrame:
    """The table, if it can be learned from: its target column there and a feature column
    beside it, no column empty, no number infinite (refused rather than read as missing: an
    overflow or a division by zero upstream is better fixed there)."""
    if target not in frame.columns:
        raise UsageError(
            f"{where}: no column '{shown(target)}' (columns: {listed(frame.columns)}); set "
            "data.target to the column to predict"
        )
    if len(frame.columns) < 2:
        raise UsageError(
            f"{where}: no feature columns, only the target '{shown(target)}'; add the columns "
            "to predict it from"
        )
    if frame.empty:
        raise UsageError(f"{where}: no rows to learn from; check the file (and data.limit)")
    if empty := [name for name in frame.columns if frame[name].isna().all()]:
        raise UsageError(
            f"{where}: column '{shown(empty[0])}' is empty in every row; drop it from the file, "
            "or fill it"
        )
    infinite = frame.select_dtypes("number").isin([np.inf, -np.inf])
    if bool(infinite.any(axis=None)):
        rows, columns = int(infinite.any(axis=1).sum()), infinite.columns[infinite.any()]
        raise UsageError(
            f"{where}: {rows} row(s) hold inf or -inf in column(s) {listed(columns)}; make them "
            "finite numbers, or empty cells (features are imputed, rows with no target dropped)"
        )
    return frame


def split_sizes(rows: int, test_size: float, val_size: float) -> tuple[int, int, int]:
    """How many of `rows` go to training, validation and test, as `split` draws them."""
    test = math.ceil(test_size * rows)
    val = math.ceil(val_size * (rows - test))
    return rows - test - val, val, test


def check_rows(rows: int, classes: int, cfg: PrepareConfig, limited: bool) -> None:
    """Refuse too few rows to split: two or more in each part, in training one of each class."""

    def enough(count: int) -> bool:
        train, val, test = split_sizes(count, cfg.test_size, cfg.val_size)
        return min(val, test) >= MIN_ROWS and train >= max(MIN_ROWS, classes)

    if not enough(rows):
        needed = next(count for count in itertools.count(rows + 1) if enough(count))
        each = f", training one of each of the {classes} classes" if classes else ""
        fixes = ["add rows"] + ["raise data.limit"] * limited
        if rows - 2 * MIN_ROWS >= max(MIN_ROWS, classes):  # enough, were the shares smaller
            fixes.append("lower data.test_size and data.val_size")
        raise UsageError(
            f"{cfg.source}: too few rows to split ({rows} with a target): training, validation "
            f"and test need {MIN_ROWS} or more each{each}; with test_size={cfg.test_size} and "
            f"val_size={cfg.val_size} that takes {needed} rows or more; {', or '.join(fixes)}"
        )


def prepare(cfg: PrepareConfig, run: Run) -> Metrics:
    """Load the raw table, decide the task, split it into train, validation and test (parquet)."""
    frame = load_source(cfg.source)
    limited = cfg.limit is not None and len(frame) > cfg.limit
    frame = frame.head(cfg.limit) if cfg.limit is not None else frame
    frame = check_table(frame, cfg.target, cfg.source)
    unlabelled = frame[cfg.target].isna()
    if unlabelled.any():  # rows with no target teach nothing and cannot be scored
        run.log.warning("dropping %d rows whose target is empty", int(unlabelled.sum()))
        frame = frame[~unlabelled]
    task = decide_task(frame[cfg.target], cfg.task, cfg.source)
    classes = task == "classification"  # split so that each part holds every class
    check_rows(len(frame), frame[cfg.target].nunique() if classes else 0, cfg, limited)
    rest, test = split(frame, cfg.test_size, cfg.seed, frame[cfg.target] if classes else None)
    train, val = split(rest, cfg.val_size, cfg.seed, rest[cfg.target] if classes else None)
    if classes and (lacking := set(frame[cfg.target]) - set(train[cfg.target])):
        raise UsageError(  # a class too rare for the shares: stratified, training drew none
            f"{cfg.source}: the training rows ({len(train)} of {len(frame)}) hold no row of "
            f"class(es) {listed(sorted(lacking, key=str))}; add rows of those classes, or lower "
            "data.test_size and data.val_size"
        )
    out = Path(cfg.output_dir)
    with outputs() as output:  # the three files, or none (a full disk leaves the old ones)
        for name, part in (("train", train), ("val", val), ("test", test)):
            part.attrs["task"] = task  # kept in the parquet file: the next stages read it
            write_table(output(out / f"{name}.parquet"), part)
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
