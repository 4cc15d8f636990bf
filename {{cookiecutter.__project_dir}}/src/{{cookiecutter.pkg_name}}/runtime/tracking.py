"""Experiment trackers behind one small interface: W&B, or nothing.

wandb is imported only when the wandb logger is active, and it never prompts:
without credentials it runs offline, and `wandb sync` uploads the run later.
"""

from __future__ import annotations

import logging
import netrc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from .settings import LoggerSettings as LoggerConfig

log = logging.getLogger(__name__)
WANDB_HOST = "api.wandb.ai"
MODES = ("auto", "online", "offline", "disabled")
# How long an online start may wait for the server before the run goes offline
# (W&B's own variable WANDB_INIT_TIMEOUT changes it).
INIT_TIMEOUT_S = 30.0
WandbMode = Literal["online", "offline", "disabled"]
# WANDB_MODE values W&B accepts, and what they mean here.
ENV_MODES: dict[str, WandbMode] = {
    "online": "online",
    "run": "online",
    "offline": "offline",
    "dryrun": "offline",
    "disabled": "disabled",
}


class Tracker(Protocol):
    """What the runtime needs from an experiment tracker."""

    def log(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record metrics, optionally at a step (an epoch)."""

    def log_artifact(self, path: Path, name: str, kind: str) -> None:
        """Keep a file the run produced (a model, a plot) with the run."""

    def finish(self, summary: Mapping[str, float], exit_code: int) -> dict[str, str]:
        """Store final metrics, close the run, and describe where it went."""


class NullTracker:
    """A tracker that keeps nothing: metrics stay in the run folder."""

    def log(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Ignore the metrics."""

    def log_artifact(self, path: Path, name: str, kind: str) -> None:
        """Ignore the file: it stays in the run folder."""

    def finish(self, summary: Mapping[str, float], exit_code: int) -> dict[str, str]:
        """Nothing to close."""
        return {"tracker": "none"}


class WandbTracker:
    """A Weights & Biases run, online or offline."""

    def __init__(self, run: Any) -> None:
        self._run = run

    def log(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log metrics to the W&B run."""
        self._run.log(dict(metrics), step=step)

    def log_artifact(self, path: Path, name: str, kind: str) -> None:
        """Log a file as a W&B artifact named after the run and the file."""
        import wandb

        artifact = wandb.Artifact(name=f"{self._run.name}-{path.stem}", type=kind)
        artifact.add_file(str(path), name=name)
        self._run.log_artifact(artifact)

    def finish(self, summary: Mapping[str, float], exit_code: int) -> dict[str, str]:
        """Write the summary and finish the W&B run with the stage's exit code."""
        self._run.summary.update(dict(summary))
        # run.dir is the run's files/ folder; `wandb sync` takes the folder above it.
        folder = Path(self._run.dir).parent
        info = {"tracker": "wandb", "wandb_id": self._run.id, "wandb_dir": str(folder)}
        if not self._run.offline:
            info["wandb_url"] = str(self._run.url)
        self._run.finish(exit_code=exit_code)
        return info


def has_wandb_credentials() -> bool:
    """Tell whether W&B can log in without asking: an API key or a netrc entry."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc_path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return netrc.netrc(netrc_path).authenticators(WANDB_HOST) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def resolve_mode(config: LoggerConfig, debug: bool) -> WandbMode:
    """Pick the W&B mode: disabled in debug, else the configured one, else by credentials."""
    if config.mode not in MODES:
        raise ValueError(f"logger.mode '{config.mode}' is not one of {', '.join(MODES)}")
    if debug:
        return "disabled"
    if config.mode != "auto":
        return ENV_MODES[config.mode]
    from_env = os.environ.get("WANDB_MODE")
    if from_env:
        if from_env not in ENV_MODES:
            raise ValueError(f"WANDB_MODE '{from_env}' is not one of {', '.join(ENV_MODES)}")
        return ENV_MODES[from_env]
    if has_wandb_credentials():
        return "online"
    log.info("W&B: no credentials found, logging offline (upload later with `wandb sync`)")
    return "offline"


def init_timeout() -> float:
    """Seconds an online W&B start may wait: WANDB_INIT_TIMEOUT, else 30."""
    try:
        return float(os.environ.get("WANDB_INIT_TIMEOUT", INIT_TIMEOUT_S))
    except ValueError:
        return INIT_TIMEOUT_S


def open_tracker(
    config: LoggerConfig,
    *,
    debug: bool,
    run_id: str,
    run_dir: Path,
    group: str,
    job_type: str,
    run_config: dict[str, Any],
) -> Tracker:
    """Start the tracker the config asks for; never prompt, never wait long for a network."""
    if config.name == "none":
        return NullTracker()
    if config.name != "wandb":
        raise ValueError(f"logger.name '{config.name}' is not a tracker; use 'wandb' or 'none'")
    mode = resolve_mode(config, debug)
    if mode == "disabled":
        return NullTracker()
    import wandb  # deferred: importing wandb costs about a second

    def start(mode: WandbMode) -> Any:
        return wandb.init(
            project=config.project,
            entity=config.entity,
            name=run_id,
            group=group,
            job_type=job_type,
            tags=[job_type, *config.tags],
            config=run_config,
            dir=str(run_dir),
            mode=mode,
            settings=wandb.Settings(silent=True, console="off", init_timeout=init_timeout()),
        )

    try:
        return WandbTracker(start(mode))
    except Exception as error:  # wandb raises several kinds when the server is unreachable
        if mode != "online":
            raise
        log.warning("W&B: cannot reach the server (%s); logging offline instead", error)
        return WandbTracker(start("offline"))
