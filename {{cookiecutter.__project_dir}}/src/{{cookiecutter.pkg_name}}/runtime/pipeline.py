"""The pipeline as dvc.yaml declares it, params.yaml kept in step with conf/, and `check`. A stage
`name` is `stages/<name>.py` with `def <name>(cfg: <Section>, run)`, its section in conf/ (checked
against that dataclass) and its dvc.yaml entry. The runtime reaches user code only through here."""

import contextlib
import dataclasses
import importlib
import inspect
import json
import os
import re
import runpy
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .records import UsageError, write_text

PACKAGE = __name__.split(".")[0]
STAGES = Path(__file__).resolve().parents[1] / "stages"
PARAMS_STAGE = "params"  # dvc.yaml's first stage: writes params.yaml, which every stage reads
REFERENCE = re.compile(r"\$\{([^}]+)\}")
MISSING = "params.yaml was missing or broken"  # what stale() says then
UNSET = "(not set)"  # a key on one side only
NO_STAGE = "dvc.yaml has no stage to run: add one (README: Add a stage)"
Stage = Callable[[Any, Any], Any]  # a stage function: (its checked section, its Run) -> metrics


@dataclass
class LoggerSettings:  # the experiment tracker (conf/logger/)
    name: str = "none"
    project: str = "project"
    entity: str | None = None
    mode: str = "auto"
    tags: list[str] = field(default_factory=list)
    finish_timeout: float = 30.0  # seconds a stage waits for its run to close, then ends


@dataclass
class RuntimeSettings:  # `run` records everything, `debug` (conf/debug/) keeps nothing
    mode: str = "run"
    log_level: str = "INFO"

    def __post_init__(self) -> None:  # refused before the run's folder exists
        levels = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        for key, value, known in [("mode", self.mode, ("run", "debug")),
                                  ("log_level", self.log_level.upper(), levels)]:  # fmt: skip
            if value not in known:
                raise UsageError(f"runtime.{key} must be one of {', '.join(known)} (got {value})")


@dataclass
class Settings:  # what the runtime reads from a composed config
    stage: str
    seed: int
    root: str
    experiment_name: str = "default"
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    logger: LoggerSettings = field(default_factory=LoggerSettings)

    def __post_init__(self) -> None:
        if not 0 <= self.seed < 2**32:  # numpy's generators take no other seed
            raise UsageError(f"seed must be 0 to 2**32 - 1 (got {self.seed})")
        if not self.root.strip():  # `${root}/data`: the file system's root
            raise UsageError(f"root must be a folder, `.` for the project's (got '{self.root}')")


def typed(schema: type[Any], values: Any, where: str = "") -> Any:
    """Check `values` against dataclass `schema` (`where`: their dotted path, for messages)."""
    values = resolved(values)  # first: its ${...} may point anywhere
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), values))
    except OmegaConfBaseException as error:
        key = str(getattr(error, "full_key", "") or "")
        key = key if key.startswith(f"{where}.") else ".".join(filter(None, [where, key]))
        raise UsageError(f"config key '{key}': {str(error).splitlines()[0]}") from error
    except ValueError as error:  # from its __post_init__: "<key> must be ..." (UsageError too)
        raise UsageError(".".join(filter(None, [where, str(error)]))) from error


def resolved(values: Any) -> Any:
    """A config (or a section) as plain values, its ${...} resolved; a dangling one in one line."""
    if not isinstance(values, DictConfig):
        return values
    try:
        return OmegaConf.to_container(values, resolve=True)
    except OmegaConfBaseException as error:  # `~train` dropped what ${train.x} names, or a typo
        key = getattr(error, "full_key", "") or "?"
        raise UsageError(f"conf/: {key}: {str(error).splitlines()[0]}") from error


def find_project_root() -> Path:
    """The folder holding conf/config.yaml: the working directory or above, else the sources'."""
    cwd = Path.cwd().resolve()
    for folder in [cwd, *cwd.parents, Path(__file__).resolve().parents[3]]:
        if (folder / "conf" / "config.yaml").is_file():
            return folder
    raise UsageError(f"no conf/config.yaml found; run {PACKAGE} inside the project folder")


