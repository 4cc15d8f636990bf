"""Typed schema of the configuration in conf/.

Every composed config is checked against these dataclasses before a stage
starts, so a wrong type (`train.epochs=many`) or an unknown key
(`+train.epoch=3`) fails with a message that names the key. The values live in
the YAML files under conf/, which stay plain YAML so that DVC can compose them
too (`dvc exp run -S ...`); the defaults here only document the shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


@dataclass
class PathsConfig:
    """Where the pipeline's outputs live."""

    root: str = "."


@dataclass
class DataConfig:
    """Which table to load and how to split it."""

    source: str = MISSING
    target: str = "target"
    raw_csv: str = MISSING
    interim_dir: str = MISSING
    test_size: float = 0.2
    val_size: float = 0.2
    limit: int | None = None


@dataclass
class FeaturizeConfig:
    """How raw columns become model inputs."""

    degree: int = 1
    output_dir: str = MISSING


@dataclass
class ModelConfig:
    """Fields every model option has; each option adds its own."""

    name: str = MISSING


@dataclass
class RidgeConfig(ModelConfig):
    """Linear model with an L2 penalty, fitted by SGD."""

    alpha: float = 1e-3
    learning_rate: float = 0.01


@dataclass
class MLPConfig(ModelConfig):
    """Multi-layer perceptron fitted by Adam."""

    hidden_sizes: list[int] = field(default_factory=lambda: [64, 32])
    alpha: float = 1e-4
    learning_rate: float = 3e-3


@dataclass
class TrainConfig:
    """Training loop settings and where the model goes."""

    epochs: int = 30
    batch_size: int = 32
    model_path: str = MISSING
    curve_csv: str = MISSING
    load_from: str | None = None


@dataclass
class EvaluateConfig:
    """Where the evaluation results go."""

    metrics_json: str = MISSING
    predictions_csv: str = MISSING
    figure_png: str = MISSING


@dataclass
class LoggerConfig:
    """Experiment tracker settings."""

    name: str = "none"
    project: str = MISSING
    entity: str | None = None
    mode: str = "auto"
    tags: list[str] = field(default_factory=list)


@dataclass
class RuntimeConfig:
    """How the runtime records and logs a run."""

    mode: str = "run"
    runs_dir: str = "runs"
    log_level: str = "INFO"


@dataclass
class Config:
    """The whole configuration a stage receives."""

    stage: str = MISSING
    seed: int = 42
    experiment_name: str = "default"
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    featurize: FeaturizeConfig = field(default_factory=FeaturizeConfig)
    model: ModelConfig = MISSING
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


# The schema of each option of the `model` group, by its `name`.
MODEL_SCHEMAS: dict[str, type[ModelConfig]] = {"ridge": RidgeConfig, "mlp": MLPConfig}


class ConfigError(ValueError):
    """A composed config that does not fit the schema."""


def to_typed(cfg: DictConfig | dict[str, Any]) -> Config:
    """Check a composed config against the schema and return it as dataclasses."""
    raw = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
    name = OmegaConf.select(raw, "model.name", default=None)
    if name not in MODEL_SCHEMAS:
        known = ", ".join(MODEL_SCHEMAS)
        raise ConfigError(
            f"model.name '{name}' has no schema (known: {known}); add it to MODEL_SCHEMAS"
        )
    try:
        schema = OmegaConf.structured(Config(model=MODEL_SCHEMAS[name]()))
        return cast(Config, OmegaConf.to_object(OmegaConf.merge(schema, raw)))
    except OmegaConfBaseException as error:
        reason = str(error).splitlines()[0]
        key = getattr(error, "full_key", None)
        raise ConfigError(f"config key '{key}': {reason}" if key else reason) from error
