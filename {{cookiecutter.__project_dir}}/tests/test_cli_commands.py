"""The commands besides stage runs: params, check, runs, remote, --help; and stages under DVC.

Commands that write files run in a copy of the project's conf/ and dvc.yaml
under tmp_path; the project's own files are only ever read.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, RunCli
from omegaconf import OmegaConf

from {{ cookiecutter.pkg_name }}.config import Config, ConfigError
from {{ cookiecutter.pkg_name }}.runtime import cli, registry
from {{ cookiecutter.pkg_name }}.runtime.run import Metrics, Run

PACKAGE = "{{ cookiecutter.pkg_name }}"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's conf/ and dvc.yaml, as the working directory, outside git."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "conf", root / "conf")
    shutil.copyfile(ROOT / "dvc.yaml", root / "dvc.yaml")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for name in ("DVC_STAGE", "DVC_EXP_NAME", "DVC_ROOT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(root)
    return root


def set_epochs(path: Path, epochs: int | str) -> None:
    """Change train.epochs in a YAML file (conf/config.yaml or params.yaml)."""
    config = OmegaConf.load(path)
    config.train.epochs = epochs
    OmegaConf.save(config, path)


def dvc_yaml(root: Path) -> dict[str, Any]:
    """The project's dvc.yaml as plain data."""
    content = OmegaConf.to_container(OmegaConf.load(root / "dvc.yaml"))
    assert isinstance(content, dict)
    return {str(key): value for key, value in content.items()}


def write_dvc_yaml(root: Path, content: dict[str, Any]) -> None:
    """Replace the project's dvc.yaml."""
    OmegaConf.save(OmegaConf.create(content), root / "dvc.yaml")


