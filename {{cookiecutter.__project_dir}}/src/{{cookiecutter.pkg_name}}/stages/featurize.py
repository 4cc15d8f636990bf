"""Scale the features (fitted on train only) and carve a validation set out of train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from ..config import Config
from ..runtime import Metrics, Run
from ._io import read_xy, write_table


def featurize(cfg: Config, run: Run) -> Metrics:
    """Scale the features (fitted on train only) and carve a validation set out of train."""
    interim = Path(cfg.data.interim_dir)
    names, x_train, y_train = read_xy(interim / "train.csv", cfg.data.target)
    _, x_test, y_test = read_xy(interim / "test.csv", cfg.data.target)
    x_train, x_val, y_train, y_val = train_test_split(
        x_train, y_train, test_size=cfg.data.val_size, random_state=cfg.seed
    )

    poly = PolynomialFeatures(degree=cfg.featurize.degree, include_bias=False)
    scaler = StandardScaler().fit(poly.fit_transform(x_train))
    features = [name.replace(" ", "*") for name in poly.get_feature_names_out(names)]
    out = Path(cfg.featurize.output_dir)
    for split, x, y in (
        ("train", x_train, y_train),
        ("val", x_val, y_val),
        ("test", x_test, y_test),
    ):
        scaled = scaler.transform(poly.transform(x))
        write_table(
            out / f"{split}.csv", [*features, cfg.data.target], np.column_stack([scaled, y])
        )
    run.log.info(
        "%d features for %d/%d/%d train/val/test rows -> %s",
        len(features),
        len(x_train),
        len(x_val),
        len(x_test),
        out,
    )
    return {"features": len(features), "train_rows": len(x_train), "val_rows": len(x_val)}
