"""Finish the generated project: keep the chosen options' files, start git.

Runs inside the new project folder, never prompts, and touches no global
configuration: git gets its settings on the command line of each call.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

# Cookiecutter renders the answers into this raw string as JSON (see pre_gen_project.py).
ANSWERS: dict[str, Any] = json.loads(r'''{{ cookiecutter | tojson }}''')  # fmt: skip
PYTHON_VERSION = str(ANSWERS["python_version"])
LICENSE = str(ANSWERS["license"])
DIST_NAME = str(ANSWERS["__dist_name"])
# The lock files are made by the template's `make locks` for a stand-in project
# of this name; only the root package's name differs between projects.
LOCK_PLACEHOLDER = 'name = "lockproject"'
LOCKS = Path(".template-locks")


def install_lock() -> None:
    """Put the lock file for the chosen Python version in place as uv.lock."""
    lock = (LOCKS / f"py{PYTHON_VERSION}.lock").read_text(encoding="utf-8")
    if lock.count(LOCK_PLACEHOLDER) != 1:
        raise SystemExit(f"error: the template's lock for Python {PYTHON_VERSION} is damaged")
    Path("uv.lock").write_text(
        lock.replace(LOCK_PLACEHOLDER, f'name = "{DIST_NAME}"'), encoding="utf-8"
    )
    shutil.rmtree(LOCKS)


def prune_license() -> None:
    """Drop the LICENSE file when the project has none."""
    if LICENSE == "none":
        Path("LICENSE").unlink()


def git_init() -> None:
    """Make the project a git repository on branch main, if git is installed."""
    if shutil.which("git") is None:
        print(
            "note: git is not installed; run 'git init -b main' in the project later",
            file=sys.stderr,
        )
        return
    subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "init", "--quiet", "--initial-branch=main"],
        check=True,
    )


def main() -> int:
    """Run every finishing step in order."""
    install_lock()
    prune_license()
    git_init()
    return 0


if __name__ == "__main__":
    sys.exit(main())
