"""Every option of every config group composes, and every stage's section fits its dataclass.

The groups and options are read from conf/'s folders and the stages from dvc.yaml,
so a new model, data set or stage is checked as soon as it exists.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import CONFIG_OPTIONS, ROOT, stage_names
from hydra.utils import get_object
from omegaconf import OmegaConf

from {{ cookiecutter.pkg_name }}.runtime import pipeline
from {{ cookiecutter.pkg_name }}.runtime.cli import prepared
from {{ cookiecutter.pkg_name }}.runtime.records import UsageError

NUMBERS = (int, float, int | None, float | None)


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
    cfg = pipeline.compose(ROOT, [f"stage={stage_names()[0]}", f"{group}={option}"])
    resolved = OmegaConf.to_container(cfg, resolve=True)  # every ${...} resolves
    for target in targets(resolved):
        assert get_object(target), f"{group}={option}: _target_ {target} does not import"
    for name in stage_names():
        settings, _, section, _ = prepared(ROOT, cfg, name)  # what a run of the stage gets
        assert (settings.stage, dataclasses.is_dataclass(section)) == (name, True)


@pytest.mark.parametrize("name", stage_names())
def test_a_stage_refuses_an_unknown_key_or_a_wrong_type_naming_the_key(name: str) -> None:
    schema = pipeline.load_stage(name)[1]
    with pytest.raises(UsageError, match=rf"'{name}\.no_such_key'"):
        pipeline.section(pipeline.compose(ROOT, [f"+{name}.no_such_key=1"]), name, schema)
    hints = typing.get_type_hints(schema)
    for field in dataclasses.fields(schema):
        if hints[field.name] in NUMBERS:
            wrong = pipeline.compose(ROOT, [f"{name}.{field.name}=not-a-number"])
            with pytest.raises(UsageError, match=rf"'{name}\.{field.name}'") as error:
                pipeline.section(wrong, name, schema)
            assert "\n" not in str(error.value)
