"""The runtime's public API, all that stages, notebooks and tests import (see each's docstring)."""

from .records import UsageError, replacing, write_text
from .run import Metrics, Run, load_config, run_stage
from .runs import find_runs

__all__ = ["Metrics", "Run", "UsageError", "find_runs", "load_config", "replacing", "run_stage"]
__all__ += ["write_text"]
