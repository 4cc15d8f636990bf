"""Every config option composes into the typed schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from {{ cookiecutter.pkg_name }}.config import (
    Config,
    ConfigError,
    MLPConfig,
    RidgeConfig,
    to_typed,
)

CONF = Path(__file__).resolve().parents[1] / "conf"


def compose_config(*overrides: str) -> Config:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["stage=train", *overrides])
    typed = to_typed(cfg)
    assert isinstance(typed, Config)
    return typed


@pytest.mark.parametrize(("option", "schema"), [("ridge", RidgeConfig), ("mlp", MLPConfig)])
def test_each_model_option_becomes_its_typed_config(option: str, schema: type) -> None:
    cfg = compose_config(f"model={option}")
    assert isinstance(cfg.model, schema)
    assert cfg.model.name == option


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_each_experiment_composes(experiment: str) -> None:
    cfg = compose_config(f"experiment={experiment}")
    assert cfg.experiment_name == experiment


def test_debug_mode_moves_outputs_out_of_the_project() -> None:
    cfg = compose_config("debug=default")
    assert cfg.runtime.mode == "debug"
    assert cfg.logger.name == "none"
    assert not cfg.train.model_path.startswith("./")
    assert Path(cfg.runtime.runs_dir).is_absolute()


def test_outputs_sit_at_fixed_paths_in_the_project() -> None:
    cfg = compose_config()
    assert cfg.train.model_path == "./models/model.pkl"
    assert cfg.evaluate.metrics_json == "./reports/metrics.json"


def test_an_unknown_model_option_is_refused_by_name() -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["stage=train", "model.name=forest"])
    with pytest.raises(ConfigError, match=r"model\.name .forest. has no schema"):
        to_typed(cfg)


def test_a_key_added_with_plus_is_refused_by_the_schema() -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["stage=train", "+train.epoch=3"])
    with pytest.raises(ConfigError, match=r"train\.epoch"):
        to_typed(cfg)
