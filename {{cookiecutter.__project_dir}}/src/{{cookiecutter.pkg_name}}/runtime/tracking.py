"""The experiment tracker: W&B (offline unless asked to go online) in a helper process, or none."""

import contextlib
import json
import logging
import os
import select
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from subprocess import DEVNULL, PIPE, Popen
from typing import Any

from .pipeline import LoggerSettings
from .provenance import redact
from .records import UsageError

log = logging.getLogger(__name__)
MODES = {m: m for m in ("online", "offline", "disabled")} | {"run": "online", "dryrun": "offline"}
HELPER = [sys.executable, "-c", f"from {__name__} import serve; serve()"]
_helper: list[Popen[str]] = []  # started by prestart(), taken by open_tracker()


class Tracker:
    """A W&B run (online or offline) kept by the helper, or none: the run folder has it all."""

    def __init__(self, helper: Popen[str] | None = None, timeout: float = 0, **init: Any) -> None:
        self.helper, self.info, self.timeout = helper, {"tracker": "none"}, timeout
        self.patience = timeout  # -1: stuck
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.send(init=init)  # the helper's W&B run (none without a helper)

    def _read(self) -> None:  # log the helper's notes; keep its last line, where the run went
        for line in self.helper.stdout if self.helper and self.helper.stdout else ():
            if "note" not in (message := json.loads(line)):
                self.info = message
                return  # W&B's service may hold the pipe open: not read to its end
            log.warning("W&B: %s", message["note"])

    def send(self, **message: Any) -> None:
        """Pass a call to the helper: config=, log= and step=, artifact= and type= (or none); a
        helper that takes nothing for `timeout` seconds is stuck and gets nothing more."""
        with contextlib.suppress(OSError, ValueError, AttributeError):  # its pipe is gone, or none
            data = (json.dumps(message, default=str) + "\n").encode()
            pipe = self.helper.stdin.fileno()  # type: ignore[union-attr]
            while data and self.patience >= 0 and select.select([], [pipe], [], self.patience)[1]:
                data = data[os.write(pipe, data[:4096]) :]  # room for 4 KB at least: no wait
            self.patience = -1 if data else self.patience

    def finish(self, summary: Mapping[str, Any], exit_code: int) -> dict[str, str]:
        """Store the final metrics, close the run with the stage's exit code, say where it went."""
        self.send(finish=dict(summary), exit_code=exit_code)
        self.reader.join(self.timeout)  # W&B has written the run's last records, or is stuck
        if self.reader.is_alive() and self.helper:  # it goes on alone, in its own session
            return {"tracker": "wandb", "finish": f"not done in {self.timeout:g} s: goes on alone"}
        if self.helper is not None and self.info == {"tracker": "none"}:
            log.warning("W&B: its helper ended without a run (exit status %s)", self.helper.poll())
        return self.info


def prestart() -> None:
    """Start the helper: W&B's start-up (about 2 s) runs while the command composes its config."""
    if not _helper and os.environ.get("WANDB_MODE") != "disabled":
        _helper.append(_start())


def _start() -> Popen[str]:  # in its own session: Ctrl-C reaches the stage alone
    return Popen(HELPER, stdin=PIPE, stdout=PIPE, stderr=DEVNULL, text=True, start_new_session=True)


def resolve_mode(config: LoggerSettings, debug: bool) -> str:
    """The W&B mode: disabled in debug, else logger.mode, else (auto) WANDB_MODE, else offline."""
    where = "logger.mode" if config.mode != "auto" else "WANDB_MODE"
    mode = config.mode if config.mode != "auto" else os.environ.get("WANDB_MODE") or "offline"
    if mode not in MODES:
        raise UsageError(f"{where} '{mode}' is not one of auto, {', '.join(MODES)}")
    return MODES["disabled" if debug else mode]


def open_tracker(logger: LoggerSettings, run_dir: Path, debug: bool, **run: Any) -> Tracker:
    """Start the tracker (`run`: wandb.init's name, group, job_type, config, id and resume)."""
    helper = _helper.pop() if _helper else None
    if logger.name not in ("wandb", "none"):
        raise UsageError(f"logger.name '{logger.name}' is not a tracker; use 'wandb' or 'none'")
    if logger.name == "none" or (mode := resolve_mode(logger, debug)) == "disabled":
        if helper is not None and helper.stdin is not None:
            helper.stdin.close()  # unused: it ends once its import is done
        return Tracker()
    timeout = float(os.environ.get("WANDB_INIT_TIMEOUT") or 30)  # online; then offline
    options = {**run, "project": logger.project, "entity": logger.entity, "mode": mode}
    options.update(dir=str(run_dir), tags=[run.get("job_type"), *map(redact, logger.tags)])
    options["settings"] = {"silent": True, "console": "off", "init_timeout": timeout}
    return Tracker(helper or _start(), logger.finish_timeout, **options)


def serve() -> None:
    """The helper: import wandb, then carry out the stage's calls, one JSON object a line."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the stage ends the run, as failed if need be
    os.environ["WANDB_MODE"] = "offline"  # W&B's start-up asks no server: init names the mode
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
                run = _init(wandb, message["init"])
            elif run is not None and "config" in message:
                run.config.update(message["config"], allow_val_change=True)
            elif run is not None and "log" in message:
                run.log(message["log"], step=message["step"])
            elif run is not None and "artifact" in message:
                path = Path(message["artifact"])
                run.log_artifact(str(path), name=f"{run.name}-{path.stem}", type=message["type"])
        except Exception as error:  # W&B's trouble never stops the stage: told, then on
            _say(note=f"{type(error).__name__}: {error}")
    if run is not None:  # run.dir is files/: wandb_dir, its parent, is what `wandb sync` takes
        run.summary.update(ending["finish"])
        info = {"tracker": "wandb", "wandb_id": run.id, "wandb_dir": str(Path(run.dir).parent)}
        info |= {} if run.offline else {"wandb_url": str(run.url)}
        run.finish(exit_code=ending["exit_code"])
        _say(**info)


def _init(wandb: Any, options: dict[str, Any]) -> Any:
    try:  # an online run that cannot start (no login, no answer, a bad key) logs offline
        return wandb.init(**options)
    except Exception as error:
        wandb.teardown(exit_code=1)
        if options["mode"] != "online":
            raise
        why = str(error).partition("\n")[0]  # W&B's first line; its advice follows
        _say(note=f"no online run ({why}); logging offline (upload later: make wandb-sync)")
        return wandb.init(**{**options, "mode": "offline"})


def _say(**message: str) -> None:  # to the stage: a note it logs, or (last) where the run went
    with contextlib.suppress(OSError):  # the stage may be gone (killed): nobody to tell
        print(json.dumps(message), flush=True)
