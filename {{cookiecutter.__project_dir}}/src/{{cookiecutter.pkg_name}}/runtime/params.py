"""params.yaml: the resolved config that DVC tracks, composed from conf/.

`dvc exp run` composes params.yaml itself (Hydra support in .dvc/config), with
any `-S` overrides. `dvc repro` does not, so the pipeline's first stage,
`params`, runs `python -m <package> params` whenever conf/ changes and rewrites
params.yaml before any other stage looks at it. Stages run by DVC read
params.yaml, never conf/, so both commands train on exactly what DVC recorded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..config import Config, to_typed
from .records import write_text

PARAMS_FILE = "params.yaml"
# The `params` stage's only declared output: constant, so it never triggers a re-run,
# but every stage after it in dvc.yaml depends on it, so DVC always runs `params` first.
ORDER_FILE = ".dvc-params-order"
ORDER_TEXT = "Output of the `params` stage in dvc.yaml: it orders the stages. Do not edit.\n"
# Set by DVC for every stage command it runs, and for experiments only.
DVC_STAGE = "DVC_STAGE"
DVC_EXP_NAME = "DVC_EXP_NAME"


def compose(root: Path, overrides: list[str] | None = None) -> DictConfig:
    """Compose conf/config.yaml with `overrides`, the way DVC does, without Hydra's node."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(root / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=overrides or [])


def render(cfg: DictConfig) -> str:
    """The text of params.yaml for a composed config: resolved, byte for byte as DVC writes it."""
    resolved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    OmegaConf.resolve(resolved)
    return OmegaConf.to_yaml(resolved)


def changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        dotted = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_keys(a, b, f"{dotted}.")
        elif a != b:
            keys.append(f"{dotted}: {a!r} -> {b!r}")
    return keys


def refresh(root: Path) -> list[str]:
    """Rewrite params.yaml from conf/ (checked against the schema); return what changed.

    Inside `dvc exp run`, DVC has just composed params.yaml with the `-S`
    overrides, so it is only checked, never rewritten.
    """
    target = root / PARAMS_FILE
    order = root / ORDER_FILE
    if not order.exists() or order.read_text(encoding="utf-8") != ORDER_TEXT:
        write_text(order, ORDER_TEXT)
    if os.environ.get(DVC_EXP_NAME) and target.exists():
        load(root, stage=None)
        return []
    cfg = compose(root)
    to_typed(_with_stage(OmegaConf.to_container(cfg, resolve=True), "params"))
    text = render(cfg)
    old = OmegaConf.to_container(OmegaConf.load(target)) if target.exists() else {}
    new = OmegaConf.to_container(OmegaConf.create(text))
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        write_text(target, text)
    return changed_keys(_as_dict(old), _as_dict(new))


def load(root: Path, stage: str | None) -> Config:
    """Read params.yaml (as DVC tracked it) and check it against the schema."""
    target = root / PARAMS_FILE
    if not target.exists():
        raise FileNotFoundError(
            f"{target} does not exist; run `dvc repro` (its first stage writes it)"
        )
    raw = OmegaConf.to_container(OmegaConf.load(target), resolve=True)
    return to_typed(_with_stage(raw, stage or "params"))


def under_dvc() -> bool:
    """Tell whether DVC is running this process as a stage command."""
    return bool(os.environ.get(DVC_STAGE))


def _with_stage(raw: object, stage: str) -> dict[str, Any]:
    data = _as_dict(raw)
    data["stage"] = stage
    return data


def _as_dict(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError(f"{PARAMS_FILE} must hold a mapping at the top level")
    return {str(key): value for key, value in raw.items()}
