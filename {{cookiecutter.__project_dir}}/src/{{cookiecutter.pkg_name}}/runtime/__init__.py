"""The template's runtime: run folders, logging, tracking and the command line.

Stages import from here only: `Run` (the handle a stage receives), `Metrics` (what it
returns), `UsageError` (bad input: one line, exit status 2), `replacing` and `write_text`
(files written whole or not at all), `find_runs` (earlier runs, for notebooks).
Everything else is machinery, small enough to read in one sitting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .records import UsageError, replacing, write_text

if TYPE_CHECKING:
    from .run import Metrics, Run
    from .runs import find_runs

__all__ = ["Metrics", "Run", "UsageError", "find_runs", "replacing", "write_text"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, so that `--help` and `runs ls` never import the run machinery.
    if name in ("Metrics", "Run"):
        from . import run

        return getattr(run, name)
    if name == "find_runs":
        from .runs import find_runs

        return find_runs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
