"""`remote`: storing the B2 key, checking the remote before any data moves.

Each test works on its own `.dvc/` folder, so the project's own remote (local, or B2
after `make use-b2`) changes nothing. Nothing leaves the machine: the only server
contacted is a closed port on 127.0.0.1. `make use-b2`, and push and pull against S3
itself, are tested by the template, against a real S3 server.
"""

from __future__ import annotations

import io
import socket
import stat
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from {{ cookiecutter.pkg_name }}.runtime.cli import command
from {{ cookiecutter.pkg_name }}.runtime.records import TIMESTAMP_FORMAT

BUCKET = "lab-data-2026"
KEY_ID = "0041a2b3c4d5e6f0000000001"  # pragma: allowlist secret
KEY = "made-up-key-for-tests"  # pragma: allowlist secret


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder whose default DVC remote is a local folder; no keys anywhere."""
    root = tmp_path / "project"
    (root / ".dvc").mkdir(parents=True)
    config = "[core]\n    remote = local\n['remote \"local\"']\n    url = ../.dvc-storage\n"
    (root / ".dvc" / "config").write_text(config, encoding="utf-8")
    # `check` points AWS_CONFIG_FILE at the remote's configpath when unset; set here, it is
    # restored after the test.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(root / ".dvc" / "aws_config"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "B2_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("B2_APPLICATION_KEY_ID", raising=False)
    monkeypatch.delenv("B2_APPLICATION_KEY", raising=False)
    return root


@pytest.fixture
def closed_port() -> Iterator[str]:
    """An endpoint on a loopback port that refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def remote(root: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `remote ARGV` on `root`; return the exit status, stdout and stderr."""
    code = command(root, "remote", list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def config_text(root: Path) -> str:
    """The committed DVC config of `root`."""
    return (root / ".dvc" / "config").read_text(encoding="utf-8")


def add_b2(root: Path, endpoint: str) -> None:
    """Make a `b2` remote the default, as `make use-b2` writes it."""
    config = config_text(root).replace("remote = local", "remote = b2")
    config += f"['remote \"b2\"']\n    url = s3://{BUCKET}/project\n    endpointurl = {endpoint}\n"
    (root / ".dvc" / "config").write_text(config, encoding="utf-8")


def test_login_stores_the_key_for_the_owner_only(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("B2_APPLICATION_KEY_ID", KEY_ID)
    monkeypatch.setenv("B2_APPLICATION_KEY", KEY)
    code, _, err = remote(project, capsys, "login")
    assert code == 1
    assert "there is no remote 'b2' yet; run `make use-b2 BUCKET=<bucket>`" in err
    add_b2(project, "https://s3.us-west-004.backblazeb2.com")
    code, out, _ = remote(project, capsys, "login")
    assert code == 0
    assert "key stored for remote 'b2' in .dvc/config.local (mode 0600)" in out
    local = project / ".dvc" / "config.local"
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert KEY in local.read_text(encoding="utf-8")
    assert KEY not in config_text(project)


def test_login_without_keys_or_a_terminal_says_what_to_set(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    add_b2(project, "https://s3.us-west-004.backblazeb2.com")
    code, _, err = remote(project, capsys, "login")
    assert code == 2
    assert "set B2_APPLICATION_KEY_ID and B2_APPLICATION_KEY, or run this in a terminal" in err
    assert not (project / ".dvc" / "config.local").exists()


def test_check_names_a_local_remote_and_refuses_an_unknown_one(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = remote(project, capsys, "check")
    assert (code, out.startswith("remote 'local' is ")) == (0, True)
    code, _, err = remote(project, capsys, "check", "--remote", "nas")
    assert code == 1
    assert "error: no DVC remote 'nas'" in err
    code, _, err = remote(project, capsys, "use-b2", BUCKET)
    assert code == 2
    assert err.startswith("error: argument command: invalid choice: 'use-b2'")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("garbled", ["[core\n", "[core]\n    no_such_option = 1\n"])
@pytest.mark.parametrize("argv", [["remote", "check"], ["runs", "push"]])
def test_a_garbled_dvc_config_is_refused_in_one_line(
    project: Path, capsys: pytest.CaptureFixture[str], garbled: str, argv: list[str]
) -> None:
    (project / ".dvc" / "config").write_text(garbled, encoding="utf-8")
    code = command(project, argv[0], argv[1:])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")


def test_check_and_runs_push_stop_without_a_key_or_an_endpoint(
    project: Path,
    closed_port: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("B2_ENDPOINT_URL", closed_port)
    add_b2(project, closed_port)
    runs = (
        project / "runs" / f"alpha_{datetime.now(timezone.utc).strftime(TIMESTAMP_FORMAT)}_abcdef"
    )
    runs.mkdir(parents=True)
    (runs / "run.json").write_text('{"status": "completed"}', encoding="utf-8")
    for name, argv in (("remote", ["check"]), ("runs", ["push"])):
        assert command(project, name, argv) == 1
        assert "error: no key for remote 'b2': run `make b2-login`" in capsys.readouterr().err
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEY)
    code, _, err = remote(project, capsys, "check")
    assert code == 1
    assert f"error: cannot reach {closed_port}: check the remote's endpointurl" in err
