"""The pipeline as dvc.yaml declares it, params.yaml kept in step with conf/, and `check`.

A stage `name` is `stages/<name>.py` with `def <name>(cfg: <Section>, run)`, its section in
conf/config.yaml (checked against that dataclass) and its dvc.yaml entry, whose paths are
`${<name>.<key>}`. The runtime reaches user code only through here.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .records import UsageError, write_text
from .settings import typed

PACKAGE = __name__.split(".")[0]
STAGES = Path(__file__).resolve().parents[1] / "stages"
PARAMS_STAGE = "params"  # dvc.yaml's first stage: refreshes params.yaml, not a user stage
ORDER_FILE = ".dvc-params-order"  # its output: every stage depends on it, so it runs first
REFERENCE = re.compile(r"\$\{([^}]+)\}")
MISSING = "params.yaml was missing or broken"  # what stale() says then
UNSET = "(not set)"  # a key on one side only
NO_STAGE = "dvc.yaml has no stage to run: add one (README: Add a stage)"


def dvc_stages(root: Path) -> dict[str, dict[str, Any]]:
    """The stages of dvc.yaml, in file order, as written (paths not interpolated)."""
    try:
        content = OmegaConf.to_container(OmegaConf.load(root / "dvc.yaml"))
    except Exception as error:  # missing, unreadable, not YAML
        refuse_broken_yaml(root, error)
        raise UsageError(f"cannot read dvc.yaml ({error}); restore it from git") from error
    stages = (content.get("stages") if isinstance(content, dict) else None) or {}
    if not isinstance(stages, dict):
        raise UsageError(
            f"dvc.yaml: `stages:` must map stage names to stages (found: {type(stages).__name__}); "
            "fix it or restore it from git"
        )
    return {str(name): stage for name, stage in stages.items() if isinstance(stage, dict)}


def stage_names(root: Path) -> list[str]:
    """The user's stages, in pipeline order (dvc.yaml's, without `params`); at least one."""
    if names := [name for name in dvc_stages(root) if name != PARAMS_STAGE]:
        return names
    raise UsageError(NO_STAGE)


def check_stage(root: Path, name: str) -> None:
    """Refuse a stage name that dvc.yaml does not have, naming the ones it has."""
    if name not in (names := stage_names(root)):
        hint = f"; stages/{name}.py exists: add it to dvc.yaml" if _module(name) else ""
        raise UsageError(f"unknown stage '{name}' (dvc.yaml has: {', '.join(names)}){hint}")


def summary(name: str) -> str:
    """The first line of a stage module's docstring, read without importing it."""
    module = _module(name)
    docstring = module and ast.get_docstring(ast.parse(module.read_text(encoding="utf-8")))
    return docstring.strip().splitlines()[0] if docstring else f"(no stages/{name}.py)"


def load_stage(name: str) -> tuple[Callable[[Any, Any], Any], type[Any]]:
    """Import stage `name`; return its function and the dataclass its `cfg` argument takes."""
    if _module(name) is None:
        raise UsageError(f"stage '{name}' has no module: write src/{PACKAGE}/stages/{name}.py")
    function = getattr(importlib.import_module(f"{PACKAGE}.stages.{name}"), name, None)
    if not callable(function):
        raise UsageError(f"stages/{name}.py has no function '{name}(cfg, run)'")
    schema = next(iter(inspect.signature(function, eval_str=True).parameters.values())).annotation
    if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
        raise UsageError(
            f"stages/{name}.py: annotate {name}()'s first argument with the dataclass of its "
            f"config section, e.g. `def {name}(cfg: {name.title()}Config, run: Run)`"
        )
    return function, schema


def section(cfg: DictConfig, name: str, schema: type[Any]) -> Any:
    """Stage `name`'s section of a composed config, checked against its dataclass."""
    if name not in cfg:
        raise UsageError(f"conf/config.yaml has no section '{name}:'; add one for stage {name}")
    return typed(schema, cfg[name], name)


def compose(root: Path, overrides: list[str] | None = None) -> DictConfig:
    """Compose conf/config.yaml with `overrides` the way DVC does (no `hydra:` node)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    try:
        with initialize_config_dir(config_dir=str(root / "conf"), version_base="1.3"):
            return hydra_compose("config", overrides=overrides or [])
    except Exception as error:  # Hydra lets YAML's own errors through, a long traceback each
        refuse_broken_yaml(root, error)
        raise


def refuse_broken_yaml(root: Path, error: BaseException | None) -> None:
    """Raise a YAML syntax error in `error`'s chain as a UsageError naming the file and line."""
    while error is not None and getattr(error, "problem_mark", None) is None:
        error = error.__cause__ or error.__context__
    if mark := getattr(error, "problem_mark", None):
        where = f"{os.path.relpath(mark.name, root)}, line {mark.line + 1}"
        raise UsageError(f"{where}: {getattr(error, 'problem', '')}; fix the YAML") from error