def prepared(root: Path, cfg: DictConfig, stage: str) -> tuple[Settings, Stage, Any, Any]:
    """The runtime settings, the stage function, its checked section and the whole config."""
    if stage not in (names := stage_names(root)):
        hint = f"; stages/{stage}.py exists: add it to dvc.yaml" * (STAGES / f"{stage}.py").exists()
        raise UsageError(f"unknown stage '{stage}' (dvc.yaml has: {', '.join(names)}){hint}")
    function, schema = load_stage(stage)
    keys = ("seed", "root", "experiment_name", "runtime", "logger")  # Settings' fields in conf/
    whole = resolved(cfg)  # a ${...} naming nothing: one line
    settings = typed(Settings, dict(stage=stage, **{k: whole[k] for k in keys if k in whole}))
    return settings, function, section(cfg, stage, schema), whole


def dvc_stages(root: Path) -> dict[str, dict[str, Any]]:
    """The stages of dvc.yaml, in file order, as written (paths not interpolated)."""
    try:
        content = OmegaConf.to_container(OmegaConf.load(root / "dvc.yaml"))
    except Exception as error:  # missing, unreadable, not YAML
        refuse_broken_yaml(root, error)
        raise UsageError(f"cannot read dvc.yaml ({error}); restore it from git") from error
    stages = (content.get("stages") if isinstance(content, dict) else None) or {}
    if not isinstance(stages, dict):
        raise UsageError("dvc.yaml: `stages:` must map names to stages; restore it from git")
    return {str(name): stage for name, stage in stages.items() if isinstance(stage, dict)}


def stage_names(root: Path) -> list[str]:
    """The user's stages, in pipeline order (dvc.yaml's, without `params`); at least one."""
    if names := [name for name in dvc_stages(root) if name != PARAMS_STAGE]:
        return names
    raise UsageError(NO_STAGE)


def load_stage(name: str) -> tuple[Stage, type[Any]]:
    """Import stage `name`; return its function and the dataclass its `cfg` argument takes."""
    if name.startswith("_") or not (STAGES / f"{name}.py").is_file():
        raise UsageError(f"stage '{name}' has no module: write src/{PACKAGE}/stages/{name}.py")
    function = getattr(importlib.import_module(f"{PACKAGE}.stages.{name}"), name, None)
    if not callable(function):
        raise UsageError(f"stages/{name}.py has no function '{name}(cfg, run)'")
    schema = next(iter(inspect.signature(function, eval_str=True).parameters.values())).annotation
    if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
        raise UsageError(f"stages/{name}.py: write `def {name}(cfg: <its dataclass>, run: Run)`")
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
    return OmegaConf.to_yaml(resolved(cfg))


def changed_keys(old: Any, new: Any) -> list[str]:
    """`key: old -> new` for every dotted key whose value differs, values written as JSON."""
    was, now = _flat(old), _flat(new)
    pairs = {k: (was.get(k, UNSET), now.get(k, UNSET)) for k in sorted(was.keys() | now.keys())}
    return [f"{k}: {json.dumps(a)} -> {json.dumps(b)}" for k, (a, b) in pairs.items() if a != b]


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        return {prefix.rstrip("."): value}
    return {k: v for key, item in value.items() for k, v in _flat(item, f"{prefix}{key}.").items()}


def read_params(root: Path) -> tuple[DictConfig, str]:
    """params.yaml as DVC tracked it, and its text; refused in one line when missing or broken."""
    loaded, text = None, ""
    with contextlib.suppress(Exception):  # missing, unreadable, not YAML
        loaded = OmegaConf.create(text := (root / "params.yaml").read_text(encoding="utf-8"))
    if not isinstance(loaded, DictConfig):
        raise UsageError("params.yaml is missing or broken; rebuild it with `make params`")
    return loaded, text


def stale(root: Path) -> list[str]:
    """How params.yaml differs from conf/ composed now (empty: in step)."""
    try:
        old = OmegaConf.to_container(read_params(root)[0])
    except UsageError:
        return [MISSING]
    return changed_keys(old, OmegaConf.to_container(OmegaConf.create(render(compose(root)))))


