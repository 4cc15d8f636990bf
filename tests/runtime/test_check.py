"""`check` and `params`: dvc.yaml, stages/, conf/ and params.yaml kept in step, drift named.

Each test edits a copy of conf/, dvc.yaml and params.yaml under tmp_path (the
`project` fixture); the stages' code is the package's own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    FAKE_KEYS,
    PACKAGE,
    Main,
    read_yaml,
    seed_of,
    set_conf,
    stage_names,
    write_yaml,
)
from my_project.runtime import pipeline
from my_project.runtime.records import UsageError

Edit = Callable[[dict[str, Any], str], None]
CODE = "src/" + PACKAGE + "/stages/{module}.py"


def drop_dep(dep: str) -> Edit:
    """An edit of dvc.yaml that removes `dep` from a stage's deps."""

    def edit(stages: dict[str, Any], name: str) -> None:
        stages[name]["deps"].remove(dep.format(name=name))

    return edit


def set_key(key: str, value: Any) -> Edit:
    """An edit of dvc.yaml that sets one key of a stage."""

    def edit(stages: dict[str, Any], name: str) -> None:
        stages[name][key] = value.format(name=name) if isinstance(value, str) else value

    return edit


def add_stage_without_module(stages: dict[str, Any], name: str) -> None:
    stages["stage_without_module"] = {**stages[name], "cmd": f"python -m {PACKAGE} stage=x"}


DVC_YAML_DRIFT: dict[str, tuple[Edit, str]] = {
    "module-not-in-dvc-yaml": (lambda stages, name: stages.pop(name), "is not in dvc.yaml"),
    "stage-without-module": (add_stage_without_module, "stage_without_module"),
    "wrong-cmd": (set_key("cmd", "python -m " + PACKAGE + " stage={name} seed=1"), "must run"),
    "missing-code-dep": (drop_dep(CODE.format(module="{name}")), "(its code): add it to its deps"),
    # The last stage imports the example's shared helpers, stages/_io.py.
    "missing-imported-module-dep": (
        drop_dep(CODE.format(module="_io")),
        "stages/_io.py (its code)",
    ),
    "missing-own-params": (set_key("params", []), "must track its own section"),
    "no-params-stage": (lambda stages, name: stages.pop(pipeline.PARAMS_STAGE), "no 'params'"),
    "no-user-stage": (lambda stages, name: [stages.pop(n) for n in stage_names()], "no stage"),
}


def check_errors(main: Main) -> list[str]:
    """Run `check`; the error lines it printed (it exits 2 when there are some)."""
    code, _, err = main("check")
    errors = err.splitlines()
    assert code == (2 if errors else 0)
    assert all(line.startswith("error: ") for line in errors), err
    return errors


@pytest.mark.parametrize("drift", DVC_YAML_DRIFT)
def test_check_names_each_way_dvc_yaml_drifted_from_the_stages(
    project: Path, main: Main, drift: str
) -> None:
    edit, named = DVC_YAML_DRIFT[drift]
    content = read_yaml(project / "dvc.yaml")
    edit(content["stages"], stage_names()[-1])
    write_yaml(project / "dvc.yaml", content)
    errors = check_errors(main)
    assert any(named in line for line in errors), errors


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("stages: [\n", "dvc.yaml, line 2: "),
        ("stages: 5\n", "must map names to stages"),
        ("", "Add a stage"),
    ],
    ids=["yaml-syntax-error", "stages-not-a-mapping", "empty"],
)
def test_a_broken_or_empty_dvc_yaml_is_refused_in_one_line(
    project: Path, main: Main, text: str, named: str
) -> None:
    (project / "dvc.yaml").write_text(text, encoding="utf-8")
    code, out, err = main("stages")  # as `make debug` and `make run-all` list them
    (line,) = err.splitlines()  # no traceback
    assert (code, out) == (2, "")
    assert line.startswith("error: dvc.yaml")
    assert named in line


def test_check_names_a_file_a_stage_reads_that_its_deps_do_not_list(
    project: Path, main: Main
) -> None:
    # prepare reads its table from prepare.source; dvc.yaml's deps cover data/raw/ only.
    table = project / "tables" / "cells.csv"
    table.parent.mkdir()
    table.write_text("a,b\n1,2\n", encoding="utf-8")
    set_conf(project, "prepare.source", "tables/cells.csv")
    pipeline.refresh(project)
    errors = check_errors(main)
    assert any("reads tables/cells.csv (prepare.source)" in line for line in errors), errors


def test_check_names_a_stage_without_its_config_section(project: Path, main: Main) -> None:
    last = stage_names()[-1]
    config = read_yaml(project / "conf" / "config.yaml")
    del config[last]
    write_yaml(project / "conf" / "config.yaml", config)
    assert any(f"no section '{last}:'" in line for line in check_errors(main))


