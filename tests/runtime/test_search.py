"""Hyper-parameter search (`search=NAME`): workers share one Optuna study, each trial is a run.

The searches here are the test's own, written to a temporary conf/ on Hydra's search
path: they run the pipeline's first stage (it needs no other stage's outputs) in debug
mode, over the one key every project has, `seed`, and score a metric the stage returns,
so they keep working as the stages and conf/ change.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from conftest import PACKAGE, ROOT, Main, RunCli, stage_names
from my_project.runtime import cli, pipeline
from my_project.runtime.records import RECORD, read_json, runs_dir
from omegaconf import OmegaConf
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

pytestmark = pytest.mark.slow
DEBUG = "debug=default"
NAME = "contract"  # the test's search: conf/search/contract.yaml in a temporary folder
MARKER = "+search_trial="  # the override that marks a trial's run
INT = "optuna.distributions.IntDistribution"

Search = Callable[..., list[str]]


@pytest.fixture(scope="module")
def metric(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A metric the first stage returns: the first of one debug run's metrics."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(tmp_path_factory.mktemp("metric")))
        patch.setenv("WANDB_MODE", "disabled")
        patch.chdir(ROOT)
        patch.setattr(sys, "argv", [PACKAGE, f"stage={stage_names()[0]}", DEBUG])
        with pytest.raises(SystemExit):
            cli.main()
        root = Path(str(pipeline.compose(ROOT, [f"stage={stage_names()[0]}", DEBUG]).root))
    (record,) = (read_json(path) for path in runs_dir(root).glob(f"*/{RECORD}"))
    assert record["metrics"], f"stage {stage_names()[0]} returns no metric to search on"
    return str(next(iter(record["metrics"])))


@pytest.fixture
def search(metric: str, tmp_path: Path, isolated: None) -> Search:
    """Write the test's search file; return the arguments that select it (in debug mode)."""

    def write(drop: str = "", **changes: Any) -> list[str]:
        space = {"seed": dict(_target_=INT, low=0, high=999)}
        settings = dict(name=NAME, metric=metric, direction="minimize", trials=3, workers=1)
        sampler = {"_target_": "optuna.samplers.RandomSampler", "seed": "${seed}"}
        settings = {**settings, "worker": 0, "sampler": sampler, "params": space, **changes}
        settings.pop(drop, None)
        sweep = dict(params={"search.worker": "range(${search.workers})"})  # a job per worker
        content = dict(stage=stage_names()[0], search=settings, hydra=dict(sweeper=sweep))
        path = tmp_path / "conf" / "search" / f"{NAME}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(content, sort_keys=False)
        path.write_text(f"# @package _global_\n{text}", encoding="utf-8")
        return [f"search={NAME}", f"hydra.searchpath=[file://{tmp_path / 'conf'}]", DEBUG]

    return write


def study_folder() -> Path:
    """Where the test's study lives: runs/search/<name>/ under the debug root."""
    root = Path(str(pipeline.compose(ROOT, [f"stage={stage_names()[0]}", DEBUG]).root))
    return runs_dir(root) / "search" / NAME


def load_study() -> optuna.Study:
    """The test's study, read from its journal as any Optuna client would."""
    backend = JournalFileBackend(str(study_folder() / "journal.log"))
    return optuna.load_study(study_name=NAME, storage=JournalStorage(backend))


