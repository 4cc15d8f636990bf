"""The command line as a user meets it: help, stage names, config errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import RunCli

from {{ cookiecutter.pkg_name }}.runtime import registry


def test_help_lists_every_stage_with_its_summary(run_cli: RunCli) -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    for name in registry.stage_names():
        summary = registry.summary(name)
        assert summary, f"stages/{name}.py needs a module docstring"
        assert f"{name}" in result.stdout
        assert summary in result.stdout
    assert "model: mlp, ridge" in result.stdout


def test_unknown_stage_names_the_known_ones_and_fails(run_cli: RunCli) -> None:
    result = run_cli("stage=trian")
    assert result.returncode != 0
    known = ", ".join(registry.stage_names())
    assert f"unknown stage 'trian'; known: {known}" in result.stderr


def test_missing_stage_is_refused_with_a_hint(run_cli: RunCli) -> None:
    result = run_cli("train.epochs=3")
    assert result.returncode == 2
    assert "no stage given; add stage=NAME" in result.stderr


def test_a_wrong_type_names_the_key(run_cli: RunCli) -> None:
    result = run_cli("stage=train", "train.epochs=many", "debug=default")
    assert result.returncode != 0
    assert "train.epochs" in result.stderr


def test_an_unknown_key_names_the_key(run_cli: RunCli) -> None:
    result = run_cli("stage=train", "model.depth=3", "debug=default")
    assert result.returncode != 0
    assert "model.depth" in result.stderr


def test_the_cli_works_from_another_directory(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "prepare" in result.stdout


def test_dvc_yaml_runs_exactly_the_registered_stages() -> None:
    from {{ cookiecutter.pkg_name }}.runtime.pipeline import check_dvc_yaml

    assert check_dvc_yaml(Path(__file__).resolve().parents[1]) == []


def test_params_reports_which_values_changed() -> None:
    from {{ cookiecutter.pkg_name }}.runtime.params import changed_keys

    old = {"train": {"epochs": 30, "batch_size": 32}, "seed": 1}
    new = {"train": {"epochs": 12, "batch_size": 32}, "seed": 1}
    assert changed_keys(old, new) == ["train.epochs: 30 -> 12"]


def test_a_stage_under_dvc_refuses_overrides(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVC_STAGE", "train")
    result = run_cli("stage=train", "model=mlp")
    assert result.returncode == 2
    assert "under DVC a stage reads params.yaml" in result.stderr
