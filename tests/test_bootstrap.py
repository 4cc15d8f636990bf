"""End to end: a generated project sets itself up on a machine with only python3, git and make.

PATH holds links to exactly those, a shell (make's recipes and git's hooks are
shell scripts) and coreutils; no uv. `make setup` installs uv into the project's
`.tools/` from the package index, and the git hooks of the first commit find it there.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import bake, require_ok, run

pytestmark = pytest.mark.e2e
SHELLS = ("bash", "sh")
COREUTILS = (
    "basename cat chmod cp cut date dirname env head id ln ls mkdir mktemp mv readlink"
    " realpath rm rmdir sort tail touch tr uname wc"
).split()


def bare_path(folder: Path) -> str:
    """A PATH of links to python3 (a real interpreter, not a shim), git, make, a shell
    and coreutils."""
    folder.mkdir()
    # The interpreter this environment was made from: it has pip and venv, as python3 does.
    python = Path(sys.base_prefix, "bin", f"python{sys.version_info.major}")
    (folder / "python3").symlink_to(python.resolve())
    for name in ("git", "make", *SHELLS, *COREUTILS):
        found = shutil.which(name)
        if found is None and name not in COREUTILS:
            pytest.fail(f"{name} is not on PATH: this test needs it")
        if found is not None:
            (folder / name).symlink_to(found)
    return str(folder)


def test_setup_and_a_commit_need_only_python_git_and_make(uv: str, tmp_path: Path) -> None:
    project = bake(tmp_path / "bake")
    path = bare_path(tmp_path / "bin")
    assert shutil.which("uv", path=path) is None
    # Nothing of the test's own tools leaks in: no uv, no virtual environment, no
    # variables that a calling make passes on. uv's cache is the machine's usual one.
    leaks = {"UV", "VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    env = {key: value for key, value in os.environ.items() if key not in leaks}
    cache = require_ok(run([uv, "cache", "dir"], cwd=tmp_path)).stdout.strip()
    env.update(PATH=path, UV_CACHE_DIR=cache, WANDB_MODE="disabled")
    env.update(
        {
            f"GIT_{who}_{what}": value
            for who in ("AUTHOR", "COMMITTER")
            for what, value in (("NAME", "Ada"), ("EMAIL", "ada@example.com"))
        }
    )

    require_ok(run(["make", "setup"], cwd=project, env=env))
    assert (project / ".tools" / "bin" / "uv").is_file()
    require_ok(run(["git", "add", "-A"], cwd=project, env=env))
    committed = require_ok(run(["git", "commit", "-m", "Start"], cwd=project, env=env))
    # The hooks ran (pre-commit names each one) and passed.
    shown = committed.stdout + committed.stderr
    assert "mypy --strict" in shown
    assert "Failed" not in shown
    assert require_ok(run(["git", "status", "--porcelain"], cwd=project, env=env)).stdout == ""