def render(cfg: DictConfig) -> str:
    """The text of params.yaml for a composed config: resolved, as DVC writes it."""
    resolved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    try:
        OmegaConf.resolve(resolved)
    except OmegaConfBaseException as error:  # a ${...} that names nothing
        key = getattr(error, "full_key", "")
        raise UsageError(f"conf/: {f'{key}: ' * bool(key)}{str(error).splitlines()[0]}") from error
    return OmegaConf.to_yaml(resolved)


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """`key: old -> new` for every dotted key whose value differs, values written as in YAML."""
    sides = [side for side in (old, new) if side is not UNSET]
    if all(isinstance(side, dict) for side in sides):
        old, new = ({} if side is UNSET else side for side in (old, new))
        return [
            change
            for key in sorted(set(old) | set(new), key=str)
            for change in changed_keys(old.get(key, UNSET), new.get(key, UNSET), f"{prefix}{key}.")
        ]
    shown = [side if isinstance(side, str) and side else json.dumps(side) for side in (old, new)]
    return [] if old == new else [f"{prefix.rstrip('.')}: {shown[0]} -> {shown[1]}"]


def read_params(root: Path) -> DictConfig:
    """params.yaml as DVC tracked it; refused in one line when missing or broken."""
    try:
        loaded = OmegaConf.load(root / "params.yaml")
    except Exception:  # missing, unreadable, not YAML
        loaded = None
    if not isinstance(loaded, DictConfig):
        raise UsageError("params.yaml is missing or broken; rebuild it with `make params`")
    return loaded


def stale(root: Path) -> list[str]:
    """How params.yaml differs from conf/ composed now (empty: in step)."""
    try:
        old = OmegaConf.to_container(read_params(root))
    except UsageError:
        return [MISSING]
    return changed_keys(old, OmegaConf.to_container(OmegaConf.create(render(compose(root)))))


def refresh(root: Path) -> list[str]:
    """Rewrite params.yaml from conf/ (unless `dvc exp run` composed it); return the changes."""
    if not (root / ORDER_FILE).is_file():
        write_text(root / ORDER_FILE, "Output of dvc.yaml's `params` stage. Do not edit.\n")
    if os.environ.get("DVC_EXP_NAME") and (root / "params.yaml").is_file():
        return []  # `dvc exp run` composed params.yaml itself, with its -S overrides
    if changes := stale(root):
        write_text(root / "params.yaml", render(compose(root)))
    references = set(REFERENCE.findall(str(dvc_stages(root))))
    late = [change.split(":")[0] for change in changes if change.split(":")[0] in references]
    if late and os.environ.get("DVC_STAGE"):  # DVC planned this run with the old paths
        raise UsageError(
            f"conf/ changed {', '.join(late)}, which dvc.yaml reads before any stage runs; "
            "params.yaml is refreshed now: run `dvc repro` again (`make repro` refreshes first)"
        )
    return changes


def check(root: Path) -> list[str]:
    """Every way dvc.yaml, stages/, conf/ and params.yaml disagree (empty: in step)."""
    stages = dvc_stages(root)
    names = [name for name in stages if name != PARAMS_STAGE]
    problems = [] if PARAMS_STAGE in stages else [f"dvc.yaml has no '{PARAMS_STAGE}' stage"]
    problems += [] if names else [NO_STAGE]
    problems += [
        f"stages/{path.stem}.py is not in dvc.yaml: add a stage '{path.stem}' (README: Add a stage)"
        for path in sorted(STAGES.glob("[!_]*.py"))
        if path.stem not in names
    ]
    try:
        cfg = compose(root, ["stage=" + (names[0] if names else "none")])
    except Exception as error:  # Hydra has many error types; any of them is the finding
        return [*problems, f"conf/ does not compose: {error}"]
    for name in names:
        problems += _check_stage(name, stages[name], cfg)
    if not os.environ.get("DVC_EXP_NAME"):  # an experiment's params.yaml has its -S overrides
        problems += [f"params.yaml is stale ({c}): run `make params`" for c in stale(root)[:3]]
    return problems


def _check_stage(name: str, stage: dict[str, Any], cfg: DictConfig) -> list[str]:
    command, deps = f"python -m {PACKAGE} stage={name}", list(map(str, stage.get("deps") or []))
    problems = [] if stage.get("cmd") == command else [f"stage '{name}' must run `{command}`"]
    code = f"src/{PACKAGE}/stages/{name}.py"
    missing = [dep for dep in (code, ORDER_FILE) if dep not in deps]
    problems += [f"stage '{name}' must list {dep} in its deps" for dep in missing]
    if name not in map(str, stage.get("params") or []):
        problems.append(f"stage '{name}' must track its own section: `params: [{name}]`")
    try:
        section(cfg, name, load_stage(name)[1])
    except UsageError as error:
        problems.append(str(error))
    return problems


def _module(name: str) -> Path | None:
    path = STAGES / f"{name}.py"
    return path if path.is_file() and not name.startswith("_") else None
