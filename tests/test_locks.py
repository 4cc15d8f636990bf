"""End-to-end tier: the lock file shipped for each Python version matches and installs."""

from __future__ import annotations

import pytest
from conftest import DEFAULT_PKG, DEFAULTS, Bakery, require_ok, run
from pythons import find_python

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("python_version", DEFAULTS["python_version"])  # type: ignore[arg-type]
def test_the_shipped_lock_installs_for_each_python_version(
    bakery: Bakery, uv: str, python_version: str
) -> None:
    python = find_python(python_version)
    if python is None:
        pytest.skip(f"no Python {python_version} on this machine; uv never downloads one")
    project = bakery({"python_version": python_version})
    require_ok(run([uv, "lock", "--check", "--python", python], cwd=project))
    require_ok(run([uv, "sync", "--frozen", "--python", python], cwd=project))
    code = f"import {DEFAULT_PKG}.runtime.cli, sklearn, dvc, wandb"
    require_ok(run([".venv/bin/python", "-c", code], cwd=project))
