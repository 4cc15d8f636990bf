"""Command line: `python -m <package> stage=NAME [overrides]`, and a few commands.

    python -m <package> stage=train model=mlp     one stage, config composed by Hydra
    python -m <package> params                    rewrite params.yaml from conf/
    python -m <package> check                     dvc.yaml against the stage registry
    python -m <package> remote ...                the DVC remote (B2): use, login, check
    python -m <package> runs ...                  list, show, clean and sync run records

The process first moves to the project root, so relative paths in conf/ mean
the same thing from any working directory, as they do for DVC's stages. Under
DVC (`dvc repro`, `dvc exp run`) a stage reads params.yaml, not conf/.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError
from . import registry

if TYPE_CHECKING:
    from .run import Outcome

PACKAGE = __name__.split(".")[0]
EXIT_USAGE = 2


class UsageError(ValueError):
    """A command line that cannot run; the message says what to type instead."""


def find_project_root() -> Path:
    """Return the folder holding conf/config.yaml: the working directory or above, else
    the folder beside the sources."""
    cwd = Path.cwd().resolve()
    for folder in [cwd, *cwd.parents, Path(__file__).resolve().parents[3]]:
        if (folder / "conf" / "config.yaml").is_file():
            return folder
    raise UsageError(f"no conf/config.yaml found; run {PACKAGE} inside the project folder")


def use_sources_of(root: Path) -> None:
    """Re-run this command with the project's own sources if another copy was imported.

    `dvc exp run --queue/--temp` runs stages in a temporary copy of the repository,
    while the environment's editable install points at the original sources. The
    experiment must run the code it was queued with, so the copy's src/ goes first.
    """
    wanted = root / "src"
    imported = Path(__file__).resolve().parents[2]
    if not (wanted / PACKAGE).is_dir() or wanted.resolve() == imported:
        return
    path = os.pathsep.join(filter(None, [str(wanted), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    os.execve(sys.executable, [sys.executable, "-m", PACKAGE, *sys.argv[1:]], env)


def help_text() -> str:
    """Build the text of `--help`: usage, stages with summaries, config groups."""
    names = registry.stage_names()
    width = max(len(name) for name in names) + 2
    stages = "\n".join(f"  {name.ljust(width)}{registry.summary(name)}" for name in names)
    # Hydra's launcher plugins bring their own options; conf/hydra/launcher/ adds slurm.
    groups: dict[str, list[str]] = {"hydra/launcher": ["basic", "joblib", "submitit_local"]}
    conf = Path("conf")
    for option in sorted(conf.rglob("*.yaml")):
        if option.parent != conf:
            groups.setdefault(option.parent.relative_to(conf).as_posix(), []).append(option.stem)
    group_lines = "\n".join(
        f"  {group}: {', '.join(options)}" for group, options in sorted(groups.items())
    )
    return (
        f"{PACKAGE}: run one stage of the pipeline, configured by conf/.\n\n"
        f"Usage:\n"
        f"  python -m {PACKAGE} stage=NAME [key=value ...] [group=option ...]\n"
        f"  python -m {PACKAGE} --multirun stage=train model=ridge,mlp   # a sweep\n"
        f"  python -m {PACKAGE} --multirun hydra/launcher=joblib stage=train seed=1,2,3,4\n"
        f"  python -m {PACKAGE} runs ls | show ID | rm | push | pull   # run records\n"
        f"  python -m {PACKAGE} params | check | remote ...   # see the README\n\n"
        f"Stages (in pipeline order):\n{stages}\n\n"
        f"Config groups (group=option):\n{group_lines}\n\n"
        f"Debug mode: add debug=default. Hydra's own options: --hydra-help.\n\n"
        f"== Config (override any key, e.g. train.epochs=5) ==\n$CONFIG"
    )


def print_help(root: Path, overrides: list[str]) -> int:
    """Print the help text with the config composed from `overrides`.

    Hydra's own --help first lists every config group of Hydra and of the app,
    which takes longer than starting the program; this text lists them from
    conf/ directly.
    """
    from omegaconf import OmegaConf

    from .params import compose

    print(help_text().replace("$CONFIG", OmegaConf.to_yaml(compose(root, overrides))))
    return 0


def stage_under_dvc(root: Path, args: list[str]) -> int:
    """Run a stage for DVC: its config is params.yaml, exactly as DVC tracked it."""
    from .params import PARAMS_FILE, load
    from .run import execute

    if len(args) != 1 or not args[0].startswith("stage="):
        raise UsageError(
            f"under DVC a stage reads {PARAMS_FILE}; its command must be exactly "
            f"`python -m {PACKAGE} stage=NAME` (change values with `dvc exp run -S key=value`)"
        )
    stage = args[0].removeprefix("stage=")
    registry.check_stage(stage)
    settings = load(root, stage)
    outcome = execute(settings, overrides=[f"({PARAMS_FILE})"])
    return 0 if outcome.status == "completed" else 1


def stage_with_hydra(root: Path) -> int:
    """Compose conf/ with the command line's overrides through Hydra, then run the stage.

    A sweep's jobs may run in other processes or on other machines (Hydra's
    launcher decides), so its summary comes from the run records (sweeps.py).
    """
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig

    from ..config import to_typed
    from .run import execute
    from .sweeps import report_all, report_failures, sweep_name

    outcomes: list[tuple[str, Outcome]] = []

    def task(cfg: DictConfig) -> None:
        try:
            registry.check_stage(str(cfg.stage))
            settings = to_typed(cfg)
        except (registry.UnknownStageError, ConfigError) as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(EXIT_USAGE)  # Hydra would add a traceback to an exception
        hydra_config = HydraConfig.get()
        overrides = list(hydra_config.overrides.task)
        if hydra_config.mode == RunMode.MULTIRUN:
            execute(settings, overrides=overrides, sweep=sweep_name(hydra_config.sweep.dir))
        else:
            outcomes.append((" ".join(overrides), execute(settings, overrides=overrides)))

    app = hydra.main(version_base="1.3", config_path=str(root / "conf"), config_name="config")
    app(task)()
    return max(report_failures(outcomes), report_all())


def params_command(root: Path, args: list[str]) -> int:
    """`params`: rewrite params.yaml from conf/ and say which values changed."""
    from .params import PARAMS_FILE, refresh

    if args:
        raise UsageError(f"`params` takes no arguments; to change values edit conf/ ({args[0]})")
    changes = refresh(root)
    for change in changes:
        print(f"{PARAMS_FILE}: {change}")
    print(f"{PARAMS_FILE} is up to date with conf/ ({len(changes)} values changed)")
    return 0


def check_command(root: Path, args: list[str]) -> int:
    """`check`: compare dvc.yaml with the stage registry."""
    from .pipeline import check_dvc_yaml

    problems = check_dvc_yaml(root)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"dvc.yaml matches the stage registry ({', '.join(registry.stage_names())})")
    return 1 if problems else 0


def runs_command(root: Path, args: list[str]) -> int:
    """`runs ...`: list, show, clean and sync run records."""
    from .runs import main as runs_main

    return runs_main(root, args)


def remote_command(root: Path, args: list[str]) -> int:
    """`remote ...`: configure and check the DVC remote."""
    from .remote import main as remote_main

    return remote_main(root, args)


COMMANDS: dict[str, Callable[[Path, list[str]], int]] = {
    "params": params_command,
    "check": check_command,
    "remote": remote_command,
    "runs": runs_command,
}


def dispatch(root: Path, args: list[str]) -> int:
    """Route the command line to a command, the help, or a stage run."""
    if args and args[0] in COMMANDS:
        return COMMANDS[args[0]](root, args[1:])
    if "--help" in args or "-h" in args:
        return print_help(root, [arg for arg in args if arg not in ("--help", "-h")])
    if not any(arg.startswith("stage=") or arg.startswith("-") for arg in args):
        names = ", ".join(registry.stage_names())
        raise UsageError(f"no stage given; add stage=NAME (one of: {names}), or see --help")
    from .params import under_dvc

    if under_dvc():
        use_sources_of(root)
        return stage_under_dvc(root, args)
    return stage_with_hydra(root)


def main() -> None:
    """Entry point of `python -m <package>` and of the `<package>` script."""
    try:
        root = find_project_root()
        os.chdir(root)
        code = dispatch(root, sys.argv[1:])
    except (UsageError, registry.UnknownStageError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    sys.exit(code)
