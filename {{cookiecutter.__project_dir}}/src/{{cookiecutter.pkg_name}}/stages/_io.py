"""Small helpers the stages share: reading and writing numeric tables as CSV."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..runtime import replacing

Table = NDArray[np.float64]


def write_table(path: Path, columns: Sequence[str], rows: Table) -> None:
    """Write a 2-D float array as CSV with a header row (whole, or not at all)."""
    with replacing(path) as partial, partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows.tolist())


def read_table(path: Path) -> tuple[list[str], Table]:
    """Read a CSV written by `write_table`: the header and a 2-D float array."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; run the stage that writes it first")
    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    rows = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    return header, rows


def split_target(columns: Sequence[str], rows: Table, target: str) -> tuple[Table, Table]:
    """Split a table into features X and target y."""
    if target not in columns:
        raise KeyError(
            f"target column '{target}' is not in the table (columns: {', '.join(columns)})"
        )
    index = list(columns).index(target)
    return np.delete(rows, index, axis=1), rows[:, index]


def read_xy(path: Path, target: str) -> tuple[list[str], Table, Table]:
    """Read a table and split it: the feature names, features X and target y."""
    columns, rows = read_table(path)
    x, y = split_target(columns, rows, target)
    return [name for name in columns if name != target], x, y
