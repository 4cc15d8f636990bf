"""Keep dvc.yaml and the stage registry (stages/__init__.py: PIPELINE) in step.

`python -m <package> check` (also a test and a pre-commit hook) fails when they
drift: a stage missing on either side, in another order, with another command,
without a dependency on its own code, or listing a params section that the
config does not have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from . import registry

PACKAGE = __name__.split(".")[0]
# DVC's first stage keeps params.yaml in step with conf/; it is not a user stage.
PARAMS_STAGE = "params"


def stage_command(stage: str) -> str:
    """The command a pipeline stage runs under DVC."""
    return f"python -m {PACKAGE} stage={stage}"


def check_dvc_yaml(root: Path) -> list[str]:
    """Return every way dvc.yaml disagrees with the registry (empty when in step)."""
    path = root / "dvc.yaml"
    if not path.is_file():
        return [f"{path} does not exist"]
    content = OmegaConf.to_container(OmegaConf.load(path))
    stages: dict[str, dict[str, Any]] = (
        content.get("stages", {}) if isinstance(content, dict) else {}
    )
    names = [name for name in stages if name != PARAMS_STAGE]
    expected = list(registry.stage_names())
    problems = []
    if PARAMS_STAGE not in stages:
        problems.append(f"dvc.yaml has no '{PARAMS_STAGE}' stage (it refreshes params.yaml)")
    for name in expected:
        if name not in stages:
            problems.append(f"stage '{name}' is in PIPELINE but not in dvc.yaml; add it")
    for name in names:
        if name not in expected:
            problems.append(f"dvc.yaml stage '{name}' is not in PIPELINE (stages/__init__.py)")
    if not problems and names != expected:
        problems.append(f"dvc.yaml lists {names}; PIPELINE runs {expected}: use one order")
    known_sections = _config_sections(root)
    for name in (n for n in names if n in expected):
        problems += _check_stage(name, stages[name], known_sections)
    return problems


def _check_stage(name: str, stage: dict[str, Any], sections: set[str]) -> list[str]:
    problems = []
    if stage.get("cmd") != stage_command(name):
        problems.append(
            f"stage '{name}' runs {stage.get('cmd')!r}; expected {stage_command(name)!r}"
        )
    code = f"src/{PACKAGE}/stages/{name}.py"
    if code not in (stage.get("deps") or []):
        problems.append(f"stage '{name}' does not depend on its code {code}")
    for entry in stage.get("params") or []:
        keys = entry if isinstance(entry, str) else None
        if keys is not None and keys.split(".")[0] not in sections:
            problems.append(f"stage '{name}' tracks params '{keys}', which conf/ does not have")
    return problems


def _config_sections(root: Path) -> set[str]:
    from .params import compose

    return {str(key) for key in compose(root)}
