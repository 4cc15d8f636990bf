"""Fit the preprocessing on train (impute, scale, one-hot), carve out a validation set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ..runtime import Metrics, Run
from ._io import features_and_target, read_stage_table, task_of, write_table


@dataclass
class FeaturizeConfig:
    """Section `featurize` of conf/config.yaml: everything this stage reads."""

    input_dir: str
    target: str
    val_size: float
    seed: int
    numeric_impute: str  # mean | median | most_frequent
    max_categories: int  # per text column: the most frequent values, the rest as one
    output_dir: str
    preprocessor_path: str


def preprocessor(cfg: FeaturizeConfig) -> ColumnTransformer:
    """Numbers: missing values imputed, then scaled; text and booleans: imputed, one-hot."""
    numbers = make_pipeline(SimpleImputer(strategy=cfg.numeric_impute), StandardScaler())
    categories = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="(missing)"),
        OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=cfg.max_categories,
            sparse_output=False,
            dtype=np.float32,
        ),
    )
    return ColumnTransformer(
        [
            ("numbers", numbers, make_column_selector(dtype_include="number")),
            ("categories", categories, make_column_selector(dtype_exclude="number")),
        ],
        verbose_feature_names_out=False,
    )


def featurize(cfg: FeaturizeConfig, run: Run) -> Metrics:
    """Fit the preprocessing on train (impute, scale, one-hot), carve out a validation set."""
    train = read_stage_table(Path(cfg.input_dir) / "train.parquet")
    task = task_of(train)
    x, y = features_and_target(train, cfg.target)
    classes = y.value_counts() if task == "classification" else None
    stratify = y if classes is not None and classes.min() >= 2 else None
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=cfg.val_size, random_state=cfg.seed, stratify=stratify
    )
    fitted = preprocessor(cfg).fit(x_train)
    names = [str(name) for name in fitted.get_feature_names_out()]
    out = Path(cfg.output_dir)
    for split, features, target in (("train", x_train, y_train), ("val", x_val, y_val)):
        table = pd.DataFrame(fitted.transform(features).astype(np.float32), columns=names)
        table[cfg.target] = target.to_numpy()
        table.attrs["task"] = task
        write_table(out / f"{split}.parquet", table)
    with run.artifact("preprocessor.joblib", kind="model") as path:
        joblib.dump(fitted, path)
    run.publish("preprocessor.joblib", Path(cfg.preprocessor_path))
    run.log.info(
        "%d columns -> %d features; %d train, %d validation rows -> %s",
        len(x.columns),
        len(names),
        len(x_train),
        len(x_val),
        out,
    )
    return {"features": len(names), "train_rows": len(x_train), "val_rows": len(x_val)}
