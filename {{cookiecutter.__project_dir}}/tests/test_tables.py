"""The example stages on outside tables: text, empty cells, class labels, and bad files.

These test the stages the project started with (prepare, featurize, train, evaluate)
through the command line, in debug mode, on tables written here. Change them with the
stages when you make those yours; they skip once dvc.yaml no longer starts with them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from conftest import DEBUG, Main, compose, stage_names
from omegaconf import DictConfig

EXAMPLE = ("prepare", "featurize", "train", "evaluate")
if stage_names()[: len(EXAMPLE)] != list(EXAMPLE):
    pytest.skip("the example stages were replaced", allow_module_level=True)


def table(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """A table as researchers have them: numbers with gaps, a text column, text labels."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 4)), columns=["a", "b", "c", "d"])
    frame["site"] = rng.choice(["north", "south", "east"], rows)
    frame.loc[rng.choice(rows, 15), "b"] = np.nan
    frame.loc[rng.choice(rows, 10), "site"] = None
    frame["label"] = np.where(frame["a"] + frame["c"] > 0, "benign", "malignant")
    return frame


def debug_config() -> DictConfig:
    """conf/ in debug mode (its root under $TMPDIR: the test's tmp_path)."""
    return compose(DEBUG)


def records() -> dict[str, dict[str, object]]:
    """The newest run record of each stage run under the debug root."""
    found: dict[str, dict[str, object]] = {}
    for path in sorted(Path(str(debug_config().root)).glob("runs/*/run.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        found[str(record["stage"])] = record
    return found


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([1.5, 2.25, 3.0, 4.75] * 10, "regression"),
        ([0, 1, 2] * 10, "classification"),
        (["cat", "dog"] * 10, "classification"),
        ([True, False] * 10, "classification"),
        (list(range(100)), "regression"),  # whole numbers, but too many to be classes
    ],
)
def test_auto_reads_the_task_from_the_target(values: list[object], task: str) -> None:
    from {{ cookiecutter.pkg_name }}.stages.prepare import decide_task

    assert decide_task(pd.Series(values, name="y"), "auto", "t.csv") == task


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("cells.csv", lambda frame, path: frame.to_csv(path, index=False)),
        ("cells.csv", lambda frame, path: frame.to_csv(path, sep=";", decimal=",", index=False)),
        ("cells.tsv", lambda frame, path: frame.to_csv(path, sep="\t", index=False)),
        ("cells.parquet", lambda frame, path: frame.to_parquet(path, index=False)),
    ],
    ids=["csv", "csv-semicolons-decimal-commas", "tsv", "parquet"],
)
def test_prepare_reads_each_file_format_with_its_column_types(
    main: Main, tmp_path: Path, name: str, write: Callable[[pd.DataFrame, Path], None]
) -> None:
    source = tmp_path / name
    write(table(), source)
    code, _, err = main("stage=prepare", DEBUG, f"data.source={source}", "data.target=label")
    assert code == 0, err
    split = Path(str(debug_config().prepare.output_dir))
    types = pd.read_parquet(split / "train.parquet").dtypes
    assert all(pd.api.types.is_float_dtype(types[column]) for column in "abcd")
    assert not pd.api.types.is_numeric_dtype(types["site"])


def test_a_table_with_text_gaps_and_labels_runs_and_its_model_predicts_raw_rows(
    main: Main, tmp_path: Path
) -> None:
    source = tmp_path / "cells.csv"
    raw = table()
    raw.to_csv(source, index=False)
    data = [f"data.source={source}", "data.target=label", "data.task=auto"]
    for name in EXAMPLE:
        code, _, err = main(f"stage={name}", DEBUG, *data)
        assert code == 0, err
    runs = records()
    assert runs["prepare"]["notes"] == {"task": "classification"}
    counts = runs["prepare"]["metrics"]
    assert isinstance(counts, dict)
    assert all(isinstance(value, int) for value in counts.values())  # counts, not 1e+06
    assert {"accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"} <= set(
        runs["evaluate"]["metrics"]  # type: ignore[arg-type]
    )
{%- if cookiecutter.framework == "pytorch" %}
    # The saved checkpoint after the saved preprocessing: raw rows in, labels out.
    from {{ cookiecutter.pkg_name }}.stages._nets import load_model

    config = debug_config()
    preprocessor = joblib.load(str(config.featurize.preprocessor_path))
    model = load_model(Path(str(config.train.model_path)), preprocessor)
{%- else %}
    # The saved model is one scikit-learn pipeline: raw rows in, labels out.
    model = joblib.load(str(debug_config().train.model_path))
{%- endif %}
    predicted = model.predict(raw.drop(columns=["label"]).head(20))
    assert set(predicted) <= {"benign", "malignant"}


