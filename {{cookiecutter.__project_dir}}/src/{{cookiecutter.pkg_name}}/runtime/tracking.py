"""The experiment tracker: a W&B run that never prompts (offline without credentials), or none.
W&B's start-up (about 2 s) runs in a helper process beside the stage: `prestart` begins it as the
command starts, the stage's calls reach it as JSON lines, `finish` waits for it to end the run."""

from __future__ import annotations

import contextlib
import json
import logging
import netrc
import os
import signal
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .records import UsageError

if TYPE_CHECKING:
    from .pipeline import LoggerSettings

log = logging.getLogger(__name__)
MODES = {"online": "online", "offline": "offline", "disabled": "disabled"}  # value: W&B mode
MODES |= {"run": "online", "dryrun": "offline"}  # older names that WANDB_MODE may still hold
HELPER = [sys.executable, "-c", f"from {__name__} import serve; serve()"]
REACH_S = 2.5  # seconds the W&B server has to answer before a run logs offline
_helper: list[subprocess.Popen[str]] = []  # started by prestart(), taken by open_tracker()


class Tracker:
    """A W&B run (online or offline) kept by the helper, or none: the run folder has it all."""

    def __init__(self, helper: subprocess.Popen[str] | None = None) -> None:
        self.helper, self.info = helper, {"tracker": "none"}
        self.reader = threading.Thread(target=self._read, daemon=True)
        if helper is not None:
            self.reader.start()

    def _read(self) -> None:
        """Log the helper's notes; keep its last line, where the run went (W&B's service may
        hold the pipe open after the run: not read to its end)."""
        for line in self.helper.stdout if self.helper and self.helper.stdout else ():
            if "note" not in (message := json.loads(line)):
                self.info = message
                return
            log.warning("W&B: %s", message["note"])

    def send(self, **message: Any) -> None:
        """Pass one call to the helper (a helper that died is told of in `finish`)."""
        with contextlib.suppress(OSError, ValueError, AttributeError):  # its pipe is gone, or none
            self.helper.stdin.write(json.dumps(message, default=str) + "\n")  # type: ignore[union-attr]
            self.helper.stdin.flush()  # type: ignore[union-attr]

    def log(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record metrics, optionally at a step (an epoch)."""
        self.send(log=dict(metrics), step=step)

    def log_artifact(self, path: Path, name: str, kind: str) -> None:
        """Keep a file the run produced (a model, a plot) as an artifact named after both."""
        self.send(artifact=str(path), type=kind)

    def finish(self, summary: Mapping[str, Any], exit_code: int) -> dict[str, str]:
        """Store the final metrics, close the run with the stage's exit code, say where it went."""
        if self.helper is None:
            return self.info
        self.send(finish=dict(summary), exit_code=exit_code)
        self.reader.join()  # W&B has written the run's last records
        if self.info == {"tracker": "none"}:
            log.warning("W&B: its helper ended without a run (exit status %s)", self.helper.poll())
        return self.info


def prestart() -> None:
    """Start the helper's import of wandb now, while the command composes its config."""
{%- if cookiecutter.framework == "pytorch" %}
    from .resume import follower

    if follower():  # DDP's other processes: no tracker of their own
        return
{%- endif %}
    if not _helper and os.environ.get("WANDB_MODE") != "disabled":
        _helper.append(_start())


def _start() -> subprocess.Popen[str]:  # in its own session: Ctrl-C reaches the stage alone
    pipe, quiet = subprocess.PIPE, subprocess.DEVNULL
    return subprocess.Popen(
        HELPER, stdin=pipe, stdout=pipe, stderr=quiet, text=True, start_new_session=True
    )


def has_wandb_credentials() -> bool:
    """Tell whether W&B can log in without asking: WANDB_API_KEY or a netrc entry."""
    with contextlib.suppress(OSError, netrc.NetrcParseError):
        if netrc.netrc(os.environ.get("NETRC")).authenticators("api.wandb.ai") is not None:
            return True
    return bool(os.environ.get("WANDB_API_KEY"))


def resolve_mode(config: LoggerSettings, debug: bool) -> str:
    """The W&B mode: disabled in debug, else logger.mode, else WANDB_MODE, else by credentials."""
    where = "logger.mode" if config.mode != "auto" else "WANDB_MODE"
    mode = config.mode if config.mode != "auto" else os.environ.get("WANDB_MODE") or "auto"
    if mode != "auto" and mode not in MODES:
        raise UsageError(f"{where} '{mode}' is not one of auto, {', '.join(MODES)}")
    if debug or mode != "auto" or has_wandb_credentials():
        return MODES["disabled" if debug else "online" if mode == "auto" else mode]
    log.info("W&B: no credentials found, logging offline (upload later: `make wandb-sync`)")
    return "offline"


def open_tracker(logger: LoggerSettings, run_dir: Path, debug: bool, **run: Any) -> Tracker:
    """Start the configured tracker (`run`: wandb.init's name, group, job_type, config); never
    prompt, wait for a server WANDB_INIT_TIMEOUT (30) s."""
    helper = _helper.pop() if _helper else None
    if logger.name not in ("wandb", "none"):
        raise UsageError(f"logger.name '{logger.name}' is not a tracker; use 'wandb' or 'none'")
    if logger.name == "none" or (mode := resolve_mode(logger, debug)) == "disabled":
        if helper is not None and helper.stdin is not None:
            helper.stdin.close()  # unused: it ends once its import is done
        return Tracker()
    timeout = float(os.environ.get("WANDB_INIT_TIMEOUT") or 30)
    options = {**run, "project": logger.project, "entity": logger.entity, "mode": mode}
    options.update(dir=str(run_dir), tags=[run.get("job_type"), *logger.tags])
    options["settings"] = {"silent": True, "console": "off", "init_timeout": timeout}
    tracker = Tracker(helper or _start())
    tracker.send(init=options)
    return tracker


def unreachable() -> str | None:
    """Why the W&B server gives no answer within REACH_S s (through *_proxy), or None."""
    try:
        urllib.request.urlopen(_url(), timeout=REACH_S).close()
    except urllib.error.HTTPError:  # an error status is an answer
        pass
    except (OSError, ValueError) as error:  # refused, timed out, no such host, a malformed URL
        reason = getattr(error, "reason", error)
        if not isinstance(reason, ssl.SSLError):  # TLS trouble is an answer too
            return str(reason) or type(reason).__name__
    return None


def serve() -> None:
    """The helper: import wandb, then carry out the stage's calls, one JSON object a line."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the stage ends the run, as failed if need be
    check = None
    if has_wandb_credentials() and os.environ.get("WANDB_MODE") not in ("offline", "disabled"):
        # Whether the server answers, asked at once, beside the import (a thread: it waits).
        check = ThreadPoolExecutor(1).submit(unreachable)
    import wandb  # the import alone takes about a second

    wandb.setup()  # and W&B's service process: both before the stage's call comes
    run: Any = None
    ending = {"finish": {}, "exit_code": 1}  # a stage gone without a word: its run failed
    for line in sys.stdin:
        if "finish" in (message := json.loads(line)):
            ending = message
            break
        try:
            if "init" in message:
                run = _init(wandb, message["init"], check)
            elif run is not None and "config" in message:
                run.config.update(message["config"], allow_val_change=True)
            elif run is not None and "log" in message:
                run.log(message["log"], step=message["step"])
            elif run is not None and "artifact" in message:
                path = Path(message["artifact"])
                run.log_artifact(str(path), name=f"{run.name}-{path.stem}", type=message["type"])
        except Exception as error:  # W&B's trouble never stops the stage: told, then on
            _note(f"{type(error).__name__}: {error}")
    if run is None:
        return
    run.summary.update(ending["finish"])
    info = {"tracker": "wandb", "wandb_id": run.id, "wandb_dir": str(Path(run.dir).parent)}
    info |= {} if run.offline else {"wandb_url": str(run.url)}  # run.dir is files/: sync its parent
    run.finish(exit_code=ending["exit_code"])
    _note(info)


def _init(wandb: Any, options: dict[str, Any], check: Future[str | None] | None) -> Any:
    """wandb.init, offline instead when the server is out of reach."""
    if options["mode"] == "online" and (why := check.result() if check else unreachable()):
        options["mode"] = "offline"
        _note(f"cannot reach {_url()} ({why}); logging offline (upload later: make wandb-sync)")
    try:
        return wandb.init(**options)
    except Exception as error:  # an answer, but no run: a bad key, a server error
        wandb.teardown(exit_code=1)
        if options["mode"] != "online":
            raise
        _note(f"no online run ({error}); logging offline instead")
        return wandb.init(**{**options, "mode": "offline"})


def _url() -> str:  # the W&B server this machine logs to
    return os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai"


def _note(message: str | dict[str, str]) -> None:
    """Tell the stage: a note it logs, or (a mapping) where the run went."""
    line = json.dumps(message if isinstance(message, dict) else {"note": message})
    with contextlib.suppress(OSError):  # the stage may be gone (killed): nobody to tell
        print(line, flush=True)
