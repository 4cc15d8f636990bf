"""What a run leaves behind, however its stage ends, and the files it writes whole.

The stages here are small stand-ins given to the real `execute`, which writes
real run folders under tmp_path.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE, Popen
from typing import Any

import numpy as np
import pytest
from conftest import FAKE_KEYS, files_holding
from my_project.runtime import run as run_module
from my_project.runtime.pipeline import (
    LoggerSettings,
    RuntimeSettings,
    Settings,
)
from my_project.runtime.records import (
    RECORD,
    create_run_dir,
    replacing,
    runs_dir,
    write_text,
)
from my_project.runtime.run import (
    Metrics,
    Run,
    configure_logging,
    execute,
    exit_status,
)
from my_project.runtime.tracking import Tracker

Stage = Callable[[Any, Run], Any]
STAGE = "probe"


@dataclass
class ProbeConfig:
    """The section a stand-in stage gets."""

    size: int = 3


@pytest.fixture
def root(isolated: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project root runs go under; the working directory is outside any repository."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "project"


def run_probe(
    root: Path | str, stage: Stage, mode: str = "run", seed: int = 7, **extra: Any
) -> dict[str, Any]:
    """Execute `stage` as a run of stage `probe`, without a tracker; `extra`: more config."""
    settings = Settings(
        stage=STAGE,
        seed=seed,
        root=str(root),
        runtime=RuntimeSettings(mode=mode),
        logger=LoggerSettings(name="none", mode="disabled"),
    )
    config = {STAGE: {"size": 3}, "seed": seed, **extra}
    overrides = [f"{STAGE}.size=3", *(f"+{key}={value}" for key, value in extra.items())]
    return execute(settings, stage, ProbeConfig(), config, overrides=overrides)


def only_run(root: Path) -> tuple[Path, dict[str, Any]]:
    """The one run folder under `root` and its record."""
    (folder,) = runs_dir(root).iterdir()
    return folder, json.loads((folder / RECORD).read_text(encoding="utf-8"))


def test_a_completed_run_records_config_metrics_artifacts_and_logs(
    root: Path, tmp_path: Path
) -> None:
    published = tmp_path / "models" / "model.bin"

    def stage(cfg: ProbeConfig, run: Run) -> Metrics:
        run.log.info("fitting %d rows", cfg.size)
        for step in range(2):
            run.log_metrics({"loss": 1.0 - step / 2}, step=step)
        with run.artifact("model.bin", kind="model") as path:
            path.write_bytes(b"weights")
        run.publish("model.bin", published)
        return {"score": 0.5}

    outcome = run_probe(root, stage)
    assert (outcome["status"], outcome.get("error")) == ("completed", None)
    folder, record = only_run(root)
    assert folder.name == outcome["id"]
    assert record["id"] == outcome["id"]
    assert (record["stage"], record["status"], record["mode"]) == (STAGE, "completed", "run")
    assert record["metrics"] == {"score": 0.5}
    assert record["overrides"] == [f"{STAGE}.size=3"]
    artifact = {"path": "artifacts/model.bin", "kind": "model"}
    assert record["artifacts"] == {"model.bin": artifact}
    assert record["pid"] == os.getpid()
    assert record["started"] <= record["ended"]
    assert record["duration_s"] >= 0
    assert {"argv", "host", "sweep", "tracker"} <= record.keys()
    assert published.read_bytes() == (folder / "artifacts" / "model.bin").read_bytes()
    steps = (folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in steps] == [
        {"step": 0, "loss": 1.0},
        {"step": 1, "loss": 0.5},
    ]
    assert "size: 3" in (folder / "config.yaml").read_text(encoding="utf-8")
    assert json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    assert "fitting 3 rows" in (folder / "run.log").read_text(encoding="utf-8")


def failing(cfg: ProbeConfig, run: Run) -> Metrics:
    """A stage that fails."""
    raise ValueError("learning rate too high")


def test_a_failed_run_records_its_traceback_and_execute_returns(root: Path) -> None:
    outcome = run_probe(root, failing)
    assert (outcome["status"], outcome["error"]) == ("failed", "ValueError: learning rate too high")
    folder, record = only_run(root)
    assert (record["status"], record["error"]) == ("failed", outcome["error"])
    assert 'raise ValueError("learning rate too high")' in record["traceback"]
    assert "Traceback" in (folder / "run.log").read_text(encoding="utf-8")


def test_in_debug_mode_a_failure_is_recorded_then_raised(root: Path) -> None:
    with pytest.raises(ValueError, match="learning rate too high"):
        run_probe(root, failing, mode="debug")
    _, record = only_run(root)
    assert (record["status"], record["mode"]) == ("failed", "debug")


def stopped_by(signum: int, in_a_library: bool) -> Stage:
    """A stage stopped by a signal, as a scheduler, `kill` or Ctrl-C does it; `in_a_library`:
    inside library code that makes an error of its own of the stop (a C extension's import)."""

    def stage(cfg: ProbeConfig, run: Run) -> Metrics:
        try:
            os.kill(os.getpid(), signum)
            time.sleep(5)
        except BaseException as stop:
            if in_a_library:
                raise ValueError("not a valid PEP 3118 buffer format string") from stop
            raise
        raise AssertionError("the signal did not stop the stage")  # pragma: no cover

    return stage


@pytest.mark.parametrize("in_a_library", [False, True], ids=["plain", "in-a-library"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_run_stopped_by_a_signal_is_recorded_as_interrupted(
    root: Path, signum: int, in_a_library: bool
) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with pytest.raises(SystemExit) as exited:
        run_probe(root, stopped_by(signum, in_a_library))
    assert exited.value.code == 128 + signum
    _, record = only_run(root)
    assert record["status"] == "interrupted"
    assert before == {s: signal.getsignal(s) for s in before}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_sigterm_whose_exception_python_drops_comes_again(root: Path) -> None:
    class Finalized:
        def __del__(self) -> None:  # what a handler raises here is printed, then dropped
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)

    def stage(cfg: ProbeConfig, run: Run) -> Metrics:
        Finalized()
        time.sleep(5)  # a lost stop: the stage runs on to its end
        return {}

    with pytest.raises(SystemExit) as exited:
        run_probe(root, stage)
    assert exited.value.code == 128 + signal.SIGTERM
    assert only_run(root)[1]["status"] == "interrupted"


def test_a_stop_just_after_the_folder_is_made_waits_for_the_first_record(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stopped_meanwhile(*args: Any) -> Any:  # Ctrl-C between the folder and its record
        logger = configure_logging(*args)
        os.kill(os.getpid(), signal.SIGINT)
        return logger

    monkeypatch.setattr(run_module, "configure_logging", stopped_meanwhile)
    with pytest.raises(SystemExit) as exited:
        run_probe(root, lambda cfg, run: time.sleep(5))
    assert exited.value.code == 128 + signal.SIGINT
    assert only_run(root)[1]["status"] == "interrupted"


def test_a_second_ctrl_c_while_the_tracker_ends_stops_the_wait_not_the_record(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow_finish(tracker: Tracker, summary: Any, exit_code: int) -> Any:  # W&B uploading
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
        raise AssertionError("Ctrl-C did not stop the wait")  # pragma: no cover

    monkeypatch.setattr(Tracker, "finish", slow_finish)
    with pytest.raises(SystemExit) as exited:
        run_probe(root, stopped_by(signal.SIGINT, in_a_library=False))
    assert exited.value.code == 128 + signal.SIGINT
    _, record = only_run(root)
    assert record["status"] == "interrupted"
    assert record["tracker"]["finish"] == "not waited for: KeyboardInterrupt"


@pytest.fixture
def stuck_tracker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tracker]:
    """A run's tracker whose helper never answers (a stopped helper, a network that hangs),
    waited for 30 s at most, as logger.finish_timeout says by default."""
    with Popen(["sleep", "120"], stdin=PIPE, stdout=PIPE, text=True) as helper:
        tracker = Tracker(helper, 30.0)
        monkeypatch.setattr(run_module, "open_tracker", lambda *args, **names: tracker)
        yield tracker
        helper.kill()


def test_a_tracker_that_never_finishes_is_waited_for_at_most_its_timeout(
    root: Path, stuck_tracker: Tracker
) -> None:
    stuck_tracker.timeout, seen = 2.0, []  # what run.json said while the stage waited

    def watch() -> None:
        while not seen and (runs := list(runs_dir(root).glob(f"*/{RECORD}"))):
            if json.loads(runs[0].read_text(encoding="utf-8"))["status"] != "running":
                seen.append(json.loads(runs[0].read_text(encoding="utf-8")))
            time.sleep(0.05)

    def stage(cfg: ProbeConfig, run: Run) -> Metrics:
        threading.Thread(target=watch, daemon=True).start()
        return {"score": 1.0}

    started = time.monotonic()
    outcome = run_probe(root, stage)
    assert time.monotonic() - started < 15
    assert (outcome["status"], exit_status(outcome)) == ("completed", 0)
    assert outcome["tracker"]["finish"].startswith("not done in 2 s")
    _, record = only_run(root)
    assert record == outcome
    assert seen
    assert seen[0]["status"] == "completed"  # written before the wait, which never ends
    assert "tracker" not in seen[0]


def test_a_sigterm_while_the_tracker_finishes_ends_the_wait_and_the_run_stays_completed(
    root: Path, stuck_tracker: Tracker
) -> None:
    def stage(cfg: ProbeConfig, run: Run) -> Metrics:  # SIGTERM a second into the wait
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
        return {"score": 1.0}

    started = time.monotonic()
    outcome = run_probe(root, stage)
    assert time.monotonic() - started < 15  # not the tracker's 30 s
    assert outcome["status"] == "completed"
    assert outcome["tracker"]["finish"] == "not waited for: SystemExit"
    assert only_run(root)[1] == outcome


def test_a_helper_that_stops_reading_never_blocks_the_stage(
    root: Path, stuck_tracker: Tracker
) -> None:
    stuck_tracker.timeout = stuck_tracker.patience = 1.0  # its pipe fills up: 64 KB

    def stage(cfg: ProbeConfig, run: Run) -> Metrics:
        for step in range(3000):  # about 200 KB of metrics for the tracker
            run.log_metrics({"loss": 1 / (step + 1), "val_loss": 2 / (step + 1)}, step=step)
        return {"loss": 0.0}

    started = time.monotonic()
    outcome = run_probe(root, stage)
    assert time.monotonic() - started < 20  # one wait for the pipe, one for the finish
    assert outcome["status"] == "completed"
    folder, _ = only_run(root)
    assert len((folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines()) == 3000


def test_a_key_inside_a_failing_value_lands_in_no_file_of_the_run(root: Path) -> None:
    keys = list(FAKE_KEYS.values())

    def stage(cfg: ProbeConfig, run: Run) -> Metrics:  # a URL with credentials, then its error
        run.log.info("reading s3://%s:%s@bucket/table.csv", keys[1], keys[0])
        raise ValueError(f"cannot read s3://{keys[1]}:{keys[0]}@bucket/x.csv ({', '.join(keys)})")

    outcome = run_probe(root, stage)
    folder, record = only_run(root)
    assert outcome["status"] == record["status"] == "failed"
    assert "[REDACTED]" in record["error"]
    assert "ValueError: cannot read s3://" in record["traceback"]
    assert files_holding(folder, *keys) == []


def half_written(cfg: ProbeConfig, run: Run) -> Metrics:
    """A stage that fails while saving an artifact."""
    with run.artifact("model.bin") as path:
        path.write_bytes(b"half")
        raise RuntimeError("out of memory while saving")


def never_written(cfg: ProbeConfig, run: Run) -> Metrics:
    """A stage that forgets to write its artifact."""
    with run.artifact("model.bin"):
        pass
    return {}


@pytest.mark.parametrize(
    ("stage", "error"),
    [
        (half_written, "out of memory while saving"),
        (never_written, "artifact 'model.bin' was not written"),
        (lambda cfg, run: run.artifact("../model.bin").__enter__(), "must be a plain name"),
        (lambda cfg, run: run.publish("model.bin", Path("m.bin")), "no artifact 'model.bin'"),
        (lambda cfg, run: {"loss": math.nan}, "non-finite metrics: loss"),
        (lambda cfg, run: 0.5, "returned float; return a dict"),
    ],
    ids=[
        "half-written",
        "never-written",
        "path-as-name",
        "publish-unknown",
        "nan-metric",
        "metrics-not-a-dict",
    ],
)
def test_a_misused_artifact_or_bad_metrics_fail_the_run_saying_why(
    root: Path, stage: Stage, error: str
) -> None:
    outcome = run_probe(root, stage)
    assert outcome["status"] == "failed"
    assert error in str(outcome["error"])
    folder, record = only_run(root)
    assert (record["artifacts"], record["metrics"]) == ({}, {})
    assert not any((folder / "artifacts").glob("*"))


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ({"_target_": "shutil.copyfilee"}, "Error locating target 'shutil.copyfilee'"),
        ({"_target_": "datetime.timedelta", "weekz": 1}, "'weekz' is an invalid keyword"),
    ],
    ids=["no-such-class", "no-such-argument"],
)
def test_a_config_naming_what_cannot_be_built_is_bad_input_told_in_one_line(
    root: Path, spec: dict[str, Any], said: str
) -> None:
    from hydra.utils import instantiate

    outcome = run_probe(root, lambda cfg, run: instantiate(spec))  # as a stage builds its model
    assert (outcome["status"], exit_status(outcome)) == ("failed", 2)
    assert str(outcome["error"]).startswith("UsageError: ")
    assert said in str(outcome["error"])
    assert "\n" not in str(outcome["error"])
    assert "HYDRA_FULL_ERROR" not in str(outcome["error"])


def test_a_key_in_the_config_or_on_the_command_line_lands_in_no_file_of_the_run(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "K004" + "x7Qm2Lp9Rt4Vw8Zb3Nc6Hd1Jf5G"  # pragma: allowlist secret
    password = "correct horse battery staple"  # pragma: allowlist secret
    argv = ["prog", f"+db_password={password}", f"+note=x_{key}", f"+k_{key}=1"]  # a name too
    monkeypatch.setattr("sys.argv", argv)
    monkeypatch.setenv("DVC_EXP_NAME", f"exp_{key}")  # the W&B run's group
    told: list[Any] = []  # what W&B would get
    monkeypatch.setattr(
        run_module, "open_tracker", lambda *args, **names: told.append(names) or Tracker()
    )
    run_probe(root, lambda cfg, run: {}, db_password=password, note=f"x_{key}", **{f"k_{key}": 1})
    assert told
    assert key not in str(told)
    assert password not in str(told)
    folder, record = only_run(root)
    assert record["argv"] == [
        "prog",
        "+db_password=[REDACTED]",
        "+note=x_[REDACTED]",
        "+k_[REDACTED]=[REDACTED]",
    ]
    for path in (p for p in folder.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8", errors="replace")
        assert key not in text, path.name
        assert password not in text, path.name


def test_runs_with_the_same_seed_draw_the_same_numbers(root: Path) -> None:
    def draw(cfg: ProbeConfig, run: Run) -> Metrics:
        return {"python": random.random(), "numpy": float(np.random.rand())}

    def drawn(seed: int) -> Any:
        run_id = run_probe(root, draw, seed=seed)["id"]
        return json.loads((runs_dir(root) / run_id / RECORD).read_text(encoding="utf-8"))["metrics"]

    first, again, other = (drawn(seed) for seed in (7, 7, 8))
    assert first == again
    assert first != other


def test_under_dvc_a_temporary_copys_runs_land_in_the_original_repository(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "original"))
    outcome = run_probe(".", lambda cfg, run: {})
    assert (tmp_path / "original" / "runs" / outcome["id"] / RECORD).is_file()


def test_a_run_started_outside_the_main_thread_completes(root: Path) -> None:
    outcomes: list[dict[str, Any]] = []
    worker = threading.Thread(target=lambda: outcomes.append(run_probe(root, lambda c, r: {})))
    worker.start()
    worker.join(timeout=60)
    assert [outcome["status"] for outcome in outcomes] == ["completed"]


def make_run_dir(runs: str) -> str:
    """Create one run folder (in a worker process)."""
    return create_run_dir(Path(runs), STAGE)[0]


def test_sixteen_runs_started_at_once_get_sixteen_folders(tmp_path: Path) -> None:
    with ProcessPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(make_run_dir, [str(tmp_path)] * 16))
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(set(ids))
    assert len(ids) == 16


def test_a_write_stopped_midway_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out" / "table.csv"
    write_text(target, "old\n")
    with pytest.raises(UnicodeEncodeError):
        write_text(target, "\ud800")  # cannot be encoded: fails mid-write
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [path.name for path in target.parent.iterdir()] == ["table.csv"]


def test_jobs_writing_one_output_at_once_leave_one_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    contents = [bytes([job]) * 200_000 for job in range(8)]

    def write(content: bytes) -> None:
        for _ in range(5):
            with replacing(target) as partial:
                partial.write_bytes(content)

    threads = [threading.Thread(target=write, args=(content,)) for content in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert target.read_bytes() in contents
    assert [path.name for path in tmp_path.iterdir()] == ["model.bin"]
