"""Running the runtime's tests (tests/runtime/) inside an installed bake, one test here per
test function there.

The runtime's tests import the baked package, so they run with the bake's Python, in one
pytest session per bake (the project's libraries imported once), from a copy of
tests/runtime/ (no __pycache__ left in the template). Their JUnit report says how each case
ended; `Results.check` fails a test of the template with the report of the runtime test it
stands for.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

RUNTIME = Path(__file__).resolve().parent / "runtime"
# Files that test an option's runtime code, run in a bake with that option (the others run in
# the default bake, test_runtime.py).
OPTION_FILES = {
    "test_search.py": "search=optuna (test_runtime_search.py)",
    "test_gpus.py": "framework=pytorch (test_pytorch.py)",
}
# The notebook test runs notebooks/ in a kernel: nbclient and ipykernel are not in the bake's
# lock (`make notebook` adds JupyterLab the same way, for the command only).
WITH = {"test_notebooks.py": ("nbclient>=0.10", "ipykernel>=6.29")}
TIMEOUT_S = 1800  # the whole session, on a loaded 2-core machine


def functions(*files: str) -> list[str]:
    """`file::function` for every test function of these files of tests/runtime/."""
    found = []
    for name in files:
        tree = ast.parse((RUNTIME / name).read_text(encoding="utf-8"))
        found += [
            f"{name}::{node.name}"
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        ]
    return found


@dataclass
class Case:
    """How one case (a parametrized call) of a runtime test ended, and its report."""

    name: str
    outcome: str  # passed | failed | error | skipped
    report: str = ""


@dataclass
class Results:
    """The cases of each runtime test function, and the tail of pytest's output."""

    cases: dict[str, list[Case]] = field(default_factory=dict)
    output: str = ""

    def check(self, test: str) -> None:
        """Fail unless every case of `test` passed (some may skip; not all of them)."""
        cases = self.cases.get(test)
        if not cases:
            pytest.fail(f"{test} did not run in the bake:\n{self.output}", pytrace=False)
        bad = [case for case in cases if case.outcome in ("failed", "error")]
        if bad:
            reports = "\n\n".join(f"{case.name} {case.outcome}:\n{case.report}" for case in bad[:3])
            more = f"\n\n... and {len(bad) - 3} more cases" * (len(bad) > 3)
            summary = f"{len(bad)} of {len(cases)} cases of {test}"
            pytest.fail(f"{summary}:\n{reports}{more}", pytrace=False)
        if all(case.outcome == "skipped" for case in cases):
            pytest.fail(f"{test} skipped every case: {cases[0].report}", pytrace=False)


def run(project: Path, files: list[str], folder: Path) -> Results:
    """Run these files of tests/runtime/ in an installed bake; their results by test function."""
    suite = folder / "runtime"
    shutil.copytree(RUNTIME, suite, ignore=shutil.ignore_patterns("__pycache__"))
    report = folder / "junit.xml"
    uv = os.environ.get("UV") or "uv"
    wanted = [requirement for name in files for requirement in WITH.get(name, ())]
    extra = [arg for requirement in wanted for arg in ("--with", requirement)]
    command = [uv, "run", "--frozen", *extra, "python", "-m", "pytest", "-q"]
    command += ["--continue-on-collection-errors", "-c"]
    command += [str(suite / "pytest.ini"), "--rootdir", str(suite), f"--junitxml={report}"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIRTUAL_ENV"))}
    done = subprocess.run(
        [*command, *(str(suite / name) for name in files)],
        cwd=project,
        env={**clean, "RUNTIME_TESTS_PROJECT": str(project), "WANDB_MODE": "disabled"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    results = Results(output=(done.stdout + done.stderr)[-6000:])
    if not report.is_file():  # pytest did not start (uv, an import in conftest.py)
        return results
    for case in ET.parse(report).iter("testcase"):
        module, name = case.get("classname", ""), case.get("name", "")
        outcome, text = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "failed" if child.tag == "failure" else child.tag
                message, trace = (child.get("message") or "")[:600], (child.text or "").strip()
                text = f"{message}\n{'...' * (len(trace) > 2400)}{trace[-2400:]}".strip()
        key = f"{module.rpartition('.')[2]}.py::{name.partition('[')[0]}"
        results.cases.setdefault(key, []).append(Case(name, outcome, text))
    return results