def refresh(root: Path) -> list[str]:
    """Rewrite params.yaml from conf/ (unless `dvc exp run` composed it); return the changes."""
    if (exp := os.environ.get("DVC_EXP_NAME")) and (root / "params.yaml").is_file():  # and -S
        hook, text = root / ".hooks" / "find_keys.py", read_params(root)[1]  # an experiment's
        found = runpy.run_path(str(hook))["find_keys"] if hook.is_file() else lambda text: []
        for line, kind, _ in found(text):  # commit runs no git hook: the same check, here
            raise UsageError(f"params.yaml:{line}: {kind}: keys go in the environment, not in -S")
        write_text(root / ".dvc" / "tmp" / f"params-{exp}.yaml", text)  # what its stages must read
        return []  # `dvc exp run` composed params.yaml itself
    if changes := stale(root):
        write_text(root / "params.yaml", render(compose(root)))
    references = set(REFERENCE.findall(str(dvc_stages(root))))
    late = ", ".join(key for c in changes if (key := c.split(":")[0]) in references)
    if late and os.environ.get("DVC_STAGE"):  # DVC planned this run with the old paths
        raise UsageError(f"conf/ changed {late}, read by dvc.yaml: run `dvc repro` again")
    return changes


def check(root: Path) -> list[str]:
    """Every way dvc.yaml, stages/, conf/ and params.yaml disagree (empty: in step)."""
    stages = dvc_stages(root)
    names = [name for name in stages if name != PARAMS_STAGE]
    problems = [] if PARAMS_STAGE in stages else [f"dvc.yaml has no '{PARAMS_STAGE}' stage"]
    problems += [] if names else [NO_STAGE]
    lost = [path.stem for path in sorted(STAGES.glob("[!_]*.py")) if path.stem not in names]
    problems += [f"stages/{s}.py is not in dvc.yaml: add it (README: Add a stage)" for s in lost]
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
    """A stage's command, params, section, and deps covering each file it reads (code too)."""
    command = f"python -m {PACKAGE} stage={name}"
    problems = [] if stage.get("cmd") == command else [f"stage '{name}' must run `{command}`"]
    if name not in map(str, stage.get("params") or []):
        problems.append(f"stage '{name}' must track its own section: `params: [{name}]`")
    try:
        values = section(cfg, name, load_stage(name)[1])
    except UsageError as error:
        return [*problems, str(error)]
    paths = {key: _paths(stage.get(key), cfg) for key in ("deps", "outs", "metrics", "plots")}
    made = paths["outs"] + paths["metrics"] + paths["plots"]
    code = [(f"src/{PACKAGE}/stages/{m}.py", "its code") for m in sorted(_imported(name, set()))]
    read = [(os.path.normpath(v), f"{name}.{k}") for k, v in vars(values).items()
            if isinstance(v, str) and ("/" in v or "." in v.strip(".")) and Path(v).exists()
            and not os.path.isabs(v)]  # fmt: skip
    for path, what in code + [item for item in read if not _within(item[0], made)]:
        if not _within(path, paths["deps"]):
            problems.append(f"stage '{name}' reads {path} ({what}): add it to its deps in dvc.yaml")
    return problems


def _paths(entries: Any, cfg: DictConfig) -> list[str]:
    """The paths of a dvc.yaml list (deps, outs...), their `${...}` taken from `cfg`."""
    names = [next(iter(e)) if isinstance(e, dict) else e for e in entries or [] if e]
    sub = partial(REFERENCE.sub, lambda key: str(OmegaConf.select(cfg, key[1])))
    return [os.path.normpath(sub(str(name))) for name in names]


def _within(path: str, folders: list[str]) -> bool:
    return any(folder in (path, ".") or path.startswith(f"{folder}/") for folder in folders)


def _imported(name: str, seen: set[str]) -> set[str]:
    """Stage module `name` and the modules of stages/ it imports, directly or not."""
    text = (STAGES / f"{name}.py").read_text(encoding="utf-8")
    found = re.findall(rf"^\s*from (?:\.|{PACKAGE}\.stages\.)(\w+) import", text, re.MULTILINE)
    found += re.findall(r"^\s*from \. import (\w+)", text, re.MULTILINE)
    for module in {m for m in found if (STAGES / f"{m}.py").is_file()} - seen:
        seen |= _imported(module, seen | {name})
    return seen | {name}
