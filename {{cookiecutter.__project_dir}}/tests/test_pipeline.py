"""The pipeline's contract: every stage of dvc.yaml runs on a few rows in debug mode, in
dvc.yaml's order, and writes what dvc.yaml declares for it; `check` finds dvc.yaml, stages/
and conf/ in step.

The stages run once per module, in this process (as a notebook runs them), with their
outputs under a temporary folder; each test then checks one promise against what they wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import DEBUG, ROOT, Main, compose, isolate, read_yaml, stage_names
from omegaconf import DictConfig, OmegaConf

from {{ cookiecutter.pkg_name }}.runtime import run_stage

REFERENCE = re.compile(r"\$\{([^}]+)\}")  # DVC's templating: ${<stage>.<key>} from params.yaml


@dataclass
class DebugPipeline:
    """The stages run once in debug mode: their records, and the deps missing before each ran."""

    config: DictConfig  # conf/ in debug mode: its root is a temporary folder
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing_deps: dict[str, list[Path]] = field(default_factory=dict)


def declared(config: DictConfig, entries: list[Any] | None) -> list[Path]:
    """The paths of a dvc.yaml list (deps, outs, metrics, plots), their ${...} from `config`."""
    paths = []
    for entry in entries or []:
        text = str(next(iter(entry)) if isinstance(entry, dict) else entry)
        text = REFERENCE.sub(lambda found: str(OmegaConf.select(config, found[1])), text)
        paths.append(Path(text) if Path(text).is_absolute() else ROOT / text)
    return paths


def outputs(stage: dict[str, Any], config: DictConfig) -> list[Path]:
    """What a dvc.yaml stage says it writes."""
    kinds = ("outs", "metrics", "plots")
    return declared(config, [entry for kind in kinds for entry in stage.get(kind) or []])


def dvc_stages() -> dict[str, dict[str, Any]]:
    """dvc.yaml's stages, as written."""
    stages: dict[str, dict[str, Any]] = read_yaml(ROOT / "dvc.yaml")["stages"]
    return stages


@pytest.fixture(scope="module")
def debug(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DebugPipeline]:
    """Every stage run once in debug mode, in dvc.yaml's order, outputs under a temp folder."""
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, tmp_path_factory.mktemp("debug"))
        done = DebugPipeline(compose(DEBUG))
        for name in stage_names():
            deps = declared(done.config, dvc_stages()[name].get("deps"))
            done.missing_deps[name] = [path for path in deps if not path.exists()]
            done.records[name] = run_stage(name, [DEBUG])  # a failure raises the stage's error
        yield done


def test_every_stage_runs_in_debug_mode_and_writes_what_dvc_yaml_declares(
    debug: DebugPipeline,
) -> None:
    root = Path(str(debug.config.root))
    assert list(debug.records) == stage_names()
    for name, record in debug.records.items():
        assert (record["status"], record["mode"]) == ("completed", "debug")
        missing = debug.missing_deps[name]  # a file nothing makes, or a later stage's output
        assert missing == [], f"stage {name}: deps in dvc.yaml missing when it ran: {missing}"
        for path in outputs(dvc_stages()[name], debug.config):
            assert path.exists(), f"stage {name} did not write {path} (dvc.yaml declares it)"
            assert root in path.parents, f"debug mode wrote {path} outside its root {root}"
            assert path.is_dir() or path.stat().st_size > 0, f"{path} is empty"


def test_a_stage_with_load_from_reuses_an_earlier_runs_artifacts(debug: DebugPipeline) -> None:
    found = [name for name in stage_names() if "load_from" in debug.config[name]]
    if not found:
        pytest.skip("no stage has a load_from setting")
    name = found[0]
    earlier = debug.records[name]["id"]
    record = run_stage(name, [DEBUG, f"{name}.load_from={earlier}"])
    assert record["status"] == "completed"
    said = {key: value for key, value in record.items() if key not in ("argv", "overrides")}
    assert earlier in json.dumps(said), "the run's record does not say which run it reused"
    for path in outputs(dvc_stages()[name], debug.config):
        assert path.exists(), f"stage {name} did not write {path} from run {earlier}"


def test_check_finds_dvc_yaml_the_stages_and_conf_in_step(
    main: Main, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In a copy whose params.yaml is written afresh, as `make repro` does first: a conf/ edit
    # not yet followed by `make params` is no failure. Everything else is the project's own.
    copy = tmp_path / "project"
    copy.mkdir()
    for entry in ROOT.iterdir():
        if entry.name != "params.yaml":
            (copy / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    monkeypatch.chdir(copy)
    code, _, err = main("params")
    assert code == 0, err
    code, out, err = main("check")
    assert (code, err) == (0, ""), err
    assert all(name in out for name in stage_names())
