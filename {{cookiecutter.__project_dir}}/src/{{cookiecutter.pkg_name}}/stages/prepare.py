"""Load the raw table, keep a CSV snapshot of it, and split it into train and test sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split

from ..config import Config
from ..runtime import Metrics, Run
from ._io import Table, read_table, write_table

# Data sets that ship inside scikit-learn, so they load without network access.
BUNDLED = {"diabetes": datasets.load_diabetes}


def load_source(source: str, target: str) -> tuple[list[str], Table]:
    """Return the columns and rows of `sklearn:<name>` or of a CSV file."""
    if source.startswith("sklearn:"):
        name = source.removeprefix("sklearn:")
        if name not in BUNDLED:
            known = ", ".join(f"sklearn:{key}" for key in BUNDLED)
            raise ValueError(
                f"data.source '{source}' is not a bundled data set ({known}) or a CSV path"
            )
        bunch = BUNDLED[name]()
        columns = [*bunch.feature_names, target]
        return columns, np.column_stack([bunch.data, bunch.target]).astype(np.float64)
    return read_table(Path(source))


def prepare(cfg: Config, run: Run) -> Metrics:
    """Load the raw table, keep a CSV snapshot of it, and split it into train and test sets."""
    data = cfg.data
    columns, rows = load_source(data.source, data.target)
    if data.limit is not None:
        rows = rows[: data.limit]
    write_table(Path(data.raw_csv), columns, rows)

    train_rows, test_rows = train_test_split(rows, test_size=data.test_size, random_state=cfg.seed)
    interim = Path(data.interim_dir)
    write_table(interim / "train.csv", columns, train_rows)
    write_table(interim / "test.csv", columns, test_rows)
    run.log.info(
        "%d rows: %d train, %d test -> %s", len(rows), len(train_rows), len(test_rows), interim
    )
    return {"rows": len(rows), "train_rows": len(train_rows), "test_rows": len(test_rows)}
