"""The template's runtime: run folders, logging, tracking and the command line.

Stages use two names from here: `Run`, the handle a stage receives, and
`Metrics`, what a stage returns. Everything else is machinery you should not
need to edit; it is kept small enough to read in one sitting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .run import Metrics, Run

__all__ = ["Metrics", "Run"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, so that `--help` and `runs ls` never import the run machinery.
    if name in __all__:
        from . import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
