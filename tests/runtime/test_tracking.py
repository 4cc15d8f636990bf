"""The experiment tracker: which W&B mode a run gets, real offline W&B runs, and online runs
that cannot start (no login, a silent server) logging offline instead."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import FAKE_KEYS, files_holding
from my_project.runtime.pipeline import LoggerSettings
from my_project.runtime.records import UsageError
from my_project.runtime.tracking import Tracker, open_tracker, resolve_mode

API_KEY = "0123456789abcdef0123456789abcdef01234567"  # pragma: allowlist secret
PACKAGE = "my_project"


@pytest.fixture(autouse=True)
def no_wandb_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test without W&B variables or credentials, and keep W&B's files in tmp_path.

    W&B may only ever talk to a closed port on 127.0.0.1: nothing leaves the machine.
    """
    for name in list(os.environ):
        if name.startswith("WANDB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WANDB_ERROR_REPORTING", "false")
    for variable, folder in [
        ("WANDB_CONFIG_DIR", "config"),
        ("WANDB_CACHE_DIR", "cache"),
        ("WANDB_DATA_DIR", "data"),
        ("WANDB_ARTIFACT_DIR", "artifacts"),
    ]:
        monkeypatch.setenv(variable, str(tmp_path / "wandb-home" / folder))


@pytest.fixture
def package_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    """caplog, capturing what the package logs at INFO and above."""
    # A run stops the package's records at its own handlers; let them reach caplog too.
    monkeypatch.setattr(logging.getLogger(PACKAGE), "propagate", True)
    caplog.set_level(logging.INFO, logger=PACKAGE)
    return caplog


