"""Quality tier: every Python version's bake installs from its lock and is clean.

For each supported Python version present on the machine: the shipped lock
matches pyproject.toml and installs with `uv sync --frozen`, and the project
passes its own lint, types and tests (with the runtime coverage floor) under
that interpreter. Other answers (license, bucket) change no Python file.
"""

from __future__ import annotations

import pytest
from conftest import DEFAULT_PKG, DEFAULTS, Bakery, require_ok, run
from pythons import find_python

pytestmark = pytest.mark.quality


@pytest.mark.parametrize("python_version", DEFAULTS["python_version"])  # type: ignore[arg-type]
def test_each_python_version_installs_from_its_lock_and_passes_lint_types_and_tests(
    bakery: Bakery, uv: str, python_version: str
) -> None:
    python = find_python(python_version)
    if python is None:
        pytest.skip(f"no Python {python_version} on this machine; uv never downloads one")
    project = bakery({"python_version": python_version, "license": "none"})
    require_ok(run([uv, "lock", "--check", "--python", python], cwd=project))
    require_ok(run([uv, "sync", "--frozen", "--python", python], cwd=project))
    version = require_ok(run([".venv/bin/python", "--version"], cwd=project)).stdout
    assert version.startswith(f"Python {python_version}.")
    code = f"import {DEFAULT_PKG}.runtime.cli, sklearn, dvc, wandb"
    require_ok(run([".venv/bin/python", "-c", code], cwd=project))
    require_ok(run(["make", "lint", f"UV={uv}"], cwd=project))
    tested = require_ok(
        run(["make", "test", f"UV={uv}"], cwd=project, env={"WANDB_MODE": "offline"})
    )
    assert "Required test coverage of 85% reached" in tested.stdout
