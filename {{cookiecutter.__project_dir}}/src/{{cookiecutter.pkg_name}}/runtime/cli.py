"""Command line: `python -m <package> stage=NAME [overrides]`, and a few commands.

    python -m <package> stage=train model=mlp     one stage, config composed by Hydra
    python -m <package> stages                    the stage names, in pipeline order
    python -m <package> params                    refresh params.yaml from conf/, then check
    python -m <package> check                     dvc.yaml, stages/, conf/ and params.yaml agree
    python -m <package> remote ...                the DVC remote (B2): use, login, check
    python -m <package> runs ...                  list, show, clean and sync run records

The process first moves to the project root, so relative paths in conf/ mean the
same from any folder, as they do for DVC. Under DVC (`dvc repro`, `dvc exp run`) a
stage reads params.yaml, never conf/, so it runs on exactly what DVC tracked.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import pipeline
from .records import UsageError

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from .run import Outcome

PACKAGE = pipeline.PACKAGE
EXIT_USAGE = 2


def find_project_root() -> Path:
    """The folder holding conf/config.yaml: the working directory or above, else the sources'."""
    cwd = Path.cwd().resolve()
    for folder in [cwd, *cwd.parents, Path(__file__).resolve().parents[3]]:
        if (folder / "conf" / "config.yaml").is_file():
            return folder
    raise UsageError(f"no conf/config.yaml found; run {PACKAGE} inside the project folder")


def use_sources_of(root: Path) -> None:
    """Re-run this command with the project's own sources if another copy was imported.

    `dvc exp run --queue/--temp` runs stages in a temporary copy of the repository, while
    the editable install points at the original sources: the copy's src/ must win.
    """
    wanted, imported = root / "src", Path(__file__).resolve().parents[2]
    if (wanted / PACKAGE).is_dir() and wanted.resolve() != imported:
        path = os.pathsep.join(filter(None, [str(wanted), os.environ.get("PYTHONPATH")]))
        argv = [sys.executable, "-m", PACKAGE, *sys.argv[1:]]
        os.execve(sys.executable, argv, {**os.environ, "PYTHONPATH": path})


def print_help(root: Path, overrides: list[str]) -> int:
    """Usage, the stages with their summaries, the config groups, and the composed config."""
    from omegaconf import OmegaConf

    names = pipeline.stage_names(root)
    width = max(map(len, names), default=0) + 2
    stages = "\n".join(f"  {name.ljust(width)}{pipeline.summary(name)}" for name in names)
    # Hydra's launcher plugins bring their own options; conf/hydra/launcher/ adds slurm.
    groups: dict[str, list[str]] = {"hydra/launcher": ["basic", "joblib", "submitit_local"]}
    for option in sorted((root / "conf").rglob("*.yaml")):
        if option.parent != root / "conf":
            groups.setdefault(option.parent.relative_to(root / "conf").as_posix(), []).append(
                option.stem
            )
    group_lines = "\n".join(
        f"  {group}: {', '.join(names)}" for group, names in sorted(groups.items())
    )
    config = OmegaConf.to_yaml(pipeline.compose(root, overrides))
    print(
        f"{PACKAGE}: run one stage of the pipeline, configured by conf/.\n\nUsage:\n"
        f"  python -m {PACKAGE} stage=NAME [key=value ...] [group=option ...]\n"
        f"  python -m {PACKAGE} --multirun stage=train model=sgd,mlp   # a sweep\n"
        f"  python -m {PACKAGE} --multirun hydra/launcher=joblib stage=train seed=1,2,3,4\n"
        f"  python -m {PACKAGE} runs ls | show ID | rm | push | pull   # run records\n"
        f"  python -m {PACKAGE} stages | params | check | remote ...   # see the README\n\n"
        f"Stages (in pipeline order, from dvc.yaml):\n{stages}\n\n"
        f"Config groups (group=option):\n{group_lines}\n\n"
        f"Debug mode: add debug=default. Hydra's own options: --hydra-help.\n\n"
        f"== Config (override any key, e.g. train.epochs=5) ==\n{config}"
    )
    return 0


def prepared(root: Path, cfg: DictConfig, stage: str) -> tuple[Any, ...]:
    """The runtime settings, the stage function and its checked section, or a UsageError."""
    from omegaconf import OmegaConf

    from .settings import runtime_settings

    pipeline.check_stage(root, stage)
    function, schema = pipeline.load_stage(stage)
    settings = runtime_settings(cfg, stage)
    section = pipeline.section(cfg, stage, schema)
    return settings, function, section, OmegaConf.to_container(cfg, resolve=True)


