"""The whole pipeline runs in debug mode, stage by stage, as dvc.yaml lists it.

The stages run once per module (in this process, through the command line's
Hydra path) with their outputs under a temporary folder; each test then checks
one promise against what they wrote.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import DVC_VARIABLES, PACKAGE, ROOT, stage_names
from omegaconf import DictConfig, OmegaConf

from {{ cookiecutter.pkg_name }}.runtime import cli, pipeline
from {{ cookiecutter.pkg_name }}.runtime.records import RECORD, runs_dir

DEBUG = "debug=default"


@dataclass
class DebugPipeline:
    """The stages run once in debug mode: their records, and the deps missing before each ran."""

    tmp: Path
    config: DictConfig
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing_deps: dict[str, list[str]] = field(default_factory=dict)

    def run(self, *args: str) -> tuple[int, dict[str, Any]]:
        """Run `python -m <package> ARGS` in this process; its exit status and new run record."""
        runs = runs_dir(Path(str(self.config.root)))
        before = set(runs.glob(f"*/{RECORD}"))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys, "argv", [PACKAGE, *args])
            with pytest.raises(SystemExit) as exited:
                cli.main()
        code = int(exited.value.code or 0)
        (new,) = set(runs.glob(f"*/{RECORD}")) - before
        return code, json.loads(new.read_text(encoding="utf-8"))


def declared(config: DictConfig, entries: list[Any]) -> list[Path]:
    """The paths of a dvc.yaml list (deps, outs, metrics, plots), with ${...} resolved."""
    paths = []
    for entry in entries:
        text = str(next(iter(entry)) if isinstance(entry, dict) else entry)
        for reference in pipeline.REFERENCE.findall(text):
            text = text.replace("${" + reference + "}", str(OmegaConf.select(config, reference)))
        paths.append(Path(text) if Path(text).is_absolute() else ROOT / text)
    return paths


def outputs(stage: dict[str, Any], config: DictConfig) -> list[Path]:
    """What a dvc.yaml stage says it writes."""
    kinds = ("outs", "metrics", "plots")
    return declared(config, [entry for kind in kinds for entry in stage.get(kind) or []])


def stage_reading(config: DictConfig, key: str) -> str:
    """The first stage whose section has `key`, or skip when none has."""
    found = [name for name in stage_names() if key in config[name]]
    if not found:
        pytest.skip(f"no stage reads '{key}'")
    return found[0]


@pytest.fixture(scope="module")
def debug(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DebugPipeline]:
    """Every stage run once in debug mode, in dvc.yaml's order, outputs under a temp folder."""
    tmp = tmp_path_factory.mktemp("debug")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(tmp))
        patch.setenv("WANDB_MODE", "disabled")
        for name in DVC_VARIABLES:
            patch.delenv(name, raising=False)
        patch.chdir(ROOT)
        config = pipeline.compose(ROOT, [f"stage={stage_names()[0]}", DEBUG])
        done = DebugPipeline(tmp, config)
        stages = pipeline.dvc_stages(ROOT)
        for name in stage_names():
            # The other deps (code, .dvc-params-order) are `check`'s business.
            deps = declared(config, [d for d in stages[name].get("deps") or [] if "${" in d])
            done.missing_deps[name] = [str(path) for path in deps if not path.exists()]
            code, done.records[name] = done.run(f"stage={name}", DEBUG)
            assert code == 0, f"stage {name} failed in debug mode: {done.records[name]}"
        yield done


def test_every_stage_runs_in_debug_mode_and_writes_what_dvc_yaml_declares(
    debug: DebugPipeline,
) -> None:
    stages = pipeline.dvc_stages(ROOT)
    assert list(debug.records) == stage_names()
    for name, record in debug.records.items():
        assert (record["status"], record["mode"]) == ("completed", "debug")
        assert debug.missing_deps[name] == [], f"stage {name} ran before its deps existed"
        for path in outputs(stages[name], debug.config):
            assert path.exists(), f"stage {name} did not write {path} (dvc.yaml declares it)"
            assert debug.tmp in path.parents, f"debug mode writes {path} outside its root"
            assert path.is_dir() or path.stat().st_size > 0, f"{path} is empty"


def test_a_stage_reuses_an_earlier_runs_artifact_with_load_from(debug: DebugPipeline) -> None:
    name = stage_reading(debug.config, "load_from")
    earlier = debug.records[name]
    code, record = debug.run(f"stage={name}", DEBUG, f"{name}.load_from={earlier['id']}")
    assert code == 0, record.get("traceback")
    assert record["status"] == "completed"
    reused = {artifact.get("from_run") for artifact in record["artifacts"].values()}
    assert reused == {earlier["id"]}
    for path in outputs(pipeline.dvc_stages(ROOT)[name], debug.config):
        assert path.exists()
{%- if cookiecutter.framework == "sklearn" %}


def test_a_model_without_partial_fit_trains_in_one_step(
    debug: DebugPipeline, tmp_path: Path
) -> None:
    # A new model is one YAML file in conf/model/; here in a folder added to Hydra's search path.
    name = stage_reading(debug.config, "model")
    models = tmp_path / "conf" / "model"
    models.mkdir(parents=True)
    (models / "one_fit_forest.yaml").write_text(
        "_target_: sklearn.ensemble.RandomForestRegressor\nn_estimators: 5\nrandom_state: null\n",
        encoding="utf-8",
    )
    code, record = debug.run(
        f"stage={name}",
        DEBUG,
        "model=one_fit_forest",
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
    )
    assert code == 0, record.get("traceback")
    assert record["status"] == "completed"
    folder = runs_dir(Path(str(debug.config.root))) / record["id"]
    assert "RandomForestRegressor" in (folder / "config.yaml").read_text(encoding="utf-8")
    metrics = folder / "metrics.jsonl"
    steps = metrics.read_text(encoding="utf-8").splitlines() if metrics.exists() else []
    assert len(steps) <= 1, "an estimator without partial_fit is fitted once, not per epoch"
{%- endif %}