def test_a_class_too_rare_for_every_split_is_scored_without_what_it_makes_undefined(
    main: Main, tmp_path: Path
) -> None:
    source = tmp_path / "cells.csv"
    rare = table()
    rare.loc[0, "label"] = "rare"  # one row: it cannot be in the test rows as well
    rare.to_csv(source, index=False)
    for name in EXAMPLE:
        code, _, err = main(f"stage={name}", DEBUG, f"data.source={source}", "data.target=label")
        assert code == 0, err
    scores = records()["evaluate"]["metrics"]
    assert isinstance(scores, dict)
    assert "roc_auc" not in scores  # undefined without each class among the test rows
    assert {"accuracy", "balanced_accuracy", "f1_macro"} <= set(scores)


BadTable = Callable[[Path], str]  # writes a file under the folder; returns its overrides
LONG = "x" * 100_000  # a column name as long as a broken header makes it


def missing_target(folder: Path) -> str:
    table().to_csv(folder / "t.csv", index=False)
    return "data.target=nope"


def one_class(folder: Path) -> str:
    table().assign(label="benign").to_csv(folder / "t.csv", index=False)
    return "data.target=label"


def empty_column(folder: Path) -> str:
    table().assign(notes=np.nan).to_csv(folder / "t.csv", index=False)
    return "data.target=label"


def spreadsheet(folder: Path) -> str:
    (folder / "t.xlsx").write_bytes(b"PK\x03\x04 a spreadsheet")
    return "data.target=label"


def five_rows(folder: Path) -> str:
    labels = ["benign", "malignant"] * 2 + ["benign"]
    table().head(5).assign(label=labels).to_csv(folder / "t.csv", index=False)
    return "data.target=label"


def three_rows(folder: Path) -> str:
    table().head(3).drop(columns=["label"]).to_csv(folder / "t.csv", index=False)
    return "data.target=a"


def target_only(folder: Path) -> str:
    table()[["label"]].to_csv(folder / "t.csv", index=False)
    return "data.target=label"


def infinite(folder: Path) -> str:
    frame = table().drop(columns=["label"])
    frame.loc[3, "a"], frame.loc[[5, 7], "b"] = np.inf, -np.inf
    frame.to_csv(folder / "t.csv", index=False)
    return "data.target=a"


def long_name(folder: Path) -> str:
    table().assign(**{LONG: 1.0}).to_csv(folder / "t.csv", index=False)
    return "data.target=nope"


def rare_class(folder: Path) -> str:
    frame = table()
    frame.loc[:1, "label"] = "rare"
    frame.to_csv(folder / "t.csv", index=False)
    return "data.target=label data.test_size=0.9"  # a stratified split draws none to train


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (missing_target, "no column 'nope'"),
        (one_class, "has 1 class"),
        (empty_column, "column 'notes' is empty in every row"),
        (spreadsheet, "is neither CSV nor parquet"),
        (
            five_rows,
            "too few rows to split (5 with a target): training, validation and test need 2 or "
            "more each, training one of each of the 2 classes; with test_size=0.2 and "
            "val_size=0.2 that takes 8 rows or more; add rows",
        ),
        (three_rows, "too few rows to split (3 with a target)"),
        (target_only, "no feature columns, only the target 'label'"),
        (infinite, "3 row(s) hold inf or -inf in column(s) a, b;"),
        (long_name, f"no column 'nope' (columns: a, b, c, d, site, label, {LONG[:40]}...);"),
        (rare_class, "the training rows (9 of 120) hold no row of class(es) rare;"),
    ],
)
def test_a_table_that_cannot_be_learned_from_is_refused_in_one_line(
    main: Main, tmp_path: Path, write: BadTable, message: str
) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    overrides = write(folder).split()
    (source,) = folder.iterdir()
    code, _, err = main("stage=prepare", DEBUG, f"data.source={source}", *overrides)
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert code == 2, err
    assert len(errors) == 1, err
    assert message in errors[0]
    assert len(errors[0]) < 1000  # short, whatever the table holds
    assert source.name in errors[0]
    written = Path(str(debug_config().prepare.output_dir))
    assert not written.exists() or not any(written.iterdir())  # nothing half-written


def test_train_and_evaluate_refuse_rows_whose_columns_differ_from_what_was_fitted(
    main: Main, tmp_path: Path
) -> None:
    source = tmp_path / "cells.csv"
    table().to_csv(source, index=False)
    data = [f"data.source={source}", "data.target=label"]
    for name in EXAMPLE[:-1]:
        code, _, err = main(f"stage={name}", DEBUG, *data)
        assert code == 0, err
    table().drop(columns=["d"]).to_csv(source, index=False)
    assert main("stage=prepare", DEBUG, *data)[0] == 0
    code, _, err = main("stage=train", DEBUG, *data)  # featurize not run again
    assert code == 2, err
    assert "(missing: d); run stage=featurize" in err
    code, _, err = main("stage=evaluate", DEBUG, *data)
    assert code == 2, err
    assert "columns differ from the model's (missing: d)" in err