def test_params_writes_params_yaml_then_names_each_changed_value(
    run_cli: RunCli, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli("params", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("params.yaml is up to date with conf/ (")
    params = OmegaConf.load(project / "params.yaml")
    assert params.train.epochs == 30
    assert params.train.model_path == "./models/model.pkl"  # interpolations resolved
    assert (project / ".dvc-params-order").read_text(encoding="utf-8").startswith("Output of")

    set_epochs(project / "conf" / "config.yaml", 12)
    assert cli.dispatch(project, ["params"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "params.yaml: train.epochs: 30 -> 12",
        "params.yaml is up to date with conf/ (1 values changed)",
    ]
    assert OmegaConf.load(project / "params.yaml").train.epochs == 12
    assert cli.dispatch(project, ["params"]) == 0
    assert "(0 values changed)" in capsys.readouterr().out


def test_params_takes_no_arguments(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", [PACKAGE, "params", "train.epochs=3"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    assert "error: `params` takes no arguments; to change values edit conf/" in (
        capsys.readouterr().err
    )
    assert not (project / "params.yaml").exists()


def test_inside_dvc_exp_run_params_yaml_is_checked_but_never_rewritten(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.dispatch(project, ["params"]) == 0
    params = project / "params.yaml"
    set_epochs(params, 5)  # as `dvc exp run -S train.epochs=5` composes it
    written = params.read_bytes()
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1")
    capsys.readouterr()
    assert cli.dispatch(project, ["params"]) == 0
    assert "(0 values changed)" in capsys.readouterr().out
    assert params.read_bytes() == written
    set_epochs(params, "many")
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        cli.dispatch(project, ["params"])


def test_a_stage_under_dvc_runs_with_params_yaml(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []

    def train(cfg: Config, run: Run) -> Metrics:
        seen.append(cfg.train.epochs)
        return {"epochs": cfg.train.epochs}

    assert cli.dispatch(project, ["params"]) == 0
    set_epochs(project / "params.yaml", 4)
    monkeypatch.setenv("DVC_STAGE", "train")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setattr(registry, "load_stage", lambda name: train)
    assert cli.dispatch(project, ["stage=train"]) == 0
    assert seen == [4]
    (run_dir,) = (project / "runs").iterdir()
    assert json.loads((run_dir / "overrides.json").read_text()) == ["(params.yaml)"]

    monkeypatch.setattr(registry, "load_stage", lambda name: lambda cfg, run: 1 / 0)
    assert cli.dispatch(project, ["stage=train"]) == 1


def test_a_stage_under_dvc_needs_params_yaml_holding_a_mapping(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVC_STAGE", "train")
    with pytest.raises(FileNotFoundError, match=r"params\.yaml does not exist; run `dvc repro`"):
        cli.dispatch(project, ["stage=train"])
    (project / "params.yaml").write_text("- seed\n- train\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"params\.yaml must hold a mapping at the top level"):
        cli.dispatch(project, ["stage=train"])


def test_check_passes_on_the_project_as_generated(run_cli: RunCli) -> None:
    result = run_cli("check")
    assert result.returncode == 0, result.stderr
    names = ", ".join(registry.stage_names())
    assert result.stdout.strip() == f"dvc.yaml matches the stage registry ({names})"


def test_check_names_every_way_dvc_yaml_drifted(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = dvc_yaml(project)
    stages = content["stages"]
    del stages["params"]
    stages["train"]["cmd"] = f"python -m {PACKAGE} stage=train model=mlp"
    stages["evaluate"]["deps"].remove(f"src/{PACKAGE}/stages/evaluate.py")
    stages["featurize"]["params"].append("optimizer")
    stages["report"] = {"cmd": f"python -m {PACKAGE} stage=report"}
    write_dvc_yaml(project, content)
    assert cli.check_command(project, []) == 1
    errors = capsys.readouterr().err.splitlines()
    assert sorted(errors) == sorted(
        [
            "error: dvc.yaml has no 'params' stage (it refreshes params.yaml)",
            "error: dvc.yaml stage 'report' is not in PIPELINE (stages/__init__.py)",
            f"error: stage 'train' runs 'python -m {PACKAGE} stage=train model=mlp'; "
            f"expected 'python -m {PACKAGE} stage=train'",
            f"error: stage 'evaluate' does not depend on its code src/{PACKAGE}/stages/evaluate.py",
            "error: stage 'featurize' tracks params 'optimizer', which conf/ does not have",
        ]
    )


def test_check_finds_missing_stages_another_order_and_a_missing_dvc_yaml(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = dvc_yaml(project)
    stages = content["stages"]
    first, second = registry.stage_names()[:2]
    content["stages"] = {name: stages[name] for name in ["params", second, first, *stages]}
    write_dvc_yaml(project, content)
    assert cli.check_command(project, []) == 1
    assert "PIPELINE runs" in capsys.readouterr().err

    del content["stages"][second]
    write_dvc_yaml(project, content)
    assert cli.check_command(project, []) == 1
    assert f"stage '{second}' is in PIPELINE but not in dvc.yaml; add it" in (
        capsys.readouterr().err
    )

    (project / "dvc.yaml").unlink()
    assert cli.check_command(project, []) == 1
    assert "dvc.yaml does not exist" in capsys.readouterr().err


def test_runs_help_lists_its_commands(run_cli: RunCli) -> None:
    result = run_cli("runs", "--help")
    assert result.returncode == 0, result.stderr
    for command in ("ls", "show", "rm", "push", "pull"):
        assert command in result.stdout


def test_help_shows_the_config_composed_with_the_overrides_given(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    assert cli.dispatch(ROOT, ["model=mlp", "train.epochs=5", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Config groups (group=option):" in out
    assert "  epochs: 5\n" in out
    assert "hidden_sizes:" in out


def test_a_stage_without_its_module_or_function_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A stage added to PIPELINE before its module is written, and one whose module lacks
    # the function of the same name.
    monkeypatch.setattr(registry, "PIPELINE", (*registry.stage_names(), "report"))
    monkeypatch.chdir(ROOT)
    assert re.search(r"^  report +\(module missing\)$", cli.help_text(), re.MULTILINE)
    monkeypatch.setattr(registry, "PIPELINE", (*registry.stage_names(), "export"))
    monkeypatch.setitem(sys.modules, f"{PACKAGE}.stages.export", types.ModuleType("export"))
    with pytest.raises(registry.UnknownStageError, match=r"stages/export\.py has no function"):
        registry.load_stage("export")
