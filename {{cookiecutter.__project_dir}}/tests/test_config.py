"""Every config option composes into the typed schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from {{ cookiecutter.pkg_name }}.config import Config, MLPConfig, RidgeConfig, register_configs

CONF = Path(__file__).resolve().parents[1] / "conf"


def compose_config(*overrides: str) -> Config:
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["stage=train", *overrides])
    typed = OmegaConf.to_object(cfg)
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
