"""Shared helpers: the project's stages and config options, debug runs kept out of the project.

These tests check your code and the pipeline's contract: conf/ composes, every stage runs in
debug mode and writes what dvc.yaml declares, `check` passes. Nothing here names the example's
stages, data, models or values: the stages come from dvc.yaml and the options from conf/'s
folders, so the tests keep passing as the project becomes yours. (The template tests its
runtime/ itself.)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from omegaconf import DictConfig

from {{ cookiecutter.pkg_name }}.runtime import cli, load_config, pipeline

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "{{ cookiecutter.pkg_name }}"
DEBUG = "debug=default"  # conf/debug/default.yaml: a few rows, a temporary root, no tracker
DVC_VARIABLES = ("DVC_STAGE", "DVC_EXP_NAME", "DVC_ROOT")  # set when DVC runs a stage

# Every option of every config group, as (group, option), from conf/'s folders.
CONFIG_OPTIONS = sorted(
    (path.parent.relative_to(ROOT / "conf").as_posix(), path.stem)
    for path in (ROOT / "conf").rglob("*.yaml")
    if path.parent != ROOT / "conf"
)

Main = Callable[..., tuple[int, str, str]]


def stage_names() -> list[str]:
    """The project's stages, in dvc.yaml's order."""
    return pipeline.stage_names(ROOT)


def read_yaml(path: Path) -> Any:
    """A YAML file as plain data."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose(*overrides: str) -> DictConfig:
    """conf/ composed with `overrides`, as a run gets it."""
    return load_config(overrides)


def isolate(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """No tracker and no DVC around; debug runs (root: $TMPDIR/...) go under `folder`."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("TMPDIR", str(folder))
    for name in DVC_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Debug runs under tmp_path, no tracker, no DVC around."""
    isolate(monkeypatch, tmp_path)


@pytest.fixture
def main(
    isolated: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Main:
    """`python -m <package> ARGS`, run in this process: its exit status, stdout and stderr."""

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", [PACKAGE, *args])
        monkeypatch.chdir(Path.cwd())  # main() moves to the project root; come back after
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            cli.main()
        out, err = capsys.readouterr()
        return int(exited.value.code or 0), out, err

    return run
