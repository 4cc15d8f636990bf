"""Logging to the console and to the run folder: text for people, JSON lines for tools."""

from __future__ import annotations

import json
from logging import FileHandler, Formatter, Logger, LogRecord, StreamHandler, getLogger
from pathlib import Path

from .records import UsageError

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ROOT_LOGGER = __name__.split(".")[0]  # the package: stages log below it
TEXT = Formatter("%(asctime)s %(levelname)-7s %(name)s | %(message)s", "%Y-%m-%dT%H:%M:%S%z")


class JsonLines(Formatter):
    """Each record as one line of JSON: time, level, logger, message, traceback (or null)."""

    def format(self, record: LogRecord) -> str:  # Formatter's own method: called by the handler
        TEXT.format(record)  # sets record.asctime, .message and .exc_text (the traceback or None)
        entry = dict(time=record.asctime, level=record.levelname, logger=record.name)
        return json.dumps(entry | dict(message=record.message, traceback=record.exc_text))


def configure_logging(log_file: Path | None, level: str, json_file: Path | None = None) -> Logger:
    """Send the package's log records to stderr and, if given, to a text and a JSON-lines file."""
    if level.upper() not in LEVELS:
        raise UsageError(f"runtime.log_level '{level}' is not one of {', '.join(LEVELS)}")
    logger = getLogger(ROOT_LOGGER)
    for old in logger.handlers:  # a second run in one process replaces the first's handlers
        old.close()
    logger.handlers = [StreamHandler()]
    logger.handlers += [FileHandler(p, encoding="utf-8") for p in (log_file, json_file) if p]
    for handler in logger.handlers:  # the JSON lines file, if any, is the last one
        handler.setFormatter(JsonLines() if json_file and handler is logger.handlers[-1] else TEXT)
    logger.setLevel(level.upper())
    logger.propagate = False  # Hydra or a library may give the root logger handlers as well
    return logger


def stage_logger(stage: str) -> Logger:
    """Return the logger a stage writes to: `<package>.<stage>`."""
    return getLogger(f"{ROOT_LOGGER}.{stage}")
