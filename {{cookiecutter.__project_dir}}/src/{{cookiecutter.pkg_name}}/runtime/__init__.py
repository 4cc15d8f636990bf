"""The template's runtime: run folders, logging, tracking and the command line.

Stages use two names from here: `Run`, the handle a stage receives, and
`Metrics`, what a stage returns. Everything else is machinery you should not
need to edit; it is kept small enough to read in one sitting.
"""

from .run import Metrics, Run

__all__ = ["Metrics", "Run"]
