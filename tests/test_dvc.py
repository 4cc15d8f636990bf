"""End-to-end tier: `make demo`, then the stages as a DVC pipeline in the demo project.

`make demo` bakes the default project, installs it and runs its pipeline (`make repro`),
with W&B logging to offline files: real wandb, no network, no account. The tests run
in file order on one worker (`--dist loadfile`), each building on the state the previous
one left. What a user's edits do to the pipeline (new data, a conf/ edit, a new stage)
and the project's own tests are in test_make_it_yours.py.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import (
    DEFAULT_PKG,
    ROOT,
    commit,
    dvc_ran,
    make,
    read_record,
    require_ok,
    run,
    run_dirs,
    uv_run,
)
from reliability import Recorder

pytestmark = pytest.mark.e2e


def stages(project: Path) -> list[str]:
    """The pipeline's stages, as the project lists them."""
    return require_ok(uv_run(project, "python", "-m", project.name, "stages")).stdout.split()


def output(project: Path, key: str) -> Path:
    """The path that params.yaml gives for a dotted key, such as `train.curve_csv`."""
    value = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    for part in key.split("."):
        value = value[part]
    return project / value


def metrics(project: Path) -> dict[str, float]:
    """The evaluate stage's metrics."""
    return json.loads(output(project, "evaluate.metrics_json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def curve_rows(project: Path) -> int:
    """Rows of the training curve: one per epoch."""
    return len(output(project, "train.curve_csv").read_text(encoding="utf-8").splitlines()) - 1


@pytest.fixture(scope="module")
def demo(uv: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """`make demo` from the template's root, into a temporary folder: what it printed, and
    the demo project, committed (DVC's experiments need a commit)."""
    folder = tmp_path_factory.mktemp("demo") / "demo"
    command = ["make", "demo", f"DEMO_DIR={folder}", f"UV={uv}"]
    result = require_ok(run(command, cwd=ROOT, env={"WANDB_MODE": "offline"}))
    commit(folder / DEFAULT_PKG, "Run the pipeline")
    return result.stdout, folder / DEFAULT_PKG


@pytest.fixture(scope="module")
def project(demo: tuple[str, Path]) -> Path:
    """The demo project."""
    return demo[1]


def test_make_demo_prints_finite_metrics_better_than_guessing_the_mean(
    demo: tuple[str, Path],
) -> None:
    printed = demo[0][demo[0].index("metrics.json ==") :]
    metrics, _ = json.JSONDecoder().raw_decode(printed[printed.index("{") :])
    assert metrics
    assert all(math.isfinite(value) for value in metrics.values())
    # The example learns something: better than predicting the mean (r2 = 0).
    assert metrics["r2"] > 0.2


def test_the_demo_has_its_environment_and_git_hook(project: Path) -> None:
    assert (project / ".venv" / "bin" / "python").exists()
    assert (project / ".git" / "hooks" / "pre-commit").exists()


def test_every_stage_ran_under_dvc_leaving_a_record_and_an_offline_wandb_run(
    project: Path,
) -> None:
    lock = yaml.safe_load((project / "dvc.lock").read_text(encoding="utf-8"))
    assert list(lock["stages"]) == ["params", *stages(project)]
    for stage in stages(project):
        (folder,) = run_dirs(project, f"{stage}_")
        record = read_record(folder)
        assert (record["status"], record["overrides"]) == ("completed", ["(params.yaml)"])
        assert list(folder.glob("wandb/offline-run-*/run-*.wandb")), f"{stage}: no W&B run"
    # The records are kept out of git and out of DVC's outputs.
    assert run(["git", "check-ignore", "runs"], cwd=project).stdout.strip() == "runs"


def test_help_works_from_outside_the_project(project: Path, tmp_path: Path) -> None:
    python = str(project / ".venv/bin/python")
    result = require_ok(run([python, "-m", project.name, "--help"], cwd=tmp_path))
    for stage in stages(project):
        assert stage in result.stdout


def test_a_second_repro_with_nothing_changed_runs_nothing(project: Path) -> None:
    result = require_ok(make(project, "repro"))
    assert dvc_ran(result) == []
    assert "Data and pipelines are up to date" in result.stdout


def test_exp_run_with_a_train_value_reaches_the_stage(project: Path) -> None:
    before = metrics(project)
    result = require_ok(uv_run(project, "dvc", "exp", "run", "-S", "train.epochs=4"))
    # params: DVC composed params.yaml, the params stage's output; it checks the pipeline.
    assert dvc_ran(result) == ["params", "train", "evaluate"]
    assert curve_rows(project) == 4
    assert metrics(project) != before


def test_exp_run_on_the_bundled_classification_set_scores_it(project: Path) -> None:
    options = ("-S", "data=breast_cancer", "-S", "model=linear")  # model: for `make exps`
    result = require_ok(uv_run(project, "dvc", "exp", "run", *options))
    assert [stage for stage in dvc_ran(result) if stage != "params"] == stages(project)
    scores = metrics(project)
    assert scores["accuracy"] >= 0.9
    assert {"balanced_accuracy", "f1_macro", "roc_auc", "log_loss"} <= set(scores)
    plots = output(project, "evaluate.plots_dir")
    assert {path.name for path in plots.iterdir()} == {"confusion.csv", "roc.csv"}
    require_ok(run(["git", "checkout", "--", "."], cwd=project))
    require_ok(uv_run(project, "dvc", "checkout", "--force"))


def test_make_exps_shows_each_experiment_with_its_metrics_and_changed_params(
    project: Path,
) -> None:
    names = require_ok(uv_run(project, "dvc", "exp", "ls", "--name-only")).stdout.split()
    assert len(names) >= 2  # the two experiments above
    shown = require_ok(make(project, "exps", ARGS="--csv")).stdout.splitlines()
    start = next(i for i, line in enumerate(shown) if line.startswith("Experiment,"))
    header, rows = shown[start].split(","), [line.split(",") for line in shown[start + 1 :]]
    assert set(names) <= {row[0] for row in rows}
    ends = {column.rsplit(".", 1)[-1] for column in header}
    assert {"epochs", "rmse", "accuracy"} <= ends  # a changed param; both tasks' metrics
    assert "C" in ends  # a param of one model only: shown for the experiment that has it
    # `dvc exp show` spreads the same over every param and dependency.
    every = require_ok(uv_run(project, "dvc", "exp", "show", "--csv")).stdout.splitlines()[0]
    assert len(header) < len(every.split(","))


def test_dvc_and_the_project_compose_params_yaml_identically(project: Path) -> None:
    require_ok(uv_run(project, "python", "-m", project.name, "params"))
    ours = (project / "params.yaml").read_text(encoding="utf-8")
    code = (
        "from dvc.utils.hydra import compose_and_dump; "
        f"compose_and_dump('dvc-params.yaml', '{project / 'conf'}', None, 'config', 'x', [])"
    )
    require_ok(run([str(project / ".venv/bin/python"), "-c", code], cwd=project))
    assert (project / "dvc-params.yaml").read_text(encoding="utf-8") == ours
    (project / "dvc-params.yaml").unlink()


def test_metrics_and_plots_commands_work(project: Path) -> None:
    shown = require_ok(uv_run(project, "dvc", "metrics", "show", "--json")).stdout
    assert "rmse" in shown
    plots = require_ok(uv_run(project, "dvc", "plots", "show", "--json")).stdout
    dvc_yaml = yaml.safe_load((project / "dvc.yaml").read_text(encoding="utf-8"))
    declared = [
        next(iter(plot)) if isinstance(plot, dict) else plot
        for stage in dvc_yaml["stages"].values()
        for plot in stage.get("plots", [])
    ]
    assert declared
    for reference in declared:
        assert output(project, reference.removeprefix("${").removesuffix("}")).name in plots


def test_killing_dvc_ends_the_stage_it_ran_as_interrupted(
    project: Path, reliability: Recorder
) -> None:
    config = project / "conf" / "config.yaml"
    text = config.read_text(encoding="utf-8")
    try:  # a training long enough to be cut: train.epochs in conf/, as `make repro` reads it
        config.write_text(re.sub(r"(?m)^(  epochs:) \d+", r"\1 1000000", text), encoding="utf-8")
        require_ok(make(project, "params"))
        before = {path.name for path in run_dirs(project, "train_")}
        command = [os.environ.get("UV") or "uv", "run", "--frozen", "dvc", "repro", "train"]
        env = {**os.environ, "WANDB_MODE": "disabled"}
        dvc = subprocess.Popen(
            command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline, record = time.monotonic() + 300, {}
        while record.get("status") != "running":
            assert time.monotonic() < deadline, "the train stage did not start"
            new = [path for path in run_dirs(project, "train_") if path.name not in before]
            record = read_record(new[0]) if new else {}
            time.sleep(0.2)
        stage = int(record["pid"])
        parent = int(Path(f"/proc/{stage}/stat").read_text().rsplit(")", 1)[1].split()[1])
        os.kill(parent, signal.SIGKILL)  # DVC itself, as an out-of-memory kill or `kill -9`
        dvc.wait(timeout=60)
        while (record := read_record(new[0]))["status"] == "running":
            assert time.monotonic() < deadline, "the stage ran on without DVC"
            time.sleep(0.2)
    finally:
        config.write_text(text, encoding="utf-8")
        require_ok(make(project, "params"))
    assert record["status"] == "interrupted"
    while Path(f"/proc/{stage}").exists() and time.monotonic() < deadline:  # its record, then exit
        time.sleep(0.2)
    assert not Path(f"/proc/{stage}").exists()
    lost = sum(not (new[0] / name).is_file() for name in ("run.json", "run.log", "config.yaml"))
    reliability.record(
        "Signals",
        "kill -9 of `dvc repro` while its train stage runs",
        "the stage gets SIGTERM (parent-death signal), records itself interrupted and exits",
        lost,
    )
    assert lost == 0


def test_a_second_experiment_at_once_never_runs_on_the_first_ones_values(
    project: Path, reliability: Recorder
) -> None:
    uv = os.environ.get("UV") or "uv"
    env = {**os.environ, "WANDB_MODE": "disabled", "UV": uv}

    def first(*command: str) -> tuple[subprocess.Popen[str], Path]:
        """Start an experiment whose train stage lasts seconds; return it, once training."""
        before = {path.name for path in run_dirs(project, "train_")}
        started = subprocess.Popen(
            command,
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 300
        while not (new := [p for p in run_dirs(project, "train_") if p.name not in before]):
            assert started.poll() is None, started.communicate()[0]
            assert time.monotonic() < deadline, "the train stage did not start"
            time.sleep(0.1)
        return started, new[0]

    def restore() -> None:
        require_ok(run(["git", "checkout", "--", "."], cwd=project))
        require_ok(uv_run(project, "dvc", "checkout", "--force", "--quiet"))

    # Through `make exp`: the second is refused in one line before DVC touches params.yaml.
    running, _ = first("make", "exp", f"UV={uv}", "ARGS=-S train.epochs=6000")
    second = make(project, "exp", "ARGS=-S train.epochs=7")
    epochs = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))["train"][
        "epochs"
    ]
    output = running.communicate(timeout=600)[0]
    assert second.returncode == 2, second.stderr
    assert second.stderr.startswith("error: an experiment (pid "), second.stderr
    assert "dvc exp run --queue -S train.epochs=7" in second.stderr
    lost = int(epochs != 6000) + int(running.returncode != 0)  # the first one's values, its run
    restore()
    # Plain `dvc exp run` twice: DVC refuses the second, which has already written its value
    # into params.yaml; the first one's next stage refuses to start on it, in one line.
    running, _ = first(uv, "run", "--frozen", "dvc", "exp", "run", "-S", "train.epochs=6001")
    second = uv_run(project, "dvc", "exp", "run", "-S", "train.epochs=7")
    stopped = running.communicate(timeout=600)[0]
    restore()
    assert second.returncode != 0
    assert running.returncode != 0
    refused = [line for line in stopped.splitlines() if line.startswith("error: params.yaml")]
    assert len(refused) == 1, stopped
    reliability.record(
        "Concurrency",
        "two experiments at once in one workspace: `make exp`, then plain `dvc exp run`",
        "make exp: the second refused in one line, the first completes; dvc exp run: the first "
        "stops at its next stage in one line instead of running on the second's values",
        lost,
    )
    assert lost == 0, output


def test_an_experiment_given_a_key_stops_before_any_commit_holds_it(project: Path) -> None:
    key = "K004" + "p3Lx9Qm7Rt2Vw6Zb8Nc4Hd1Jf5G"  # pragma: allowlist secret
    result = uv_run(project, "dvc", "exp", "run", "-S", f"+api_key={key}")
    require_ok(run(["git", "checkout", "--", "."], cwd=project))
    require_ok(uv_run(project, "dvc", "checkout", "--force", "--quiet"))
    output = result.stdout + result.stderr
    said = [line for line in output.splitlines() if line.startswith("error: params.yaml:")]
    assert result.returncode != 0
    assert [line.split(": ", 2)[2] for line in said] == [
        "B2 application key: keys go in the environment, not in -S"
    ], result.stderr
    history = run(["git", "log", "--all", "-p"], cwd=project).stdout  # refs/exps/ included
    assert key not in history + output


def recorded_trains(project: Path) -> list[tuple[str, int, str]]:
    """Each train DVC recorded, in its run cache, dvc.lock and each experiment's commit: where,
    the train.epochs it names, and the md5 of the model it names."""
    found: list[tuple[str, Any]] = [(f"run cache {p.name[:8]}", p.read_text(encoding="utf-8"))
        for p in (project / ".dvc" / "cache" / "runs").rglob("*") if p.is_file()]  # fmt: skip
    found.append(("dvc.lock", (project / "dvc.lock").read_text(encoding="utf-8")))
    refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], cwd=project).stdout
    for ref in refs.split():
        found.append((ref, run(["git", "show", f"{ref}:dvc.lock"], cwd=project).stdout))
    trains = []
    for where, text in found:
        entry = yaml.safe_load(text) or {}
        entry = entry.get("stages", {}).get("train", {}) if "stages" in entry else entry
        if "stage=train" not in str(entry.get("cmd")):
            continue
        (model,) = [out["md5"] for out in entry["outs"] if out["path"].endswith("model.joblib")]
        trains.append((where, entry["params"]["params.yaml"]["train"]["epochs"], model))
    return trains


def trained_epochs(project: Path) -> dict[str, set[int]]:
    """The md5 of each model a train run wrote, and the epochs its run's config gave."""
    found: dict[str, set[int]] = {}
    for folder in run_dirs(project, "train_"):
        model, config = folder / "artifacts" / "model.joblib", folder / "config.yaml"
        if model.is_file() and config.is_file():
            epochs = yaml.safe_load(config.read_text(encoding="utf-8"))["train"]["epochs"]
            found.setdefault(hashlib.md5(model.read_bytes()).hexdigest(), set()).add(epochs)
    return found


@pytest.mark.parametrize("moment", ["as prepare runs", "as train starts", "2 s into train"])
def test_two_raw_experiments_racing_leave_no_record_of_one_on_the_others_values(
    project: Path, reliability: Recorder, moment: str
) -> None:
    # `dvc exp run` writes its -S values into params.yaml before it takes DVC's lock: a second
    # one started while the first runs changes what the first's stages read. Whatever the
    # moment, nothing DVC records (run cache, dvc.lock, an experiment) may pair a model with
    # epochs it was not trained for: `dvc exp run -S` would restore it as cached.
    uv = os.environ.get("UV") or "uv"
    env = {**os.environ, "WANDB_MODE": "disabled"}
    stage = "prepare_" if moment == "as prepare runs" else "train_"
    before = {path.name for path in run_dirs(project, stage)}
    command = [uv, "run", "--frozen", "dvc", "exp", "run", "-S", "train.epochs=6003", "--force"]
    first = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while not [p for p in run_dirs(project, stage) if p.name not in before]:
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, f"no {stage} run started"
        time.sleep(0.05)
    time.sleep(2.0 if moment.startswith("2 s") else 0.0)
    second = uv_run(project, "dvc", "exp", "run", "-S", "train.epochs=9")
    said = first.communicate(timeout=600)[0] + second.stdout + second.stderr
    require_ok(run(["git", "checkout", "--", "."], cwd=project))
    require_ok(uv_run(project, "dvc", "checkout", "--force", "--quiet"))
    trained = trained_epochs(project)
    wrong = [(where, epochs) for where, epochs, model in recorded_trains(project)
             if epochs not in trained.get(model, set())]  # fmt: skip
    reliability.record(
        "Concurrency",
        f"two raw `dvc exp run` in one workspace, the second started {moment}; then every "
        "train DVC recorded (run cache, dvc.lock, experiments) checked against its run",
        f"{len(recorded_trains(project))} recorded trains, {len(wrong)} on values they did not "
        "train with",
        len(wrong),
    )
    assert wrong == [], said
