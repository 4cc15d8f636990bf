"""Command line: `python -m <package> stage=NAME [overrides]`, through Hydra.

The process first moves to the project root, so relative paths in conf/ mean
the same thing from any working directory, as they do for DVC's stages.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ..config import register_configs
from . import registry

PACKAGE = __name__.split(".")[0]
EXIT_USAGE = 2


def find_project_root() -> Path:
    """Return the folder holding conf/config.yaml: beside the sources, else above the cwd."""
    candidates = [Path(__file__).resolve().parents[3], *Path.cwd().resolve().parents]
    candidates.insert(1, Path.cwd().resolve())
    for folder in candidates:
        if (folder / "conf" / "config.yaml").is_file():
            return folder
    raise SystemExit(f"error: no conf/config.yaml found; run {PACKAGE} inside the project folder")


def help_text() -> str:
    """Build the text of `--help`: usage, stages with summaries, config groups."""
    names = registry.stage_names()
    width = max(len(name) for name in names) + 2
    stages = "\n".join(f"  {name.ljust(width)}{registry.summary(name)}" for name in names)
    groups: dict[str, list[str]] = {}
    conf = Path("conf")
    for option in sorted(conf.rglob("*.yaml")):
        if option.parent != conf:
            groups.setdefault(option.parent.relative_to(conf).as_posix(), []).append(option.stem)
    group_lines = "\n".join(f"  {group}: {', '.join(options)}" for group, options in groups.items())
    return (
        f"{PACKAGE}: run one stage of the pipeline, configured by conf/.\n\n"
        f"Usage:\n"
        f"  python -m {PACKAGE} stage=NAME [key=value ...] [group=option ...]\n"
        f"  python -m {PACKAGE} --multirun stage=train model=ridge,mlp   # a sweep\n\n"
        f"Stages (in pipeline order):\n{stages}\n\n"
        f"Config groups (group=option):\n{group_lines}\n\n"
        f"Debug mode: add debug=default. Hydra's own options: --hydra-help.\n\n"
        f"== Config (override any key, e.g. train.epochs=5) ==\n$CONFIG"
    )


def print_help(root: Path, overrides: list[str]) -> None:
    """Print the help text with the config composed from `overrides`.

    Hydra's own --help first lists every config group of Hydra and of the app,
    which takes longer than starting the program; this text lists them from
    conf/ directly.
    """
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(root / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    print(help_text().replace("$CONFIG", OmegaConf.to_yaml(cfg)))


def _task(cfg: DictConfig) -> None:
    from .run import execute  # deferred: keeps --help free of the run machinery

    overrides = list(HydraConfig.get().overrides.task)
    try:
        execute(cfg, overrides)
    except registry.UnknownStageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def main() -> None:
    """Entry point of `python -m <package>` and of the `<package>` script."""
    root = find_project_root()
    os.chdir(root)
    register_configs()
    args = sys.argv[1:]
    if "--help" in args or "-h" in args:
        print_help(root, [arg for arg in args if arg not in ("--help", "-h")])
        return
    if not any(arg.startswith("stage=") or arg.startswith("-") for arg in args):
        names = ", ".join(registry.stage_names())
        print(
            f"error: no stage given; add stage=NAME (one of: {names}), or see --help",
            file=sys.stderr,
        )
        sys.exit(EXIT_USAGE)
    app = hydra.main(version_base="1.3", config_path=str(root / "conf"), config_name="config")
    app(_task)()
