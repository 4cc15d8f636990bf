"""Logging to the console and to the run folder: text for people, JSON lines for tools."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s | %(message)s"
DATE_FORMAT = "%H:%M:%S"
ROOT_LOGGER = __name__.split(".")[0]


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as one line of JSON."""
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(
    log_file: Path | None, level: str, json_file: Path | None = None
) -> logging.Logger:
    """Send the project's log records to stderr and, if given, to a text and a JSON-lines file."""
    logger = logging.getLogger(ROOT_LOGGER)
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"runtime.log_level '{level}' is not a level; try INFO or DEBUG")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(numeric)
    logger.propagate = False
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
    logger.addHandler(console)
    if log_file is not None:
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(logging.Formatter(FORMAT, "%Y-%m-%dT%H:%M:%S"))
        logger.addHandler(to_file)
    if json_file is not None:
        to_json = logging.FileHandler(json_file, encoding="utf-8")
        to_json.setFormatter(JsonLinesFormatter())
        logger.addHandler(to_json)
    return logger


def stage_logger(stage: str) -> logging.Logger:
    """Return the logger a stage writes to: `<package>.<stage>`."""
    return logging.getLogger(f"{ROOT_LOGGER}.{stage}")
