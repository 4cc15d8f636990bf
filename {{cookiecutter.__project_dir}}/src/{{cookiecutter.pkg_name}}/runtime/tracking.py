"""The experiment tracker: a W&B run that never prompts (offline without credentials), or none."""

from __future__ import annotations

import logging
import netrc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .records import UsageError

if TYPE_CHECKING:
    from .settings import LoggerSettings

log = logging.getLogger(__name__)
MODES = {"online": "online", "offline": "offline", "disabled": "disabled"}  # value: W&B mode
MODES |= {"run": "online", "dryrun": "offline"}  # older names that WANDB_MODE may still hold


class Tracker:
    """A W&B run (online or offline), or none: metrics and files stay in the run folder anyway."""

    def __init__(self, run: Any = None) -> None:
        self.run = run

    def log(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record metrics, optionally at a step (an epoch)."""
        if self.run is not None:
            self.run.log(dict(metrics), step=step)

    def log_artifact(self, path: Path, name: str, kind: str) -> None:
        """Keep a file the run produced (a model, a plot) as an artifact named after both."""
        if self.run is not None:
            self.run.log_artifact(str(path), name=f"{self.run.name}-{path.stem}", type=kind)

    def finish(self, summary: Mapping[str, Any], exit_code: int) -> dict[str, str]:
        """Store the final metrics, close the run with the stage's exit code, say where it went."""
        if self.run is None:
            return {"tracker": "none"}
        self.run.summary.update(dict(summary))
        folder = str(Path(self.run.dir).parent)  # run.dir is files/; `wandb sync` takes its parent
        info = {"tracker": "wandb", "wandb_id": self.run.id, "wandb_dir": folder}
        info |= {} if self.run.offline else {"wandb_url": str(self.run.url)}
        self.run.finish(exit_code=exit_code)
        return info


def has_wandb_credentials() -> bool:
    """Tell whether W&B can log in without asking: WANDB_API_KEY or a netrc entry."""
    try:
        found = netrc.netrc(os.environ.get("NETRC")).authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        found = False
    return found or bool(os.environ.get("WANDB_API_KEY"))


def resolve_mode(config: LoggerSettings, debug: bool) -> str:
    """The W&B mode: disabled in debug, else logger.mode, else WANDB_MODE, else by credentials."""
    where = "logger.mode" if config.mode != "auto" else "WANDB_MODE"
    mode = config.mode if config.mode != "auto" else os.environ.get("WANDB_MODE") or "auto"
    if mode != "auto" and mode not in MODES:
        raise UsageError(f"{where} '{mode}' is not one of auto, {', '.join(MODES)}")
    if debug or mode != "auto" or has_wandb_credentials():
        return MODES["disabled" if debug else "online" if mode == "auto" else mode]
    log.info("W&B: no credentials found, logging offline (upload later with `wandb sync`)")
    return "offline"


def open_tracker(logger: LoggerSettings, run_dir: Path, debug: bool, **run: Any) -> Tracker:
    """Start the configured tracker; never prompt, wait for a server WANDB_INIT_TIMEOUT (30) s.

    `run` names the run for wandb.init: name, group, job_type, config.
    """
    if logger.name not in ("wandb", "none"):
        raise UsageError(f"logger.name '{logger.name}' is not a tracker; use 'wandb' or 'none'")
    if logger.name == "none" or (mode := resolve_mode(logger, debug)) == "disabled":
        return Tracker()
    options = {**run, "project": logger.project, "entity": logger.entity, "mode": mode}
    options.update(dir=str(run_dir), tags=[run.get("job_type"), *logger.tags])
    options["settings"] = {"silent": True, "console": "off"}
    options["settings"]["init_timeout"] = float(os.environ.get("WANDB_INIT_TIMEOUT") or 30)
    import wandb  # only here: importing wandb takes about a second

    try:
        return Tracker(wandb.init(**options))
    except BaseException as error:  # unreachable server (several kinds), or cut short (SIGTERM)
        wandb.teardown(exit_code=1)  # a W&B run it began ends as failed, as the run does
        if mode != "online" or not isinstance(error, Exception):
            raise
        log.warning("W&B: cannot reach the server (%s); logging offline instead", error)
        return Tracker(wandb.init(**{**options, "mode": "offline"}))
