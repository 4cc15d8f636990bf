"""What the stages share: reading tables (CSV or parquet), writing outputs, the task."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from ..runtime import UsageError, replacing

TASKS = ("regression", "classification")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
SHOWN_CHARS, SHOWN_NAMES = 40, 10  # a message shows this much of a name, this many names


def shown(name: object) -> str:
    """A column name or a value as a message shows it: on one line, cut after 40 characters."""
    text = str(name).replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}..."


def listed(names: Iterable[object]) -> str:
    """Names for a message: the first ten (each `shown`), then how many more there are."""
    names = list(names)
    more = f", and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else ""
    return ", ".join(map(shown, names[:SHOWN_NAMES])) + more


def read_table(path: Path) -> pd.DataFrame:
    """A raw table: CSV (comma-separated; .tsv: tab) or parquet; a bad file in one line."""
    name = path.name.lower()
    if not path.is_file():
        raise UsageError(f"{path} does not exist; put the file there or fix data.source")
    try:
        if name.endswith(PARQUET_SUFFIXES):
            return pd.read_parquet(path)
        if name.endswith(CSV_SUFFIXES):
            return pd.read_csv(path, low_memory=False, **csv_format(path))
    except (ValueError, OSError, UnicodeDecodeError) as error:  # pandas' and pyarrow's errors
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"{path} cannot be read as a table ({first}); check the file") from error
    raise UsageError(
        f"{path} is neither CSV nor parquet; save it as .csv or .parquet (pandas: to_csv, "
        "to_parquet) and point data.source at it"
    )


def csv_format(path: Path) -> dict[str, str]:
    """How to read a CSV: a tab for .tsv; `;` with decimal commas (`1,5`) as spreadsheets
    write it where the decimal mark is a comma, when the header has `;` and no `,`."""
    if ".tsv" in path.name.lower():
        return {"sep": "\t"}
    if path.suffix.lower() != ".csv":
        return {}  # compressed: read as written, comma-separated
    with path.open("rb") as handle:
        header, first = handle.readline(), handle.readline()
    if b";" not in header or b"," in header:
        return {}
    return {"sep": ";", "decimal": "," if re.search(rb"\d,\d", first) else "."}


@contextmanager
def outputs() -> Iterator[Callable[[Path], Path]]:
    """A stage's outputs, replaced as a set: `output(path)` makes the folder and gives a
    temporary path beside `path`. When the block completes all are renamed onto their paths;
    when it fails none is, so DVC never sees new outputs beside old ones."""
    with ExitStack() as stack:

        def output(path: Path) -> Path:
            if path.is_dir():  # a rename onto it would fail after the others were done
                raise UsageError(f"{path} is a folder, not a file; move it away or change the path")
            return stack.enter_context(replacing(path))

        yield output


def write_table(path: Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame as parquet, column types and `attrs` (such as the task) kept; whole,
    or not at all."""
    with replacing(path) as partial:
        frame.to_parquet(partial, index=False, compression="zstd")


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a small table (a curve, plot data) as CSV for DVC's plots; whole, or not at all."""
    with replacing(path) as partial:
        frame.to_csv(partial, index=False, float_format="%.6g")


def read_stage_table(path: Path) -> pd.DataFrame:
    """A table an earlier stage wrote (parquet), or one line naming the stage to run."""
    if not path.is_file():
        raise UsageError(f"{path} does not exist; run the stage that writes it first")
    return pd.read_parquet(path)


def task_of(frame: pd.DataFrame) -> str:
    """The task prepare decided and stored with the table."""
    task = frame.attrs.get("task")
    if task not in TASKS:
        raise UsageError("the table has no task recorded; run stage=prepare again")
    return str(task)


def features_and_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Split a table into its feature columns and its target column."""
    if target not in frame.columns:
        raise UsageError(
            f"no target column '{shown(target)}' (columns: {listed(frame.columns)}); set "
            "data.target"
        )
    return frame.drop(columns=[target]), frame[target]


def load_preprocessor(path: str) -> Any:
    """featurize's preprocessing, fitted on the training rows; one line when it is missing."""
    if not Path(path).is_file():
        raise UsageError(f"{path} does not exist; run stage=featurize first")
    return joblib.load(path)


def check_columns(x: pd.DataFrame, where: Path, fitted: Any, whose: str, fix: str) -> None:
    """Refuse feature columns (of the table at `where`) other than those `fitted` (a model, the
    preprocessing) was fitted on, naming the difference and the `fix`."""
    trained = [str(name) for name in getattr(fitted, "feature_names_in_", x.columns)]
    if list(map(str, x.columns)) == trained:
        return
    missing = [name for name in trained if name not in set(map(str, x.columns))]
    new = [str(name) for name in x.columns if str(name) not in set(trained)]
    what = "; ".join(
        f"{label} {listed(names)}"
        for label, names in (("missing:", missing), ("not seen in training:", new))
        if names
    )
    raise UsageError(f"{where}: its columns differ from {whose} ({what or 'another order'}); {fix}")


def split(
    frame: pd.DataFrame, share: float, seed: int, labels: pd.Series | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows kept and the `share` held out (`ceil(share * rows)`): drawn as scikit-learn's
    train_test_split draws them, stratified by `labels` (classes) when each part can hold every
    class and every class has two rows or more; else at random, one row of each class kept."""
    held_out = math.ceil(share * len(frame))
    parts = min(held_out, len(frame) - held_out)
    if labels is not None and labels.value_counts().min() >= 2 and parts >= labels.nunique():
        from sklearn.model_selection import train_test_split  # its import costs a second

        kept, held = train_test_split(frame, test_size=share, random_state=seed, stratify=labels)
        return kept, held
    order = np.random.RandomState(seed).permutation(len(frame))
    if labels is not None:  # the first row drawn of each class last: kept, so training has it
        first = ~labels.iloc[order].duplicated().to_numpy()
        order = np.concatenate([order[~first], order[first]])
    return frame.iloc[order[held_out:]], frame.iloc[order[:held_out]]
