"""`python -m <package> stage=NAME [overrides]` (`--help`: Hydra's), and the commands `stages`,
`params`, `check`, `runs`, run in the project root (paths in conf/ mean the same from
any folder, as for DVC). The top of the runtime: nothing imports it."""

import contextlib
import ctypes
import os
import re
import signal
import sys
from pathlib import Path

from omegaconf import DictConfig

from . import pipeline
from .provenance import redact
from .records import UsageError, write_text
from .run import execute, exit_status
from .tracking import prestart

PACKAGE = __name__.split(".")[0]
LAUNCHER = f"{PACKAGE.upper()}_LAUNCHER"  # the pid of the process that launched a sweep's jobs
PARENT = os.getppid()  # at import: a worker's launcher, while it lives


def use_sources_of(root: Path) -> None:
    """Re-run with the project's own sources (`dvc exp run --queue` runs in a copy of it)."""
    wanted, imported = root / "src", Path(__file__).resolve().parents[2]
    if (wanted / PACKAGE).is_dir() and wanted.resolve() != imported:
        path = os.pathsep.join(filter(None, [str(wanted), os.environ.get("PYTHONPATH")]))
        argv = [sys.executable, "-m", PACKAGE, *sys.argv[1:]]
        os.execve(sys.executable, argv, {**os.environ, "PYTHONPATH": path})


def stop_with(launcher: int) -> None:
    """A worker of a launcher (a sweep, DVC) ends when it dies (Linux: by SIGTERM, interrupted)."""
    if launcher != os.getpid() and os.getppid() != PARENT:
        os._exit(128 + signal.SIGTERM)
    if os.getppid() == launcher != os.getpid() and sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def stage_under_dvc(root: Path, args: list[str]) -> int:
    """Run a stage for DVC: its config is params.yaml, exactly as DVC tracked it."""
    if len(args) != 1 or not args[0].startswith("stage="):
        raise UsageError(f"under DVC a stage's command is exactly `python -m {PACKAGE} stage=NAME`")
    stage = args[0].removeprefix("stage=")
    stop_with(os.getppid())  # DVC, or the shell that ran its command
    (params, text), experiment = pipeline.read_params(root), os.environ.get("DVC_EXP_NAME")
    if not experiment and (changes := pipeline.stale(root)):
        raise UsageError(f"params.yaml is older than conf/ ({changes[0]}); run `make repro`")
    begun = root / f".dvc/tmp/params-{experiment}.yaml"
    if experiment and begun.is_file() and begun.read_text() != text:  # a 2nd `dvc exp run` here?
        raise UsageError(f"params.yaml changed under experiment {experiment}: dvc exp run --queue")
    settings, function, section, config = pipeline.prepared(root, params, stage)
    if key := next((k for k in ("load_from", "resume") if getattr(section, k, None)), None):
        raise UsageError(f"{stage}.{key} names a run folder, which DVC does not track: set null")
    code = exit_status(execute(settings, function, section, config, ["(params.yaml)"]))
    if (root / "params.yaml").read_text(encoding="utf-8") != text:  # 2 `dvc exp run` at once
        raise UsageError("params.yaml changed as it ran: not recorded; use `dvc exp run --queue`")
    return code


def stage_with_hydra(root: Path) -> int:
    """Compose conf/ with the command line through Hydra, then run the stage (a sweep: each job)."""
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import HydraException
    from hydra.types import RunMode
    from omegaconf.errors import OmegaConfBaseException
    from yaml import YAMLError

    failed: list[int] = []  # one exit status per job started here

    def task(cfg: DictConfig) -> None:
        hydra_config = HydraConfig.get()
        multirun = hydra_config.mode == RunMode.MULTIRUN
        sweep = f"sweep-{Path(hydra_config.sweep.dir).name}" if multirun else None
        if multirun and (kept := Path(hydra_config.sweep.dir) / "multirun.yaml").is_file():
            write_text(kept, redact(kept.read_text(encoding="utf-8")))  # Hydra's: keys too
        try:
{%- if cookiecutter.search == "optuna" %}
            if cfg.get("search"):  # a search worker: its trials are runs of their own
                from .search import work

                failed.append(work(cfg, list(hydra_config.overrides.task)))
                return
{%- endif %}
            stop_with(int(os.environ[LAUNCHER]))  # a worker of this process
            prepared = pipeline.prepared(root, cfg, str(cfg.stage))
            record = execute(*prepared, hydra_config.overrides.task, sweep)
        except UsageError as error:  # refused before the run began (a run logs its own)
            print(f"error: {redact(str(error))}", file=sys.stderr)
            failed.append(2)
            if sweep:
                raise  # Hydra runs the other jobs, then raises the first failure
            raise SystemExit(2) from error  # Hydra would add a traceback to an exception
        finally:  # a worker whose launcher died while it ran: its run is recorded, it ends
            stop_with(int(os.environ[LAUNCHER]))
        failed.append(exit_status(record))
        if sweep and failed[-1]:
            raise RuntimeError(f"run {record['id']} {record['status']}: {record.get('error')}")

    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra's errors come back here, told in one line
    os.environ[LAUNCHER] = str(os.getpid())  # the sweep's workers inherit it
    app = hydra.main(version_base="1.3", config_path=str(root / "conf"), config_name="config")
    try:
        app(task)()
    except (HydraException, OmegaConfBaseException, YAMLError, UnicodeDecodeError) as error:
        if failed:  # raised from a run: debug mode wants the whole traceback
            raise
        raise UsageError(hydra_error(root, error)) from error
    except (Exception, SystemExit) as error:  # a failed job, or a launcher that lost one
        if not sys.argv[1:] or not {"-m", "--multirun"} & {*sys.argv[1:]}:
            raise
        told = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"error: the sweep failed: {told}; see `runs ls`", file=sys.stderr)
        return max([1, *failed])
    return max([0, *failed])


