"""Fit the preprocessing on the training rows: impute and scale numbers, one-hot text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ..runtime import Metrics, Run, UsageError
from ._io import features_and_target, outputs, read_stage_table, write_table


@dataclass
class FeaturizeConfig:
    """Section `featurize` of conf/config.yaml: everything this stage reads."""

    input_dir: str
    target: str
    numeric_impute: str  # mean | median | most_frequent
    max_categories: int  # per text column: the most frequent values, the rest as one
    output_dir: str
    preprocessor_path: str

    def __post_init__(self) -> None:  # a value out of range: refused before any run starts
        if self.max_categories < 1:
            raise UsageError(f"max_categories must be 1 or more (got {self.max_categories})")


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


def feature_table(fitted: ColumnTransformer) -> pd.DataFrame:
    """One row per feature the model sees: its name, the column it comes from, its kind."""
    rows = []
    for kind, _, columns in fitted.transformers_:
        if kind not in ("numbers", "categories") or len(columns) == 0:
            continue  # `remainder`, or no column of this kind
        for name in fitted.named_transformers_[kind].get_feature_names_out(columns):
            # A one-hot feature is named `<column>_<value>`: its column is the longest match.
            found = [c for c in columns if name == c or name.startswith(f"{c}_")]
            rows.append({"feature": name, "column": max(found, key=len), "kind": kind})
    return pd.DataFrame(rows, columns=["feature", "column", "kind"])


def featurize(cfg: FeaturizeConfig, run: Run) -> Metrics:
    """Fit the preprocessing on the training rows: impute and scale numbers, one-hot text.

    `train` applies it in front of the model and saves both as one pipeline. The feature
    table (`features.parquet`) lists what the model sees: each feature, its column, its kind.
    """
    x, _ = features_and_target(read_stage_table(Path(cfg.input_dir) / "train.parquet"), cfg.target)
    fitted = preprocessor(cfg).fit(x)
    with run.artifact("preprocessor.joblib", kind="model") as path:
        joblib.dump(fitted, path)
    rows = feature_table(fitted)
    with outputs() as output:  # both files, or neither
        run.publish("preprocessor.joblib", output(Path(cfg.preprocessor_path)))
        write_table(output(Path(cfg.output_dir) / "features.parquet"), rows)
    shape = (len(x.columns), len(rows), len(x))
    run.log.info(
        "%d columns -> %d features, fitted on %d rows -> %s", *shape, cfg.preprocessor_path
    )
    return {"columns": len(x.columns), "features": len(rows), "rows": len(x)}
