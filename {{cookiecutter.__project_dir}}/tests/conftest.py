"""Shared fixtures: the project root and a helper that runs the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "{{ cookiecutter.pkg_name }}"

RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli(tmp_path: Path) -> RunCli:
    """Run `python -m <package> ARGS` in a subprocess, with runs kept under tmp_path."""

    def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "WANDB_MODE": "disabled", "TMPDIR": str(tmp_path)}
        return subprocess.run(
            [sys.executable, "-m", PACKAGE, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return run


@pytest.fixture
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let git commit without any global or system config, as on a fresh machine."""
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    # The user's global config (hooks, signing, default branch) must not change the test.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