def test_two_workers_fill_one_study_and_the_best_becomes_an_experiment(
    search: Search, run_cli: RunCli, tmp_path: Path
) -> None:
    args = search(trials=4, workers=2)
    done = run_cli("--multirun", *args, "hydra/launcher=joblib")
    assert done.returncode == 0, done.stderr
    study = load_study()
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 4
    runs = study_folder().parents[1]
    for trial in study.trials:  # each trial is a run of its own, on the trial's values
        record = read_json(runs / trial.user_attrs["run_id"] / RECORD)
        assert record["status"] == "completed"
        assert f"{MARKER}{trial.number}" in record["overrides"]
        config = OmegaConf.load(runs / record["id"] / "config.yaml")
        assert {key: OmegaConf.select(config, key) for key in trial.params} == trial.params
    best = read_json(study_folder() / "best.json")
    assert (best["trial"], best["value"]) == (study.best_trial.number, study.best_value)
    assert best["run_id"] == study.best_trial.user_attrs["run_id"]
    assert f"search {NAME}: best trial {best['trial']} (run {best['run_id']})" in done.stdout
    # Debug mode writes the experiment file beside best.json; a real run, to conf/experiment/.
    experiments = tmp_path / "conf" / "experiment"
    experiments.mkdir()
    shutil.copy(study_folder() / f"search_{NAME}.yaml", experiments)
    chosen = [f"experiment=search_{NAME}", f"hydra.searchpath=[file://{tmp_path / 'conf'}]"]
    composed = pipeline.compose(ROOT, [f"stage={stage_names()[0]}", *chosen])
    assert {key: OmegaConf.select(composed, key) for key in best["params"]} == best["params"]


def kill_a_running_trial(runs: Path, worker: subprocess.Popen[str]) -> dict[str, Any]:
    """SIGKILL the first trial seen running (stopped first: it must not end on its own)."""
    deadline = time.monotonic() + 240
    while worker.poll() is None and time.monotonic() < deadline:
        for path in runs.glob(f"*/{RECORD}"):
            record = read_json(path)
            trial = any(str(o).startswith(MARKER) for o in record.get("overrides", []))
            if not trial or record.get("status") != "running":
                continue
            try:
                os.kill(record["pid"], signal.SIGSTOP)
            except ProcessLookupError:
                continue
            if read_json(path).get("status") == "running":
                os.kill(record["pid"], signal.SIGKILL)
                return record
            os.kill(record["pid"], signal.SIGCONT)  # it ended meanwhile: try the next trial
        time.sleep(0.01)
    pytest.fail("no trial was seen running")


def test_a_killed_trial_fails_alone_and_the_search_still_finishes(
    search: Search, tmp_path: Path
) -> None:
    args = search(trials=3)
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        worker = subprocess.Popen(
            [sys.executable, "-m", PACKAGE, *args],
            cwd=ROOT,
            env={**os.environ, "WANDB_MODE": "disabled", "TMPDIR": str(tmp_path)},
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
        killed = kill_a_running_trial(study_folder().parents[1], worker)
        assert worker.wait(timeout=300) == 0, err.read_text()
    number = int(next(o for o in killed["overrides"] if o.startswith(MARKER))[len(MARKER) :])
    states = {trial.number: trial.state for trial in load_study().trials}
    assert states.pop(number) == TrialState.FAIL
    assert list(states.values()) == [TrialState.COMPLETE] * 2
    assert f"trial {number} failed: killed by signal {signal.SIGKILL.value}" in err.read_text()
    assert f"search {NAME}: best trial " in out.read_text()


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"metric": "no_such_metric"}, id="unknown-metric"),
        pytest.param({"direction": "sideways"}, id="bad-direction"),
        pytest.param(dict(params={"no.such.key": dict(_target_=INT)}), id="unknown-key"),
        pytest.param(dict(params={"seed": dict(_target_=INT, low=9, high=1)}), id="low>high"),
        pytest.param(dict(params={"seed": dict(_target_="builtins.dict")}), id="not-distribution"),
    ],
)
def test_a_bad_search_config_is_refused_in_one_line_with_exit_status_2(
    search: Search, main: Main, changes: dict[str, Any]
) -> None:
    code, _, err = main(*search(**changes))
    assert code == 2
    (line,) = [line for line in err.splitlines() if line.strip()]
    assert line.startswith("error: search")
    assert not (study_folder() / "best.json").exists()


def test_a_search_without_a_metric_is_refused_before_any_trial(search: Search, main: Main) -> None:
    code, _, err = main(*search(drop="metric"))
    assert (code, err.strip()) == (2, "error: search has no metric; see conf/search/")
    assert not study_folder().exists()
