"""The reliability report: what the tests did to the template and its projects, and what happened.

A test that provokes a failure (a bad answer, a crash, a signal, a dead server,
a secret in a commit) ends, once its assertions have passed, with

    reliability.record("Signals", "SIGTERM during training", "recorded as interrupted", lost=0)

where `lost` is what the test counted: files that should be whole afterwards but
are missing or unreadable, or files left behind by something that was refused.
The test writes the row once it has checked what the row says happened, and
then asserts that `lost` is zero.
`make test` passes `--reliability-report=docs/reliability.md`; at the end of the
session the rows of every worker are written there as one table, which says
so when the run had failing tests.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

ROWS_DIR = "TEMPLATE_RELIABILITY_ROWS"
# The order of the areas in the report.
AREAS = (
    "Bad answers",
    "Bad overrides",
    "Crashes",
    "Signals",
    "Concurrency",
    "Sweeps",
    "Storage (B2)",
    "Storage (disk)",
    "Credentials",
    "Commits",
)


@dataclass(frozen=True)
class Row:
    """One thing tried and what happened."""

    area: str
    tried: str
    happened: str
    lost: int
    test: str


class Recorder:
    """What a test hands its rows to; they go to a file of the worker's own."""

    def __init__(self, folder: Path, test: str) -> None:
        self._file = folder / f"rows-{os.getpid()}.jsonl"
        self._test = test

    def record(self, area: str, tried: str, happened: str, lost: int) -> None:
        """Add a row to the report."""
        if area not in AREAS:
            raise ValueError(f"area '{area}' is not one of {', '.join(AREAS)}")
        row = Row(area, tried, happened, int(lost), self._test)
        with self._file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(row)) + "\n")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reliability-report",
        metavar="PATH",
        default=None,
        help="write the reliability report (markdown) to PATH at the end of the session",
    )


def pytest_configure(config: pytest.Config) -> None:
    # The controller (or a run without xdist) makes the folder; workers inherit it.
    if not hasattr(config, "workerinput") and ROWS_DIR not in os.environ:
        os.environ[ROWS_DIR] = tempfile.mkdtemp(prefix="reliability-rows-")


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Recorder:
    """Record rows of the reliability report from this test."""
    return Recorder(Path(os.environ[ROWS_DIR]), request.node.nodeid)


def read_rows(folder: Path) -> list[Row]:
    """Every row recorded in this session, in report order."""
    rows = []
    for path in sorted(folder.glob("rows-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            rows.append(Row(**json.loads(line)))
    return sorted(rows, key=lambda row: (AREAS.index(row.area), row.test, row.tried))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows: list[Row], failed: int) -> str:
    """The report as markdown."""
    lost = sum(row.lost for row in rows)
    lines = [
        "# Reliability report",
        "",
        "What the template's tests did to generated projects, and what happened. Generated",
        "by `make test` from the tests' own measurements (`tests/reliability.py`): a test",
        "writes its row once it has checked what the row says happened. *Files lost*",
        "counts files that should have been whole afterwards but were missing or",
        "unreadable, and files left behind by something that was refused; each test",
        "fails when its count is not zero, the target.",
        "",
    ]
    if failed:
        lines += [f"**This run had {failed} failing tests: the table is incomplete.**", ""]
    lines += [
        f"{len(rows)} things tried, {lost} files lost.",
        "",
        "| Area | What was tried | What happened | Files lost | Test |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for row in rows:
        test = row.test.split("::", 1)
        where = f"`{Path(test[0]).name}::{test[1]}`" if len(test) == 2 else f"`{row.test}`"
        lines.append(
            f"| {row.area} | {_cell(row.tried)} | {_cell(row.happened)} | {row.lost} | "
            f"{_cell(where)} |"
        )
    return "\n".join(lines) + "\n"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    target = config.getoption("--reliability-report")
    if hasattr(config, "workerinput") or not target:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    failed = len(reporter.stats.get("failed", [])) if reporter else 0
    failed += len(reporter.stats.get("error", [])) if reporter else 0
    rows = read_rows(Path(os.environ[ROWS_DIR]))
    Path(target).write_text(render(rows, failed), encoding="utf-8")
