"""The template's runtime. Stages import from here only: `Run` (the handle a stage gets),
`Metrics` (what it returns), `UsageError` (bad input: one line, exit status 2), `replacing`
and `write_text` (files written whole or not at all), `find_runs` (earlier runs). Notebooks
and tests: `load_config` (conf/ composed) and `run_stage` (a run in this process).
"""

from .records import UsageError, replacing, write_text
from .run import Metrics, Run, load_config, run_stage
from .runs import find_runs

__all__ = [
    "Metrics",
    "Run",
    "UsageError",
    "find_runs",
    "load_config",
    "replacing",
    "run_stage",
    "write_text",
]
