"""Every option of every config group composes, and every stage's section fits its dataclass.

The groups and options are read from conf/'s folders and the stages from dvc.yaml,
so a new model, data set or stage is checked as soon as it exists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import CONFIG_OPTIONS, ROOT, compose, stage_names
from hydra.utils import get_object
from omegaconf import OmegaConf

from {{ cookiecutter.pkg_name }}.runtime import pipeline


def targets(node: Any) -> Iterator[str]:
    """Every `_target_` (a class that Hydra's instantiate builds) in a resolved config."""
    if isinstance(node, dict):
        if "_target_" in node:
            yield str(node["_target_"])
        for value in node.values():
            yield from targets(value)
    elif isinstance(node, list):
        for value in node:
            yield from targets(value)


@pytest.mark.usefixtures("isolated")
@pytest.mark.parametrize(
    ("group", "option"), CONFIG_OPTIONS, ids=[f"{g}={o}" for g, o in CONFIG_OPTIONS]
)
def test_each_config_option_composes_and_every_stage_section_fits_its_dataclass(
    group: str, option: str
) -> None:
    cfg = compose(f"stage={stage_names()[0]}", f"{group}={option}")
    resolved = OmegaConf.to_container(cfg, resolve=True)  # every ${...} resolves
    for target in targets(resolved):
        assert get_object(target), f"{group}={option}: _target_ {target} does not import"
    for name in stage_names():
        settings, _, section, _ = pipeline.prepared(ROOT, cfg, name)  # what a run of it gets
        assert (settings.stage, dataclasses.is_dataclass(section)) == (name, True)