def hydra_error(root: Path, error: BaseException) -> str:
    """Hydra's error in one line: the YAML file and line, or the option or key and those known."""
    from omegaconf import DictConfig, OmegaConf

    pipeline.refuse_broken_yaml(root, error)  # a YAML syntax error: its file and line
    message = str(error).strip() or type(error).__name__
    if option := re.search(r"Could not find '(.+)/([^/']+)'", message):  # no such group option
        known = re.findall(r"^\t(\w\S*)$", message.split("Config search path")[0], re.MULTILINE)
        return f"{option[1]}={option[2]}: no such option; known: {', '.join(known) or 'none'}"
    if key := re.match(r"Could not override '(.+)'", message):  # no such key: those beside it
        section = None
        with contextlib.suppress(Exception):  # conf/ itself broken: no keys to name
            section = OmegaConf.select(pipeline.compose(root, []), key[1].rpartition(".")[0])
        keys = ", ".join(section) if isinstance(section, DictConfig) else "see --help"
        return f"{key[1]} is not a setting; known: {keys}"
    if message.startswith("LexerNoViableAltException: "):  # a character Hydra's grammar lacks
        name, _, value = message.splitlines()[0].split(": ", 1)[1].partition("=")
        return f"cannot read the override {name}={value}; quote the value: '{name}=\"{value}\"'"
    return f"{message.splitlines()[0]}; see --help"


def command(root: Path, name: str, args: list[str]) -> int:
    """Run one of the commands `stages`, `params`, `check`, `runs`."""
    if name == "runs":
        from . import runs

        return runs.main(root, args)
    if args:
        raise UsageError(f"`{name}` takes no arguments (got {args[0]}); edit conf/ instead")
    if name == "stages":  # one per line, for scripts (the Makefile's `debug`)
        print("\n".join(pipeline.stage_names(root)))
        return 0
    if name == "params":
        changes = pipeline.refresh(root)  # the first 20 are shown (all: git diff params.yaml)
        said = f"updated from conf/ ({len(changes)} changed):" if changes else "is up to date"
        if changes == [pipeline.MISSING]:
            said, changes = "written from conf/ (was missing or broken)", []
        print("\n  ".join([f"params.yaml {said}", *changes[:20]]))
    problems = pipeline.check(root)
    print("".join(f"error: {problem}\n" for problem in problems), end="", file=sys.stderr)
    if not problems:
        print(f"pipeline in step: {', '.join(pipeline.stage_names(root))}")
    return 2 if problems else 0


def main() -> None:
    """Entry point of `python -m <package>`: a command, or a stage run (or Hydra's --help)."""
    args = sys.argv[1:]
    try:
        root = pipeline.find_project_root()
        os.chdir(root)
        if args and args[0] in ("stages", "params", "check", "runs"):
            sys.exit(command(root, args[0], args[1:]))
        if not any(arg.startswith(("stage=", {% if cookiecutter.search == "optuna" %}"search=", {% endif %}"-")) for arg in args):
            raise UsageError("no stage given; add stage=NAME (`stages` lists them), or see --help")
        if os.environ.get("DVC_STAGE"):  # set by DVC for every stage command it runs
            use_sources_of(root)
        if not {"-m", "--multirun", "logger=none", "debug=default", "--help", "-h"} & {*args}:
            prestart()  # W&B's start-up, beside the config's; unused if tracking is off
        if os.environ.get("DVC_STAGE"):
            sys.exit(stage_under_dvc(root, args))
        sys.exit(stage_with_hydra(root))
    except UsageError as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:  # `runs ls | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing at exit
        sys.exit(0)
    except OSError as error:  # `runs rm` meeting a folder it may not delete
        sys.exit(f"error: {error}")
