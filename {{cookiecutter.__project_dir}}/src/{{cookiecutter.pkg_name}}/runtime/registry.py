"""Find stages by name, read their one-line summaries, and load them on demand.

Nothing heavy is imported here: summaries come from the stage modules' source,
so `--help` stays fast even though stages import numpy and scikit-learn.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from ..stages import PIPELINE

if TYPE_CHECKING:
    from ..config import Config
    from .run import Metrics, Run

StageFn = Callable[["Config", "Run"], "Metrics"]
STAGES_PACKAGE = __name__.rsplit(".", 2)[0] + ".stages"


class UnknownStageError(ValueError):
    """A stage name that is not in the pipeline."""


def stage_names() -> tuple[str, ...]:
    """Return every stage name, in pipeline order."""
    return PIPELINE


def check_stage(name: str) -> None:
    """Raise UnknownStageError unless `name` is a stage of the pipeline."""
    if name not in PIPELINE:
        raise UnknownStageError(f"unknown stage '{name}'; known: {', '.join(PIPELINE)}")


def summary(name: str) -> str:
    """Return the first line of a stage module's docstring, without importing it."""
    check_stage(name)
    spec = importlib.util.find_spec(f"{STAGES_PACKAGE}.{name}")
    if spec is None or spec.origin is None:
        return "(module missing)"
    with open(spec.origin, encoding="utf-8") as source:
        docstring = ast.get_docstring(ast.parse(source.read()))
    return docstring.strip().splitlines()[0] if docstring else ""


def load_stage(name: str) -> StageFn:
    """Import a stage module and return its function of the same name."""
    check_stage(name)
    module = importlib.import_module(f"{STAGES_PACKAGE}.{name}")
    function = getattr(module, name, None)
    if not callable(function):
        raise UnknownStageError(f"stages/{name}.py has no function '{name}(cfg, run)'")
    return cast(StageFn, function)