def test_check_finds_params_yaml_stale_after_conf_changed(project: Path, main: Main) -> None:
    set_conf(project, "seed", seed_of(project) + 1)
    errors = check_errors(main)
    assert errors
    assert all("params.yaml is stale" in line and "make params" in line for line in errors)


@pytest.mark.parametrize("command", ["params", "check"])
def test_a_conf_value_naming_nothing_is_refused_in_one_line(
    project: Path, main: Main, command: str
) -> None:
    set_conf(project, "seed", "$" + "{no_such_key}")
    code, _, err = main(command)
    (line,) = err.splitlines()  # no traceback
    assert code == 2
    assert line.startswith("error: conf/: ")
    assert "no_such_key" in line


@pytest.mark.parametrize("damage", ["delete", "corrupt"])
def test_params_rebuilds_a_deleted_or_corrupt_params_yaml(
    project: Path, main: Main, damage: str
) -> None:
    params = project / "params.yaml"
    fresh = params.read_text(encoding="utf-8")
    if damage == "delete":
        params.unlink()
    else:
        params.write_text("seed: [unclosed\n", encoding="utf-8")
    code, out, err = main("params")
    assert code == 0, err
    assert out.startswith("params.yaml written from conf/")
    assert params.read_text(encoding="utf-8") == fresh


def test_params_names_each_changed_value_and_then_finds_none(project: Path, main: Main) -> None:
    seed = seed_of(project)
    set_conf(project, "seed", seed + 1)
    code, out, err = main("params")
    assert code == 0, err
    assert out.splitlines()[0].startswith("params.yaml updated from conf/")
    assert f"  seed: {seed} -> {seed + 1}" in out.splitlines()
    assert read_yaml(project / "params.yaml")["seed"] == seed + 1
    assert pipeline.stale(project) == []
    code, out, _ = main("params")
    assert (code, out.splitlines()[0]) == (0, "params.yaml is up to date")


def test_params_inside_dvc_exp_run_keeps_the_experiments_params_yaml(
    project: Path, main: Main, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = read_yaml(project / "params.yaml")
    params["seed"] += 1  # as `dvc exp run -S seed=...` writes it
    write_yaml(project / "params.yaml", params)
    written = (project / "params.yaml").read_bytes()
    monkeypatch.setenv("DVC_EXP_NAME", "exp-test")
    code, _, err = main("params")
    assert code == 0, err
    assert (project / "params.yaml").read_bytes() == written


def test_params_inside_dvc_exp_run_keeps_the_values_the_experiment_begins_with(
    project: Path, main: Main, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its stages compare params.yaml with this copy; an earlier run of the same experiment
    # name (`dvc exp run -f -n NAME`) left an older one, which must not refuse this run.
    begun = project / ".dvc" / "tmp" / "params-exp-test.yaml"
    begun.parent.mkdir(parents=True)
    begun.write_text("seed: -1\n", encoding="utf-8")
    monkeypatch.setenv("DVC_EXP_NAME", "exp-test")
    code, _, err = main("params")
    assert code == 0, err
    assert begun.read_bytes() == (project / "params.yaml").read_bytes()


@pytest.mark.parametrize("kind", sorted(FAKE_KEYS))
def test_params_inside_dvc_exp_run_refuses_a_key_its_commit_would_hold(
    project: Path, main: Main, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # `dvc exp run -S '+api_key=...'` commits params.yaml to refs/exps/ with no git hook run.
    name = "aws_secret_access_key" if "secret" in kind else "api_key"  # the hook's context
    with (project / "params.yaml").open("a", encoding="utf-8") as params:
        params.write(f"{name}: {FAKE_KEYS[kind]}\n")
    line = (project / "params.yaml").read_text(encoding="utf-8").count("\n")
    monkeypatch.setenv("DVC_EXP_NAME", "exp-test")
    code, _, err = main("params")
    assert code == 2, err
    assert err.strip().splitlines() == [
        f"error: params.yaml:{line}: {kind}: keys go in the environment, not in -S"
    ]


def test_params_under_dvc_repro_refuses_a_changed_path_that_dvc_already_read(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = sorted(pipeline.REFERENCE.findall(str(pipeline.dvc_stages(project))))[0]
    set_conf(project, key, "somewhere/else")
    monkeypatch.setenv("DVC_STAGE", pipeline.PARAMS_STAGE)
    with pytest.raises(UsageError, match=rf"conf/ changed .*{key}.*run `dvc repro` again") as error:
        pipeline.refresh(project)
    assert "\n" not in str(error.value)
    assert pipeline.stale(project) == []  # refreshed all the same, for the next `dvc repro`
