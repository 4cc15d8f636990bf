"""The framework=pytorch variant, baked for the default Python and installed once: its lint
(ruff, mypy --strict), its own tests (which resume training after SIGTERM to the same metrics,
requeue a preempted submitit job, train with DDP on two CPU processes, refuse training settings
out of range, and run every stage in debug mode), the runtime's tests of its GPU provenance
(tests/runtime/test_gpus.py, run in this bake), the debug pipeline and `dvc repro`.

Marker `pytorch` (`make test-pytorch`; .ci/run runs it after `make test`): the CUDA build of
torch takes about 3 GB to download the first time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import runtime_suite
from conftest import DEFAULTS, Bakery, dvc_ran, install, make, require_ok, run
from pythons import find_python
from runtime_suite import Results

pytestmark = pytest.mark.pytorch
OPTIONS = {"framework": "pytorch"}
RUNTIME_FILES = ["test_gpus.py"]  # the runtime's code of this variant only (GPU provenance)


@pytest.fixture(scope="module")
def project(bakery: Bakery, uv: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pytorch bake after `make setup` (uv sync of the locked torch and Lightning)."""
    return install(bakery, tmp_path_factory.mktemp("pytorch"), OPTIONS)


@pytest.mark.parametrize("search", DEFAULTS["search"])  # type: ignore[arg-type]
@pytest.mark.parametrize("python_version", DEFAULTS["python_version"])  # type: ignore[arg-type]
def test_each_pythons_pytorch_lock_matches_the_dependencies(
    bakery: Bakery, uv: str, python_version: str, search: str
) -> None:
    python = find_python(python_version)
    if python is None:
        pytest.skip(f"no Python {python_version} on this machine; uv never downloads one")
    baked = bakery({**OPTIONS, "python_version": python_version, "search": search})
    require_ok(run([uv, "lock", "--check", "--python", python], cwd=baked))


@pytest.fixture(scope="module")
def runtime_results(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Results:
    """The runtime's pytorch-only tests (tests/runtime/test_gpus.py), run in this bake."""
    return runtime_suite.run(project, RUNTIME_FILES, tmp_path_factory.mktemp("runtime-tests"))


@pytest.mark.parametrize("test", runtime_suite.functions(*RUNTIME_FILES))
def test_the_runtime_behaves_as_its_test_says(runtime_results: Results, test: str) -> None:
    runtime_results.check(test)


def test_lint_passes(project: Path) -> None:
    require_ok(make(project, "lint"))


def test_the_projects_own_tests_pass(project: Path) -> None:
    result = require_ok(make(project, "test"))
    assert re.search(r"^=+ \d+ passed", result.stdout, re.MULTILINE), result.stdout[-2000:]
    # The Lightning tests ran; the one skip is a feature of the sklearn train only (load_from).
    skips = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert all("load_from" in line for line in skips), skips


def test_debug_then_repro_trains_and_scores_the_best_checkpoint(project: Path) -> None:
    require_ok(make(project, "debug"))
    require_ok(make(project, "repro"))
    metrics = json.loads((project / "reports" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["accuracy"] > 0.8  # digits, an MLP: about 0.97
    lock = (project / "dvc.lock").read_text(encoding="utf-8")
    assert "models/model.ckpt" in lock
    again = require_ok(make(project, "repro"))
    assert [stage for stage in dvc_ran(again) if stage != "params"] == []  # nothing changed
