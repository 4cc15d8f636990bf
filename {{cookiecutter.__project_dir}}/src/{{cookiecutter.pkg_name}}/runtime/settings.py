"""The schema of the template's own settings (their values are in conf/config.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .records import UsageError

T = TypeVar("T")


@dataclass
class LoggerSettings:
    """Experiment tracker: `wandb` or `none` (conf/logger/)."""

    name: str = "none"
    project: str = "project"
    entity: str | None = None
    mode: str = "auto"
    tags: list[str] = field(default_factory=list)


@dataclass
class RuntimeSettings:
    """How runs are recorded: `run` records everything, `debug` (conf/debug/) keeps nothing."""

    mode: str = "run"
    log_level: str = "INFO"


@dataclass
class Settings:
    """What the runtime reads from a composed config."""

    stage: str
    seed: int
    root: str
    experiment_name: str = "default"
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    logger: LoggerSettings = field(default_factory=LoggerSettings)

    def __post_init__(self) -> None:  # numpy's generators take no other seed
        if not 0 <= self.seed < 2**32:
            raise UsageError(f"seed must be 0 to 2**32 - 1 (got {self.seed})")


def typed(schema: type[T], values: Any, where: str = "") -> T:
    """Check `values` against dataclass `schema` (`where`: their dotted path, for messages)."""
    try:
        if isinstance(values, DictConfig):  # resolved first: its ${...} may point anywhere
            values = OmegaConf.to_container(values, resolve=True)
        return cast(T, OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), values)))
    except OmegaConfBaseException as error:
        key = ".".join(filter(None, [where, str(getattr(error, "full_key", "") or "")]))
        raise UsageError(f"config key '{key}': {str(error).splitlines()[0]}") from error
    except ValueError as error:  # from its __post_init__: "<key> must be ..." (UsageError too)
        raise UsageError(".".join(filter(None, [where, str(error)]))) from error