def stage_under_dvc(root: Path, args: list[str]) -> int:
    """Run a stage for DVC: its config is params.yaml, exactly as DVC tracked it."""
    from .run import execute

    if len(args) != 1 or not args[0].startswith("stage="):
        raise UsageError(
            f"under DVC a stage reads params.yaml; its command must be exactly "
            f"`python -m {PACKAGE} stage=NAME` (change values with `dvc exp run -S key=value`)"
        )
    stage = args[0].removeprefix("stage=")
    params = pipeline.read_params(root)
    if not os.environ.get("DVC_EXP_NAME") and (changes := pipeline.stale(root)):
        raise UsageError(f"params.yaml is older than conf/ ({changes[0]}); run `make repro`")
    settings, function, section, config = prepared(root, params, stage)
    if getattr(section, "load_from", None):
        raise UsageError(
            f"{stage}.load_from reuses a run folder, which DVC does not track: set it to null "
            f"for DVC, or run `python -m {PACKAGE} stage={stage} {stage}.load_from=...` instead"
        )
    outcome = execute(settings, function, section, config, overrides=["(params.yaml)"])
    return 0 if outcome.status == "completed" else 1


def stage_with_hydra(root: Path) -> int:
    """Compose conf/ with the command line's overrides through Hydra, then run the stage.

    A sweep's jobs may run in other processes or machines (Hydra's launcher decides),
    so its summary comes from the run records (sweeps.py).
    """
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from .run import execute
    from .sweeps import report_all, report_failures, sweep_name

    outcomes: list[tuple[str, Outcome]] = []

    def task(cfg: DictConfig) -> None:
        try:
            settings, function, section, config = prepared(root, cfg, str(cfg.stage))
        except UsageError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(EXIT_USAGE)  # Hydra would add a traceback to an exception
        hydra_config = HydraConfig.get()
        overrides = list(hydra_config.overrides.task)
        if hydra_config.mode == RunMode.MULTIRUN:
            sweep = sweep_name(hydra_config.sweep.dir)
            execute(settings, function, section, config, overrides, sweep=sweep)
        else:
            outcomes.append(
                (" ".join(overrides), execute(settings, function, section, config, overrides))
            )

    hydra.main(version_base="1.3", config_path=str(root / "conf"), config_name="config")(task)()
    return max(report_failures(outcomes), report_all())


def params_command(root: Path, args: list[str]) -> int:
    """`params`: rewrite params.yaml from conf/, say what changed, then check the pipeline."""
    if args:
        raise UsageError(f"`params` takes no arguments; to change values edit conf/ ({args[0]})")
    changes = pipeline.refresh(root)
    for change in changes:
        print(f"params.yaml: {change}")
    print(f"params.yaml is up to date with conf/ ({len(changes)} changed)")
    return check_command(root, [])


def check_command(root: Path, args: list[str]) -> int:
    """`check`: dvc.yaml, stages/, conf/ and params.yaml agree, or say each way they do not."""
    problems = pipeline.check(root)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"pipeline in step: {', '.join(pipeline.stage_names(root))}")
    return EXIT_USAGE if problems else 0


def stages_command(root: Path, args: list[str]) -> int:
    """`stages`: the stage names, one per line, in pipeline order."""
    print("\n".join(pipeline.stage_names(root)))
    return 0


def runs_command(root: Path, args: list[str]) -> int:
    """`runs ...`: list, show, clean and sync run records."""
    from .runs import main as runs_main

    return runs_main(root, args)


def remote_command(root: Path, args: list[str]) -> int:
    """`remote ...`: configure and check the DVC remote."""
    from .remote import main as remote_main

    return remote_main(root, args)


COMMANDS: dict[str, Callable[[Path, list[str]], int]] = {
    "stages": stages_command,
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
    if not any(arg.startswith(("stage=", "-")) for arg in args):
        names = ", ".join(pipeline.stage_names(root))
        raise UsageError(f"no stage given; add stage=NAME (one of: {names}), or see --help")
    if os.environ.get("DVC_STAGE"):  # set by DVC for every stage command it runs
        use_sources_of(root)
        return stage_under_dvc(root, args)
    return stage_with_hydra(root)


def main() -> None:
    """Entry point of `python -m <package>` and of the `<package>` script."""
    try:
        root = find_project_root()
        os.chdir(root)
        code = dispatch(root, sys.argv[1:])
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    sys.exit(code)
