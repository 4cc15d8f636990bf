"""Logging to the console and to the run folder, in one format."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s | %(message)s"
DATE_FORMAT = "%H:%M:%S"
ROOT_LOGGER = __name__.split(".")[0]


def configure_logging(log_file: Path | None, level: str) -> logging.Logger:
    """Send the project's log records to stderr and, if given, to `log_file`."""
    logger = logging.getLogger(ROOT_LOGGER)
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"runtime.log_level '{level}' is not a level; try INFO or DEBUG")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(numeric)
    logger.propagate = False
    formatter = logging.Formatter(FORMAT, DATE_FORMAT)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(formatter)
    logger.addHandler(console)
    if log_file is not None:
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(logging.Formatter(FORMAT, "%Y-%m-%dT%H:%M:%S"))
        logger.addHandler(to_file)
    return logger


def stage_logger(stage: str) -> logging.Logger:
    """Return the logger a stage writes to: `<package>.<stage>`."""
    return logging.getLogger(f"{ROOT_LOGGER}.{stage}")
