"""The command line as a user meets it: help, stage names, bad input, and stages under DVC."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    CONFIG_OPTIONS,
    FAKE_KEYS,
    PACKAGE,
    ROOT,
    Main,
    RunCli,
    read_yaml,
    seed_of,
    set_conf,
    stage_names,
    write_yaml,
)
from my_project.runtime import pipeline
from my_project.runtime.pipeline import typed
from omegaconf import OmegaConf


def dvc_yaml_stages() -> list[str]:
    """The stages dvc.yaml lists, read as DVC reads the file, without the `params` stage."""
    return [name for name in read_yaml(ROOT / "dvc.yaml")["stages"] if name != "params"]


def test_help_from_any_folder_lists_every_config_group_option_and_the_stages_command(
    run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli("--help", cwd=tmp_path)  # Hydra's help, with the project's header
    assert result.returncode == 0, result.stderr
    assert f"python -m {PACKAGE} stages" in result.stdout  # where the stages are listed
    listed = {
        (group.strip(), option.strip())
        for group, options in (
            line.split(":", 1) for line in result.stdout.splitlines() if ": " in line
        )
        for option in options.split(",")
    }
    # Hydra's own groups (hydra/launcher) are in --hydra-help.
    assert {(g, o) for g, o in CONFIG_OPTIONS if not g.startswith("hydra/")} <= listed


def test_stages_prints_dvc_yamls_stages_in_order(main: Main) -> None:
    assert main("stages") == (0, "\n".join(dvc_yaml_stages()) + "\n", "")


def test_an_unknown_option_or_key_is_refused_naming_the_known_ones(main: Main) -> None:
    first = stage_names()[0]
    code, _, err = main(f"stage={first}", "debug=no_such_option")
    assert code == 2
    known = {path.stem for path in (ROOT / "conf" / "debug").glob("*.yaml")}
    assert set(err.strip().split("known: ")[1].split(", ")) == known
    code, _, err = main(f"stage={first}", f"{first}.no_such_key=1")
    assert code == 2
    keys = pipeline.compose(ROOT, [f"stage={first}"])[first]
    assert err.strip().endswith(f"not a setting; known: {', '.join(keys)}")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["seed=1"], "no stage given"),
        (["stage=no_such_stage"], "no_such_stage"),
        (["{first}", "seed=not-a-number"], "seed"),
        (["{first}", "+{name}.no_such_key=1"], "no_such_key"),
        (["{first}", "no_such_key=1"], "no_such_key"),
        (["{first}", "seed=[1"], "[1"),
        (["{first}", "debug=no_such_option"], "no_such_option"),
        (["params", "seed=1"], "params"),
        (["{first}", "seed={dangling}"], "no_such_key"),
        (["--help", "logger=no_such_option"], "no_such_option"),
        (["{first}", "experiment_name=ünï"], "quote the value"),
    ],
    ids=[
        "no-stage",
        "unknown-stage",
        "bad-type",
        "unknown-key",
        "override-of-a-missing-key",
        "override-syntax",
        "unknown-option",
        "params-with-arguments",
        "interpolation-of-nothing",
        "help-with-an-unknown-option",
        "a-character-hydra-cannot-read",
    ],
)
def test_bad_input_is_refused_in_one_line_naming_it(
    main: Main, args: list[str], named: str
) -> None:
    first = stage_names()[0]
    dangling = "$" + "{no_such_key}"  # an interpolation of a key that does not exist
    filled = (arg.format(first=f"stage={first}", name=first, dangling=dangling) for arg in args)
    code, _, err = main(*filled)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ")
    assert named in err


def run_record(project: Path) -> tuple[dict[str, Any], Any]:
    """The one run record in a project copy, and its saved config."""
    (folder,) = (project / "runs").iterdir()
    record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    return record, read_yaml(folder / "config.yaml")


def test_under_dvc_a_stage_runs_on_params_yaml_as_dvc_composed_it(
    project: Path, main: Main, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `dvc exp run -S seed=...` writes params.yaml itself: it wins over conf/.
    first = stage_names()[0]
    params = read_yaml(project / "params.yaml")
    params["seed"] += 1
    write_yaml(project / "params.yaml", params)
    monkeypatch.setenv("DVC_STAGE", first)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-test")
    schema = pipeline.load_stage(first)[1]
    seen: list[Any] = []

    def stand_in(cfg: Any, run: Any) -> dict[str, float]:
        seen.append(cfg)
        return {}

    monkeypatch.setattr(pipeline, "load_stage", lambda name: (stand_in, schema))
    code, _, err = main(f"stage={first}")
    assert code == 0, err
    assert seen == [typed(schema, params[first], first)]
    record, config = run_record(project)
    assert (record["status"], record["overrides"]) == ("completed", ["(params.yaml)"])
    assert config["seed"] == params["seed"]


def test_a_key_in_a_refused_value_is_not_printed(main: Main) -> None:
    keys = list(FAKE_KEYS.values())
    first = stage_names()[0]
    for refused in [
        f"data={keys[0]}",
        f"seed={keys[1]}",
        f"{first}.x_{keys[2]}=1",
        f"seed=x_{keys[3]}",
    ]:
        code, out, err = main(f"stage={first}", refused)
        assert code == 2, err
        assert err.startswith("error: "), err
        assert [key for key in keys if key in out + err] == [], err


def test_under_dvc_a_stage_whose_params_changed_while_it_ran_fails_so_dvc_records_nothing(
    project: Path, main: Main, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second `dvc exp run` writes its -S values into params.yaml before it waits for DVC's
    # lock: a stage that ran on the first values must not let DVC record the second's.
    first = stage_names()[0]
    monkeypatch.setenv("DVC_STAGE", first)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-first")
    schema = pipeline.load_stage(first)[1]

    def overtaken(cfg: Any, run: Any) -> dict[str, float]:
        params = read_yaml(project / "params.yaml")
        write_yaml(project / "params.yaml", {**params, "seed": params["seed"] + 1})
        return {}

    monkeypatch.setattr(pipeline, "load_stage", lambda name: (overtaken, schema))
    code, _, err = main(f"stage={first}")
    assert code == 2, err
    said = [line for line in err.splitlines() if line.startswith("error: ")]
    assert said == ["error: params.yaml changed as it ran: not recorded; use `dvc exp run --queue`"]
    record, _ = run_record(project)
    assert record["status"] == "completed"  # the run itself is whole, on the values it read


def test_under_dvc_a_stage_refuses_what_dvc_would_not_track(
    project: Path, main: Main, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = stage_names()[0]
    monkeypatch.setenv("DVC_STAGE", first)

    def refused(*args: str) -> str:
        code, _, err = main(*args)
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1, err
        return err

    assert "under DVC a stage's command is exactly" in refused(f"stage={first}", "seed=1")

    config = pipeline.compose(project, [f"stage={first}"])
    for key in ("load_from", "resume"):  # a reused run folder is git-ignored: DVC cannot track it
        for name in [name for name in stage_names() if key in config[name]]:
            set_conf(project, f"{name}.{key}", "train_20260101T000000Z_abcdef")
            pipeline.refresh(project)
            assert f"{name}.{key}" in refused(f"stage={name}")
            set_conf(project, f"{name}.{key}", None)

    set_conf(project, "seed", seed_of(project) + 1)
    assert "params.yaml is older than conf/" in refused(f"stage={first}")

    (project / "params.yaml").unlink()
    assert "make params" in refused(f"stage={first}")


# Values out of range, each refused by a check in its dataclass (`__post_init__`): the
# runtime's seed, and the example stages' documented keys (a case whose stage or key is
# gone from this project skips). "named": what the error line must name.
OUT_OF_RANGE = [
    ("", "seed=-3", "seed"),
    ("", "root=", "root"),
    ("", "runtime.mode=bogus", "runtime.mode"),
    ("", "runtime.mode=INFO", "runtime.mode"),  # a log level is no mode
    ("", "runtime.log_level=LOUD", "runtime.log_level"),
    ("prepare", "data.test_size=1.5", "data.test_size"),
    ("prepare", "data.val_size=0", "data.val_size"),
    ("prepare", "data.limit=0", "data.limit"),
    ("featurize", "featurize.max_categories=0", "featurize.max_categories"),
    ("train", "train.epochs=0", "train.epochs"),
    ("train", "train.epochs=-1", "train.epochs"),
    ("train", "train.batch_size=-5", "train.batch_size"),
    ("evaluate", "evaluate.max_points=0", "evaluate.max_points"),
]


@pytest.mark.parametrize("under", ["command line", "dvc"])
@pytest.mark.parametrize(
    ("stage", "override", "named"), OUT_OF_RANGE, ids=[o for _, o, _ in OUT_OF_RANGE]
)
def test_a_value_out_of_range_is_refused_in_one_line_before_any_run_starts(
    project: Path,
    main: Main,
    monkeypatch: pytest.MonkeyPatch,
    under: str,
    stage: str,
    override: str,
    named: str,
) -> None:
    stage = stage or stage_names()[0]
    key = override.split("=")[0]
    unset = object()
    found = OmegaConf.select(pipeline.compose(project, []), key, default=unset)
    if stage not in stage_names() or found is unset:
        pytest.skip(f"this project has no stage {stage} or no {key}")
    args = [f"stage={stage}", override]
    if under == "dvc":  # as `dvc exp run -S KEY=VALUE` leaves it: params.yaml has the value
        (project / "params.yaml").write_text(
            pipeline.render(pipeline.compose(project, [override])), encoding="utf-8"
        )
        monkeypatch.setenv("DVC_STAGE", stage)
        monkeypatch.setenv("DVC_EXP_NAME", "exp-test")
        args = [f"stage={stage}"]
    before = sorted(project.rglob("*"))
    code, _, err = main(*args)
    assert code == 2, err
    (line,) = err.strip().splitlines()  # one line, no traceback
    assert line.startswith("error: ")
    assert named in line
    assert "(got " in line
    assert sorted(project.rglob("*")) == before  # no run folder, nothing written


def default_option_file(root: Path) -> Path:
    """The file of the first config group option that conf/config.yaml composes by default."""
    for entry in read_yaml(root / "conf" / "config.yaml")["defaults"]:
        if isinstance(entry, dict):
            ((group, option),) = entry.items()
            if option and (path := root / "conf" / group / f"{option}.yaml").is_file():
                return path
    raise AssertionError("conf/config.yaml selects no config group option by default")


@pytest.mark.parametrize("command", ["stage", "params", "check", "--help"])
@pytest.mark.parametrize("broken", ["config.yaml", "a group's default option"])
def test_a_yaml_syntax_error_in_conf_is_told_in_one_line_naming_the_file_and_line(
    project: Path, main: Main, broken: str, command: str
) -> None:
    path = project / "conf" / "config.yaml"
    if broken != "config.yaml":
        path = default_option_file(project)
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "broken: a: b\n", encoding="utf-8")  # `a: b` cannot be a value
    params = (project / "params.yaml").read_bytes()
    code, _, err = main(f"stage={stage_names()[0]}" if command == "stage" else command)
    assert code == 2, err
    (line,) = err.strip().splitlines()  # one line, no traceback
    where = f"{path.relative_to(project).as_posix()}, line {len(text.splitlines()) + 1}:"
    assert line.startswith("error: ")
    assert where in line
    assert "fix the YAML" in line
    assert (project / "params.yaml").read_bytes() == params
