"""The schema of the template's own settings (their values are in conf/config.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .records import UsageError

T = TypeVar("T")
MODES, LEVELS = ("run", "debug"), ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


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

    def __post_init__(self) -> None:  # refused before the run's folder exists
        checks = [("mode", self.mode, MODES), ("log_level", self.log_level.upper(), LEVELS)]
        for key, value, known in checks:
            if value not in known:
                raise UsageError(f"runtime.{key} must be one of {', '.join(known)} (got {value})")


@dataclass
class Settings:
    """What the runtime reads from a composed config."""

    stage: str
    seed: int
    root: str
    experiment_name: str = "default"
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    logger: LoggerSettings = field(default_factory=LoggerSettings)

    def __post_init__(self) -> None:
        if not 0 <= self.seed < 2**32:  # numpy's generators take no other seed
            raise UsageError(f"seed must be 0 to 2**32 - 1 (got {self.seed})")
        if not self.root.strip():  # `${root}/data`: the file system's root
            raise UsageError(f"root must be a folder, `.` for the project's (got '{self.root}')")


def typed(schema: type[T], values: Any, where: str = "") -> T:
    """Check `values` against dataclass `schema` (`where`: their dotted path, for messages)."""
    values = resolved(values)  # first: its ${...} may point anywhere
    try:
        return cast(T, OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), values)))
    except OmegaConfBaseException as error:
        key = str(getattr(error, "full_key", "") or "")
        key = key if key.startswith(f"{where}.") else ".".join(filter(None, [where, key]))
        raise UsageError(f"config key '{key}': {str(error).splitlines()[0]}") from error
    except ValueError as error:  # from its __post_init__: "<key> must be ..." (UsageError too)
        raise UsageError(".".join(filter(None, [where, str(error)]))) from error


def resolved(values: Any) -> Any:
    """A config (or a section) as plain values, its ${...} resolved; a dangling one in one line."""
    if not isinstance(values, DictConfig):
        return values
    try:
        return OmegaConf.to_container(values, resolve=True)
    except OmegaConfBaseException as error:  # `~train` dropped what ${train.x} names, or a typo
        key = getattr(error, "full_key", "") or "?"
        raise UsageError(f"config key '{key}': {str(error).splitlines()[0]}") from error
