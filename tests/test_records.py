"""End-to-end tier: every run leaves a complete record that nothing overwrites.

Real stage runs of a baked project, as subprocesses: concurrency, crashes,
signals and kill -9, sweeps with a failing job, debug mode, seeds, artifacts.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import newest, read_record, require_ok, run, run_dirs, stage_run
from reliability import Recorder

pytestmark = pytest.mark.e2e
# What every run folder keeps, whatever happened to the run.
RECORD_FILES = ("run.json", "config.yaml", "provenance.json", "run.log")
QUIET = "logger=none"  # W&B has its own tests (test_tracking.py)
# A value the config accepts and the estimator refuses once training starts: a crash in train.
CRASH = "model.regression.alpha=-1"


@pytest.fixture(scope="module")
def project(prepared: Path) -> Path:
    """The shared installed project, its data prepared and featurized."""
    return prepared


def records(project: Path, stage: str = "") -> dict[str, dict[str, object]]:
    """Every run record in runs/, by run id."""
    return {folder.name: read_record(folder) for folder in run_dirs(project, stage)}


def command(project: Path, *args: str) -> list[str]:
    """The command line of a stage run, for the tests that start it themselves."""
    return [str(project / ".venv/bin/python"), "-m", project.name, QUIET, *args]


def unreadable(folder: Path) -> int:
    """JSON files that do not parse, and JSON lines (but a crash's last one) that do not."""
    bad = 0
    for path in folder.rglob("*.json"):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            bad += 1
    for path in folder.rglob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines()[:-1]:
            try:
                json.loads(line)
            except ValueError:
                bad += 1
    return bad


def lost_from(run_dir: Path) -> int:
    """Files of a run's record that are missing or unreadable."""
    return sum(not (run_dir / name).is_file() for name in RECORD_FILES) + unreadable(run_dir)


def test_a_completed_run_records_everything(project: Path) -> None:
    require_ok(stage_run(project, "stage=train", "train.epochs=3", QUIET))
    folder = newest(project, "train")
    record = read_record(folder)
    assert record["status"] == "completed"
    assert record["id"] == folder.name
    assert record["overrides"] == ["stage=train", "train.epochs=3", QUIET]
    assert record["started"] < record["ended"]
    names = {p.name for p in folder.iterdir()}
    assert {*RECORD_FILES, "metrics.jsonl", "artifacts"} <= names
    # One line per epoch, from the override on the command line.
    assert len((folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines()) == 3
    provenance = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    head = require_ok(run(["git", "rev-parse", "HEAD"], cwd=project)).stdout.strip()
    assert provenance["git_commit"] == head


def test_sixteen_runs_started_at_once_get_sixteen_records(
    project: Path, reliability: Recorder
) -> None:
    before = set(records(project, "prepare"))
    processes = [
        subprocess.Popen(command(project, "stage=prepare"), cwd=project, stderr=subprocess.DEVNULL)
        for _ in range(16)
    ]
    assert [p.wait(timeout=300) for p in processes] == [0] * 16
    new = {k: v for k, v in records(project, "prepare").items() if k not in before}
    assert len(new) == 16
    assert {r["status"] for r in new.values()} == {"completed"}
    lost = sum(lost_from(project / "runs" / run_id) for run_id in new)
    reliability.record(
        "Concurrency",
        "16 runs of one stage started in the same second",
        "16 run folders, 16 complete records, every one completed",
        lost,
    )
    assert lost == 0


BAD_OVERRIDES = [
    (["stage=nope"], "error: unknown stage 'nope'"),
    (["stage=train", "train.epochs=abc"], "error: config key 'train.epochs': Value 'abc'"),
    (["stage=train", "seed=1.5"], "seed': Value '1.5'"),
    (["stage=train", "model=nope"], "error: model=nope: no such option; known: boosted_trees, "),
    (["stage=train", "train.epochz=3"], "error: train.epochz is not a setting; known: "),
    (["train.epochs=3"], "error: no stage given; add stage=NAME"),
    # Values of the right type out of range: refused by the checks in the stages' dataclasses.
    (["stage=train", "train.epochs=0"], "error: train.epochs must be 1 or more (got 0)"),
    (["stage=train", "train.epochs=-1"], "error: train.epochs must be 1 or more (got -1)"),
    (["stage=train", "train.batch_size=-5"], "error: train.batch_size must be 1 or more (got -5)"),
    (
        ["stage=prepare", "data.test_size=1.5"],
        "error: prepare.test_size must be between 0 and 1 (got 1.5); set data.test_size",
    ),
    (["stage=train", "seed=-3"], "error: seed must be 0 to 2**32 - 1 (got -3)"),
]


@pytest.mark.parametrize(
    ("overrides", "message"), BAD_OVERRIDES, ids=[" ".join(o) for o, _ in BAD_OVERRIDES]
)
def test_a_bad_override_is_refused_before_any_run_starts(
    project: Path, overrides: list[str], message: str, reliability: Recorder
) -> None:
    before = set((project / "runs").iterdir())
    result = stage_run(project, *overrides, QUIET)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()  # one line, no traceback
    assert message in line
    left = len(set((project / "runs").iterdir()) - before)
    reliability.record(
        "Bad overrides",
        f"`{' '.join(overrides)}`",
        f"exit {result.returncode}: {message}",
        left,
    )
    assert left == 0


@pytest.mark.parametrize(
    "args", [["stage=train", QUIET], ["params"]], ids=["a stage run", "params"]
)
def test_a_yaml_syntax_error_in_conf_is_refused_in_one_line_naming_the_file_and_line(
    project: Path, args: list[str], reliability: Recorder
) -> None:
    config = project / "conf" / "config.yaml"
    text, params = config.read_text(encoding="utf-8"), (project / "params.yaml").read_bytes()
    before = set((project / "runs").iterdir())
    config.write_text(text + "broken: a: b\n", encoding="utf-8")  # `a: b` cannot be a value
    try:
        result = stage_run(project, *args)
    finally:
        config.write_text(text, encoding="utf-8")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()  # one line, no traceback
    line_number = len(text.splitlines()) + 1
    expected = f"conf/config.yaml, line {line_number}: mapping values are not allowed here"
    assert line == f"error: {expected}; fix the YAML"
    left = len(set((project / "runs").iterdir()) - before)
    left += (project / "params.yaml").read_bytes() != params
    reliability.record(
        "Bad overrides",
        f"a YAML syntax error in conf/config.yaml (`broken: a: b`), then `{args[0]}`",
        f"exit 2: {line}",
        left,
    )
    assert left == 0


def test_same_config_same_seed_same_metrics(project: Path) -> None:
    for _ in range(2):
        require_ok(stage_run(project, "stage=train", "model=mlp", "train.epochs=4", QUIET))
    last_two = run_dirs(project, "train_")[-2:]
    metrics = [read_record(folder)["metrics"] for folder in last_two]
    assert metrics[0] == metrics[1]


def test_a_crash_is_recorded_with_its_traceback(project: Path, reliability: Recorder) -> None:
    result = stage_run(project, "stage=train", CRASH, QUIET)
    assert result.returncode == 1
    folder = newest(project, "train")
    record = read_record(folder)
    assert record["status"] == "failed"
    assert "InvalidParameterError" in record["error"]  # scikit-learn's, a ValueError
    assert "Traceback (most recent call last)" in record["traceback"]
    assert "stage train failed: InvalidParameterError" in result.stderr
    lost = lost_from(folder)
    reliability.record(
        "Crashes",
        f"the train stage raises (`{CRASH}`)",
        "exit 1; run recorded as failed with its traceback; the error in one log line",
        lost,
    )
    assert lost == 0


def test_a_sweep_with_a_failing_job_runs_the_others_and_fails_at_the_end(
    project: Path, reliability: Recorder
) -> None:
    before = set(records(project, "train"))
    result = stage_run(project, "--multirun", "stage=train", f"{CRASH},0.001,0.01", QUIET)
    assert result.returncode == 1
    new = {k: v for k, v in records(project, "train").items() if k not in before}
    assert sorted(r["status"] for r in new.values()) == ["completed", "completed", "failed"]
    assert "error: the sweep failed: run " in result.stderr
    assert CRASH in result.stderr
    lost = sum(lost_from(project / "runs" / run_id) for run_id in new)
    reliability.record(
        "Sweeps",
        "a 3-job sweep whose first job crashes (default launcher)",
        "the other 2 jobs complete; exit 1 naming the failed run and its overrides",
        lost,
    )
    assert lost == 0


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_marks_the_run_interrupted(
    project: Path, sig: int, code: int, reliability: Recorder
) -> None:
    before = set(records(project, "train"))
    process = subprocess.Popen(
        command(project, "stage=train", "train.epochs=100000"),
        cwd=project,
        stderr=subprocess.PIPE,
        text=True,
    )
    new = wait_for_new_run(project, before)
    wait_for_status(new, "running")
    time.sleep(1.0)
    process.send_signal(sig)
    assert process.wait(timeout=60) == code
    record = read_record(new)
    assert record["status"] == "interrupted"
    assert record["ended"]
    lost = lost_from(new)
    name = signal.Signals(sig).name
    reliability.record(
        "Signals",
        f"{name} one second into training",
        f"exit {code}; run recorded as interrupted, with its end time",
        lost,
    )
    assert lost == 0


@pytest.mark.parametrize("listing", ["runs show --newest", "runs ls", "params", "--help"])
def test_a_listing_whose_reader_is_gone_ends_quietly(
    project: Path, listing: str, reliability: Recorder
) -> None:
    # `... | head`: here the reader (`true`) is gone before the listing starts writing.
    python = project / ".venv/bin/python"
    script = f"set -o pipefail; '{python}' -m {project.name} {listing} | true"
    before = records(project)
    result = run(["bash", "-c", script], cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    changed = sum(record != before.get(run_id) for run_id, record in records(project).items())
    reliability.record(
        "Crashes",
        f"`{listing} | head`: the reader closes the pipe first",
        "exit 0, nothing on stderr (no BrokenPipeError traceback); no record touched",
        changed,
    )
    assert changed == 0


def test_kill_9_at_any_moment_leaves_no_half_written_json(
    project: Path, reliability: Recorder
) -> None:
    rng = random.Random(7)
    for _ in range(6):
        process = subprocess.Popen(
            command(project, "stage=train", "train.epochs=300"),
            cwd=project,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.2, 3.0))
        process.kill()
        process.wait(timeout=60)
    lost = unreadable(project / "runs")
    reliability.record(
        "Signals",
        "kill -9 at 6 random moments (0.2 to 3 s) of training",
        "every JSON file in runs/ parses, every JSON line but a last one too",
        lost,
    )
    assert lost == 0


def test_debug_mode_leaves_no_record_and_raises_at_once(project: Path, tmp_path: Path) -> None:
    before = set(records(project))
    for stage in ("prepare", "featurize"):  # train's inputs, in the debug folder
        require_ok(stage_run(project, f"stage={stage}", "debug=default", TMPDIR=str(tmp_path)))
    result = stage_run(project, "stage=train", "debug=default", CRASH, TMPDIR=str(tmp_path))
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert set(records(project)) == before
    debug_runs = list((tmp_path / f"{project.name}-debug" / "runs").glob("train_*"))
    assert len(debug_runs) == 1


def test_an_artifact_can_be_reused_instead_of_recomputed(project: Path) -> None:
    require_ok(stage_run(project, "stage=train", "train.epochs=3", QUIET))
    source = newest(project, "train")
    require_ok(stage_run(project, "stage=train", f"train.load_from={source.name}", QUIET))
    reused = newest(project, "train")
    assert read_record(reused)["notes"]["load_from"] == source.name
    # The same model scores the same validation rows the same, and is published for DVC.
    assert read_record(reused)["metrics"]["val_rmse"] == read_record(source)["metrics"]["val_rmse"]
    config = yaml.safe_load((reused / "config.yaml").read_text(encoding="utf-8"))
    assert (project / config["train"]["model_path"]).stat().st_size > 0
    missing = "train.load_from=train_19990101T000000Z_000000"
    refused = stage_run(project, "stage=train", missing, QUIET)
    assert refused.returncode == 2
    assert "no run 'train_19990101T000000Z_000000' with a model" in refused.stderr


def wait_for_new_run(project: Path, before: set[str], timeout: float = 60) -> Path:
    """The folder of the first run that was not in `before`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = set(records(project, "train")) - before
        if new:
            return project / "runs" / new.pop()
        time.sleep(0.1)
    raise AssertionError("no new run folder appeared")


def wait_for_status(folder: Path, status: str, timeout: float = 60) -> None:
    """Wait until a run's record says `status`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read_record(folder).get("status") == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"{folder.name} never reached {status}")
