"""Quality tier: every Python version's bake installs from its lock and runs.

For each supported Python version present on the machine: the shipped lock
matches pyproject.toml and installs with `uv sync --frozen`, the project passes
its lint and types under that interpreter (mypy reads `python_version` from the
bake) and `make debug` runs every stage with that interpreter's locked packages
(numpy, scikit-learn and friends differ between versions): for the oldest and
the newest version; the ones between import the runtime and every stage. The
project's own test suite runs once, under the default version, in
test_make_it_yours.py after a researcher's edits. Other answers (license,
bucket) change no Python file. The locks of search=optuna match their pyproject.toml
too (their search is installed and run in test_search.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DEFAULTS, Bakery, make, require_ok, run
from pythons import find_python

pytestmark = pytest.mark.quality
VERSIONS: list[str] = DEFAULTS["python_version"]  # type: ignore[assignment]
ORDERED = sorted(VERSIONS, key=lambda version: tuple(map(int, version.split("."))))
EDGES = {ORDERED[0], ORDERED[-1]}  # the oldest and the newest: lint and every stage


@pytest.mark.parametrize("python_version", VERSIONS)
def test_each_python_version_installs_from_its_lock_passes_lint_and_runs_every_stage(
    bakery: Bakery, uv: str, python_version: str, tmp_path: Path
) -> None:
    python = find_python(python_version)
    if python is None:
        pytest.skip(f"no Python {python_version} on this machine; uv never downloads one")
    project = bakery({"python_version": python_version, "license": "none"})
    require_ok(run([uv, "lock", "--check", "--python", python], cwd=project))
    require_ok(run([uv, "sync", "--frozen", "--python", python], cwd=project))
    version = require_ok(run([".venv/bin/python", "--version"], cwd=project)).stdout
    assert version.startswith(f"Python {python_version}.")
    if python_version not in EDGES:  # between them: every module of the package imports
        package = project / "src" / project.name
        modules = [
            ".".join(path.relative_to(package.parent).with_suffix("").parts)
            for path in package.rglob("*.py")
        ]
        code = f"import importlib; [importlib.import_module(m) for m in {modules!r}]"
        require_ok(run([".venv/bin/python", "-c", code], cwd=project))
        return
    require_ok(make(project, "lint"))
    ran = require_ok(make(project, "debug", TMPDIR=str(tmp_path))).stdout  # debug's root
    stages = require_ok(run([".venv/bin/python", "-m", project.name, "stages"], cwd=project))
    assert [f"== {name}" for name in stages.stdout.split()] == [
        line for line in ran.splitlines() if line.startswith("== ")
    ]


@pytest.mark.parametrize("python_version", VERSIONS)
def test_each_pythons_search_lock_matches_the_dependencies(
    bakery: Bakery, uv: str, python_version: str
) -> None:
    python = find_python(python_version)
    if python is None:
        pytest.skip(f"no Python {python_version} on this machine; uv never downloads one")
    project = bakery({"python_version": python_version, "search": "optuna"})
    require_ok(run([uv, "lock", "--check", "--python", python], cwd=project))
