"""Scale the features (fitted on train only) and carve a validation set out of train."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from ..runtime import Metrics, Run
from ._io import read_xy, write_table


@dataclass
class FeaturizeConfig:
    """Section `featurize` of conf/config.yaml: everything this stage reads."""

    input_dir: str
    target: str
    val_size: float
    seed: int
    degree: int
    output_dir: str


def featurize(cfg: FeaturizeConfig, run: Run) -> Metrics:
    """Scale the features (fitted on train only) and carve a validation set out of train."""
    source = Path(cfg.input_dir)
    names, x_train, y_train = read_xy(source / "train.csv", cfg.target)
    _, x_test, y_test = read_xy(source / "test.csv", cfg.target)
    x_train, x_val, y_train, y_val = train_test_split(
        x_train, y_train, test_size=cfg.val_size, random_state=cfg.seed
    )
    features = make_pipeline(
        PolynomialFeatures(degree=cfg.degree, include_bias=False), StandardScaler()
    ).fit(x_train)
    columns = [name.replace(" ", "*") for name in features.get_feature_names_out(names)]
    out = Path(cfg.output_dir)
    for split, x, y in (
        ("train", x_train, y_train),
        ("val", x_val, y_val),
        ("test", x_test, y_test),
    ):
        write_table(
            out / f"{split}.csv",
            [*columns, cfg.target],
            np.column_stack([features.transform(x), y]),
        )
    run.log.info(
        "%d features for %d/%d/%d train/val/test rows -> %s",
        len(columns),
        len(x_train),
        len(x_val),
        len(x_test),
        out,
    )
    return {"features": len(columns), "train_rows": len(x_train), "val_rows": len(x_val)}
