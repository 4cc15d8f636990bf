"""End-to-end tier: the runtime's search tests (tests/runtime/test_search.py) in a bake with
`search=optuna`: workers sharing one Optuna study, each trial a run, a killed trial failing
alone, bad search configs refused in one line. One test here per runtime test function.
"""

from __future__ import annotations

import pytest
import runtime_suite
from conftest import Bakery, install
from runtime_suite import Results

pytestmark = pytest.mark.e2e
FILES = ["test_search.py"]


@pytest.fixture(scope="module")
def results(bakery: Bakery, uv: str, tmp_path_factory: pytest.TempPathFactory) -> Results:
    """The search tests, run once in an installed `search=optuna` bake."""
    folder = tmp_path_factory.mktemp("search")
    project = install(bakery, folder, {"search": "optuna"})
    return runtime_suite.run(project, FILES, folder)


@pytest.mark.parametrize("test", runtime_suite.functions(*FILES))
def test_search_behaves_as_its_test_says(results: Results, test: str) -> None:
    results.check(test)