def wandb_logger(mode: str = "auto") -> LoggerSettings:
    """The wandb logger settings, with this mode."""
    return LoggerSettings(name="wandb", project="tracking-test", mode=mode)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("online", "online"), ("offline", "offline"), ("disabled", "disabled")],
)
def test_a_configured_mode_is_used_whatever_the_environment_says(
    mode: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled" if mode != "disabled" else "online")
    assert resolve_mode(wandb_logger(mode), debug=False) == expected


@pytest.mark.parametrize("mode", ["auto", "online", "offline", "disabled"])
def test_debug_mode_never_tracks(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", API_KEY)
    assert resolve_mode(wandb_logger(mode), debug=True) == "disabled"


@pytest.mark.parametrize(
    ("env_mode", "expected"),
    [
        ("online", "online"),
        ("run", "online"),
        ("offline", "offline"),
        ("dryrun", "offline"),
        ("disabled", "disabled"),
    ],
)
def test_auto_mode_follows_wandb_mode_from_the_environment(
    env_mode: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", env_mode)
    assert resolve_mode(wandb_logger(), debug=False) == expected


def test_auto_mode_refuses_a_wandb_mode_it_does_not_know(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "sometimes")
    with pytest.raises(UsageError, match="WANDB_MODE 'sometimes' is not one of auto, online"):
        resolve_mode(wandb_logger(), debug=False)


def test_a_mode_that_does_not_exist_is_refused() -> None:
    with pytest.raises(UsageError, match=r"logger\.mode 'cloud' is not one of auto, online"):
        resolve_mode(wandb_logger("cloud"), debug=False)


@pytest.mark.parametrize("login", ["none", "api key", "netrc"])
def test_auto_mode_logs_offline_without_wandb_mode_even_when_logged_in(
    login: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Online only when asked: a login alone never sends a run to the server.
    if login == "api key":
        monkeypatch.setenv("WANDB_API_KEY", API_KEY)
    if login == "netrc":
        netrc = tmp_path / "netrc"
        netrc.write_text(
            f"machine api.wandb.ai\n  login user\n  password {API_KEY}\n", encoding="utf-8"
        )
        netrc.chmod(0o600)
        monkeypatch.setenv("NETRC", str(netrc))
    assert resolve_mode(wandb_logger(), debug=False) == "offline"


def test_the_null_tracker_keeps_nothing_and_says_so(tmp_path: Path) -> None:
    tracker = Tracker()
    tracker.send(log={"loss": 1.0}, step=3)
    tracker.send(artifact=str(tmp_path / "model.pkl"), type="model")
    assert tracker.finish({"loss": 0.5}, 0) == {"tracker": "none"}


def start(config: LoggerSettings, run_dir: Path, debug: bool = False) -> Tracker:
    """open_tracker as the runtime calls it for a train run."""
    run_config = {"train": {"epochs": 3}, "seed": 42}
    name, group = run_dir.name, "default"
    return open_tracker(
        config, run_dir, debug, name=name, group=group, job_type="train", config=run_config
    )


@pytest.mark.parametrize(
    ("config", "debug"),
    [
        (LoggerSettings(name="none", project="tracking-test"), False),
        (LoggerSettings(name="wandb", project="tracking-test", mode="disabled"), False),
        (LoggerSettings(name="wandb", project="tracking-test", mode="online"), True),
    ],
)
def test_no_tracker_is_started_when_tracking_is_off(
    config: LoggerSettings, debug: bool, tmp_path: Path
) -> None:
    assert start(config, tmp_path, debug).helper is None
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_tracker_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"logger\.name 'mlflow' is not a tracker"):
        start(LoggerSettings(name="mlflow", project="tracking-test"), tmp_path)


def test_an_offline_wandb_run_keeps_metrics_and_artifacts_in_the_run_folder(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "train_20260101T000000Z_abcdef"
    run_dir.mkdir()
    tracker = start(wandb_logger(), run_dir)
    assert tracker.helper is not None
    tracker.send(log={"train_rmse": 60.0, "val_rmse": 61.5}, step=0)
    tracker.send(log={"train_rmse": 55.0, "val_rmse": 57.0}, step=1)
    model = run_dir / "artifacts" / "model.pkl"
    model.parent.mkdir()
    model.write_bytes(b"weights")
    tracker.send(artifact=str(model), type="model")
    info = tracker.finish({"val_rmse": 57.0}, 0)
    assert info["tracker"] == "wandb"
    assert "wandb_url" not in info  # offline: nothing was uploaded
    folder = Path(info["wandb_dir"])
    assert folder.parent == run_dir / "wandb"
    assert folder.name.startswith("offline-run-")
    assert folder.name.endswith(info["wandb_id"])
    (log,) = folder.glob("run-*.wandb")
    assert log.stat().st_size > 0


def test_a_key_in_the_tags_lands_in_no_file_of_the_offline_wandb_run(tmp_path: Path) -> None:
    keys = list(FAKE_KEYS.values())
    run_dir = tmp_path / "train_20260101T000000Z_abcdef"
    run_dir.mkdir()
    logger = LoggerSettings(name="wandb", project="tracking-test", mode="offline", tags=keys)
    info = start(logger, run_dir).finish({}, 0)
    assert Path(info["wandb_dir"]).is_relative_to(run_dir)
    assert files_holding(run_dir, *keys) == []
    assert list(run_dir.rglob("*.wandb"))  # the run's records were written, and grepped


def test_an_online_run_without_a_login_logs_offline_without_a_prompt(
    tmp_path: Path, package_log: pytest.LogCaptureFixture
) -> None:
    run_dir = tmp_path / "train_20260101T000000Z_abcdef"
    run_dir.mkdir()
    info = start(wandb_logger("online"), run_dir).finish({}, 0)
    assert Path(info["wandb_dir"]).name.startswith("offline-run-")
    assert "wandb_url" not in info
    (told,) = [line for line in package_log.messages if line.startswith("W&B:")]
    assert told.startswith("W&B: no online run (")  # W&B's reason: no API key
    assert told.endswith("logging offline (upload later: make wandb-sync)")
    assert "\n" not in told


def test_an_online_run_whose_server_does_not_answer_logs_offline_after_the_init_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package_log: pytest.LogCaptureFixture
) -> None:
    # A server that takes connections and never answers (a firewall that drops packets):
    # W&B waits WANDB_INIT_TIMEOUT for it, then the run logs offline, saying so in one line.
    connections: list[socket.socket] = []

    def accept(server: socket.socket) -> None:
        with contextlib.suppress(OSError):  # the server is closed at the end of the test
            while True:
                connections.append(server.accept()[0])

    run_dir = tmp_path / "train_20260101T000000Z_aaaaaa"
    run_dir.mkdir()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        threading.Thread(target=accept, args=(silent,), daemon=True).start()
        monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("WANDB_API_KEY", API_KEY)
        monkeypatch.setenv("WANDB_INIT_TIMEOUT", "3")
        started = time.monotonic()
        info = start(wandb_logger("online"), run_dir).finish({}, 0)
        took = time.monotonic() - started
    assert connections  # W&B asked the server
    assert Path(info["wandb_dir"]).name.startswith("offline-run-")
    assert 3 <= took < 25  # WANDB_INIT_TIMEOUT, then an offline start; not the default 30 s
    (told,) = [line for line in package_log.messages if line.startswith("W&B:")]
    assert told.startswith("W&B: no online run (Timed out")
    assert told.endswith("logging offline (upload later: make wandb-sync)")
    assert "\n" not in told  # W&B's advice on init_timeout left out
