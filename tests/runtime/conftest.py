"""Shared fixtures of the runtime's tests: the project, a copy of it to edit, and the command
line run as a user runs it.

These tests were the generated project's own until issue 22: they test the template's
runtime/, so they live in the template, rendered for the default package `my_project`, and
tests/test_runtime.py runs them with the Python of an installed bake, whose folder it gives in
RUNTIME_TESTS_PROJECT. The template's own collection skips this folder (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from my_project.runtime import cli, pipeline

if "RUNTIME_TESTS_PROJECT" not in os.environ:
    raise pytest.UsageError("tests/runtime/ runs inside a bake: run tests/test_runtime.py")
ROOT = Path(os.environ["RUNTIME_TESTS_PROJECT"]).resolve()  # the installed bake under test
PACKAGE = "my_project"
DVC_VARIABLES = ("DVC_STAGE", "DVC_EXP_NAME", "DVC_ROOT")

# Every option of every config group: (group, option), from conf/'s folders.
CONFIG_OPTIONS = sorted(
    (path.parent.relative_to(ROOT / "conf").as_posix(), path.stem)
    for path in (ROOT / "conf").rglob("*.yaml")
    if path.parent != ROOT / "conf"
)

# One made-up key of each shape the runtime redacts (built in pieces: no hook takes this file
# for a key store); a test puts them where a run writes or sends text and greps what it left.
FAKE_KEYS = {
    "B2 application key": "K004" + "x7Qm2Lp9Rt4Vw8Zb3Nc6Hd1Jf5G",
    "B2 application key id": "004" + "a1b2c3d4e5f6a7b8c9d0e1",
    "W&B API key": "wandb_v1_" + "Ab3" * 25 + "x_",
    "W&B API key (40 hex)": "3f9a" * 10,
    "AWS access key id": "AKIA" + "Q7WZ3NL5X2PD4HJR",
    "AWS secret access key": "wJa1rXUtnFEMI/K7MDENG/" + "bPxRfiCY4kq9ZtW2vY",
}

RunCli = Callable[..., subprocess.CompletedProcess[str]]
Main = Callable[..., tuple[int, str, str]]


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No tracker, no DVC around, and debug outputs (root: $TMPDIR/...) under tmp_path."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    for name in DVC_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def run_cli(isolated: None, tmp_path: Path) -> RunCli:
    """Run `python -m <package> ARGS` in a subprocess, with debug outputs under tmp_path."""

    def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", PACKAGE, *args],
            cwd=cwd,
            env={**os.environ, "WANDB_MODE": "disabled", "TMPDIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return run


@pytest.fixture
def main(
    isolated: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Main:
    """Run the command line in this process: its exit status, stdout and stderr."""

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", [PACKAGE, *args])
        monkeypatch.chdir(Path.cwd())  # main() moves to the project root; come back after
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            cli.main()
        out, err = capsys.readouterr()
        return int(exited.value.code or 0), out, err

    return run


@pytest.fixture
def project(isolated: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of conf/, dvc.yaml and a fresh params.yaml to edit, as the working directory.

    The stages' code is the package's own: `check` finds stages/ there.
    """
    root = tmp_path / "project"
    shutil.copytree(ROOT / "conf", root / "conf")
    shutil.copyfile(ROOT / "dvc.yaml", root / "dvc.yaml")
    shutil.copytree(ROOT / ".hooks", root / ".hooks")  # `params` runs the key finder in experiments
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(root)
    pipeline.refresh(root)
    return root


def files_holding(folder: Path, *texts: str) -> list[str]:
    """The files under `folder` (binary ones too) holding any of `texts`, by path inside it."""
    wanted = [text.encode() for text in texts]
    found = [path for path in folder.rglob("*") if path.is_file() and not path.is_symlink()]
    holding = [path for path in found if any(text in path.read_bytes() for text in wanted)]
    return sorted(str(path.relative_to(folder)) for path in holding)


def stage_names() -> list[str]:
    """The project's stages, in dvc.yaml's order."""
    return pipeline.stage_names(ROOT)


def read_yaml(path: Path) -> Any:
    """A YAML file as plain data."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def write_yaml(path: Path, data: Any) -> None:
    """Replace a YAML file (comments are lost; the copies under tmp_path do not need them)."""
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def set_conf(root: Path, key: str, value: Any) -> Any:
    """Set a dotted key of conf/config.yaml under `root`; return the value it had."""
    config = read_yaml(root / "conf" / "config.yaml")
    *parents, last = key.split(".")
    section = config
    for parent in parents:
        section = section[parent]
    old, section[last] = section.get(last), value
    write_yaml(root / "conf" / "config.yaml", config)
    return old


def seed_of(root: Path) -> int:
    """The seed in conf/config.yaml under `root`."""
    return int(read_yaml(root / "conf" / "config.yaml")["seed"])


@pytest.fixture
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let git commit without any global or system config, as on a fresh machine."""
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    # The user's global config (hooks, signing, default branch) must not change the test.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
