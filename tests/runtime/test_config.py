"""A stage's section is checked against its dataclass: an unknown key or a wrong type is named.

The stages are read from dvc.yaml, so the check covers every stage of the bake.
"""

from __future__ import annotations

import dataclasses
import typing

import pytest
from conftest import ROOT, stage_names
from my_project.runtime import pipeline
from my_project.runtime.records import UsageError

NUMBERS = (int, float, int | None, float | None)


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
