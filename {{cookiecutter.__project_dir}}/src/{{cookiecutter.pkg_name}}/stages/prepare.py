"""Load the raw table and split it into train and test sets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split

from ..runtime import Metrics, Run, UsageError
from ._io import Table, read_table, write_table


@dataclass
class PrepareConfig:
    """Section `prepare` of conf/config.yaml: everything this stage reads."""

    source: str
    source_file: str
    target: str
    limit: int | None
    test_size: float
    seed: int
    output_dir: str


def load_source(source: str, target: str) -> tuple[list[str], Table]:
    """Return the columns and rows of `sklearn:<name>` (a bundled data set) or of a CSV file."""
    if not source.startswith("sklearn:"):
        return read_table(Path(source))
    name = source.removeprefix("sklearn:")
    loader = getattr(datasets, f"load_{name}", None)
    if loader is None or name in ("files", "sample_image", "sample_images", "svmlight_file"):
        raise UsageError(
            f"data.source '{source}' is not a data set bundled with scikit-learn "
            "(e.g. sklearn:diabetes); give a CSV path instead"
        )
    bunch = loader()
    columns = [*map(str, bunch.feature_names), target]
    return columns, np.column_stack([bunch.data, bunch.target]).astype(np.float64)


def prepare(cfg: PrepareConfig, run: Run) -> Metrics:
    """Load the raw table and split it into train and test sets."""
    columns, rows = load_source(cfg.source, cfg.target)
    if cfg.limit is not None:
        rows = rows[: cfg.limit]
    train_rows, test_rows = train_test_split(rows, test_size=cfg.test_size, random_state=cfg.seed)
    out = Path(cfg.output_dir)
    write_table(out / "train.csv", columns, train_rows)
    write_table(out / "test.csv", columns, test_rows)
    run.log.info(
        "%d rows from %s: %d train, %d test -> %s",
        len(rows),
        cfg.source,
        len(train_rows),
        len(test_rows),
        out,
    )
    return {"rows": len(rows), "train_rows": len(train_rows), "test_rows": len(test_rows)}
