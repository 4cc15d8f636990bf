"""End-to-end tier: the runtime's own tests (tests/runtime/), run in the installed default bake.

Until issue 22 they were the generated project's tests; they test the template's runtime/
(run records, signals, provenance, tracking, `check`, the command line, `runs`, `remote`,
sweeps, notebooks), not the user's code, so the template runs them against a bake: one pytest
session in the shared installed project (`prepared`), one test here per runtime test function,
which fails with that function's report. The tests of an option's runtime code run in a bake
with that option (runtime_suite.OPTION_FILES): test_runtime_search.py, test_pytorch.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import runtime_suite
from runtime_suite import Results

pytestmark = pytest.mark.e2e
FILES = sorted(
    path.name
    for path in runtime_suite.RUNTIME.glob("test_*.py")
    if path.name not in runtime_suite.OPTION_FILES
)


@pytest.fixture(scope="module")
def results(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Results:
    """The runtime's tests, run once in the shared installed project."""
    return runtime_suite.run(prepared, FILES, tmp_path_factory.mktemp("runtime-tests"))


@pytest.mark.parametrize("test", runtime_suite.functions(*FILES))
def test_the_runtime_behaves_as_its_test_says(results: Results, test: str) -> None:
    results.check(test)
