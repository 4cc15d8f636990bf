"""`remote`: switching to B2, storing its key, checking it; and `runs push/pull` over S3.

Nothing here leaves the machine: the only servers contacted are on 127.0.0.1,
either a closed port or a small S3 server run by the test.
"""

from __future__ import annotations

import io
import shutil
import socket
import stat
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

import pytest
from conftest import ROOT, RunCli

from {{ cookiecutter.pkg_name }}.runtime.records import create_run_dir, write_json_atomic
from {{ cookiecutter.pkg_name }}.runtime.remote import (
    ENDPOINT_ENV,
    KEY_ENV,
    KEY_ID_ENV,
    RemoteError,
    login,
    main,
    remote_settings,
)
from {{ cookiecutter.pkg_name }}.runtime.runs import main as runs_main

BUCKET = "lab-data-2026"
REGION = "eu-central-003"
KEY_ID = "0041a2b3c4d5e6f0000000001"
KEY = "K004abcdefghijklmnopqrstuvwxyz0123"  # pragma: allowlist secret


@dataclass
class LoopbackS3:
    """Just enough of S3 on 127.0.0.1 for the runtime: one bucket, kept in memory.

    `head_status` is what HeadBucket answers (0: hang up without answering);
    `deny` makes every other request answer 403 AccessDenied.
    """

    objects: dict[str, bytes] = field(default_factory=dict)
    head_status: int = 200
    deny: bool = False
    port: int = 0

    @property
    def endpoint(self) -> str:
        """The endpoint URL to give a remote."""
        return f"http://127.0.0.1:{self.port}"


def s3_handler(s3: LoopbackS3) -> type[BaseHTTPRequestHandler]:
    """The request handler of a LoopbackS3 (path-style requests, as botocore sends to an IP)."""

    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 answers botocore's `Expect: 100-continue` at once (1.0 makes it wait 1 s).
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

        def reply(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def error(self, status: int, code: str) -> None:
            self.reply(status, f"<Error><Code>{code}</Code></Error>".encode())

        def target(self) -> tuple[str, dict[str, list[str]]]:
            url = urlsplit(self.path)
            bucket, _, key = unquote(url.path).lstrip("/").partition("/")
            assert bucket == BUCKET, f"request for bucket {bucket!r}"
            return key, parse_qs(url.query)

        def do_HEAD(self) -> None:
            if s3.head_status == 0:
                self.close_connection = True
                return
            self.reply(s3.head_status)

        def do_PUT(self) -> None:
            key, _ = self.target()
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if s3.deny:
                self.error(403, "AccessDenied")
                return
            s3.objects[key] = body
            self.reply(200)

        def do_GET(self) -> None:
            key, query = self.target()
            if s3.deny:
                self.error(403, "AccessDenied")
            elif key:
                if key in s3.objects:
                    self.reply(200, s3.objects[key])
                else:
                    self.error(404, "NoSuchKey")
            else:
                prefix = query.get("prefix", [""])[0]
                items = "".join(
                    f"<Contents><Key>{escape(name)}</Key><Size>{len(data)}</Size></Contents>"
                    for name, data in sorted(s3.objects.items())
                    if name.startswith(prefix)
                )
                self.reply(
                    200,
                    (
                        f"<ListBucketResult><Name>{BUCKET}</Name><Prefix>{escape(prefix)}</Prefix>"
                        f"<IsTruncated>false</IsTruncated>{items}</ListBucketResult>"
                    ).encode(),
                )

    return Handler


@pytest.fixture
def s3() -> Iterator[LoopbackS3]:
    """A LoopbackS3 serving on a free port for the length of one test."""
    state = LoopbackS3()
    server = ThreadingHTTPServer(("127.0.0.1", 0), s3_handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the generated .dvc/ settings (no keys, no cache)."""
    root = tmp_path / "project"
    (root / ".dvc").mkdir(parents=True)
    for name in ("config", "aws_config"):
        shutil.copyfile(ROOT / ".dvc" / name, root / ".dvc" / name)
    # `remote check` points AWS_CONFIG_FILE at the remote's configpath when it is unset;
    # set here, the variable is restored after the test.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(root / ".dvc" / "aws_config"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", KEY_ID_ENV, KEY_ENV, ENDPOINT_ENV):
        monkeypatch.delenv(name, raising=False)
    return root


def use_remote(root: Path, url: str, endpoint: str | None = None, name: str = "b2") -> None:
    """Make `url` the default remote, as `dvc remote add -d` would."""
    lines = [f"[core]\n    remote = {name}\n", f"['remote \"{name}\"']\n    url = {url}\n"]
    if endpoint is not None:
        lines.append(f"    endpointurl = {endpoint}\n    region = {REGION}\n")
        lines.append("    configpath = aws_config\n")
    (root / ".dvc" / "config").write_text("".join(lines), encoding="utf-8")


def remote(root: Path, *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run `remote ARGV` on `root`; return the exit status, stdout and stderr."""
    code = main(root, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_use_b2_writes_the_remote_and_makes_it_the_default(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = remote(project, "use-b2", BUCKET, "--region", REGION, capsys=capsys)
    assert code == 0
    assert f"default remote is now 'b2': s3://{BUCKET}/project" in out
    config = (project / ".dvc" / "config").read_text(encoding="utf-8")
    assert "remote = b2" in config
    assert f"url = s3://{BUCKET}/project" in config
    assert f"endpointurl = https://s3.{REGION}.backblazeb2.com" in config
    assert "configpath = aws_config" in config
    assert "url = ../.dvc-storage" in config  # the local remote stays, for going back
    name, settings = remote_settings(project, None)
    assert name == "b2"
    assert settings["region"] == REGION
    assert settings["configpath"] == str(project / ".dvc" / "aws_config")


def test_use_b2_takes_the_endpoint_from_b2_endpoint_url_and_check_reaches_it(
    project: Path,
    s3: LoopbackS3,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, s3.endpoint + "/")
    code, out, _ = remote(project, "use-b2", BUCKET, "--region", REGION, capsys=capsys)
    assert code == 0
    assert f"default remote is now 'b2': s3://{BUCKET}/project ({s3.endpoint})" in out
    config = (project / ".dvc" / "config").read_text(encoding="utf-8")
    assert f"endpointurl = {s3.endpoint}\n" in config
    assert f"region = {REGION}" in config
    assert "backblazeb2.com" not in config
    monkeypatch.delenv(ENDPOINT_ENV)
    login(project, "b2", KEY_ID, KEY)
    # The endpoint is stored: later commands reach it without the variable.
    code, out, _ = remote(project, "check", capsys=capsys)
    assert code == 0
    assert out == f"remote 'b2' ok: bucket '{BUCKET}' at {s3.endpoint}\n"


@pytest.mark.parametrize("value", ["s3.example.com", "ftp://127.0.0.1:21", "http://"])
def test_a_b2_endpoint_url_that_is_not_an_http_url_is_refused(
    project: Path, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, value)
    before = (project / ".dvc" / "config").read_bytes()
    code, _, err = remote(project, "use-b2", BUCKET, capsys=capsys)
    assert code == 1
    assert err == (
        f"error: B2_ENDPOINT_URL '{value}' is not an http(s) URL such as "
        "'http://127.0.0.1:9000'; unset it to use B2's endpoint for the region\n"
    )
    assert (project / ".dvc" / "config").read_bytes() == before


def test_use_b2_without_a_prefix_uses_the_bucket_root(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert remote(project, "use-b2", BUCKET, "--prefix", "/", capsys=capsys)[0] == 0
    assert f"url = s3://{BUCKET}\n" in (project / ".dvc" / "config").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["Lab_Data"], "'Lab_Data' is not a B2 bucket name"),
        (["b2-reserved"], "'b2-reserved' is not a B2 bucket name"),
        (["lab--data"], "'lab--data' is not a B2 bucket name"),
        (["abc"], "'abc' is not a B2 bucket name"),
        ([BUCKET, "--region", "us-west"], "'us-west' is not a B2 region such as 'us-west-004'"),
    ],
)
def test_use_b2_refuses_bad_bucket_and_region_names(
    project: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (project / ".dvc" / "config").read_bytes()
    code, _, err = remote(project, "use-b2", *argv, capsys=capsys)
    assert code == 1
    assert err.startswith(f"error: {message}")
    assert len(err.splitlines()) == 1
    assert (project / ".dvc" / "config").read_bytes() == before


def test_login_stores_the_key_for_the_owner_only(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert remote(project, "use-b2", BUCKET, capsys=capsys)[0] == 0
    monkeypatch.setenv("B2_APPLICATION_KEY_ID", KEY_ID)
    monkeypatch.setenv("B2_APPLICATION_KEY", KEY)
    code, out, _ = remote(project, "login", capsys=capsys)
    assert code == 0
    assert "key stored for remote 'b2' in .dvc/config.local (mode 0600)" in out
    local = project / ".dvc" / "config.local"
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    text = local.read_text(encoding="utf-8")
    assert f"access_key_id = {KEY_ID}" in text
    assert f"secret_access_key = {KEY}" in text
    assert KEY not in (project / ".dvc" / "config").read_text(encoding="utf-8")


def test_login_without_keys_or_a_terminal_says_what_to_set(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _, err = remote(project, "login", capsys=capsys)
    assert code == 1
    assert "set B2_APPLICATION_KEY_ID and B2_APPLICATION_KEY, or run this in a terminal" in err
    assert not (project / ".dvc" / "config.local").exists()


@pytest.mark.parametrize(("key_id", "key"), [("", KEY), (KEY_ID, "")])
def test_login_refuses_an_empty_key(project: Path, key_id: str, key: str) -> None:
    with pytest.raises(RemoteError, match="an empty key id or key was given"):
        login(project, "b2", key_id, key)
    assert not (project / ".dvc" / "config.local").exists()


def test_login_before_there_is_a_b2_remote_says_to_add_it_first(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("B2_APPLICATION_KEY_ID", KEY_ID)
    monkeypatch.setenv("B2_APPLICATION_KEY", KEY)
    code, _, err = remote(project, "login", capsys=capsys)
    assert code == 1
    assert "there is no remote 'b2' yet; run `make use-b2 BUCKET=<bucket>` first" in err
    assert not (project / ".dvc" / "config.local").exists()


def test_check_of_a_local_remote_names_its_folder(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    use_remote(project, str(tmp_path / "shelf"), name="shelf")
    code, out, _ = remote(project, "check", capsys=capsys)
    assert code == 0
    assert out == f"remote 'shelf' is the local folder {tmp_path / 'shelf'}\n"


def test_check_without_a_default_or_with_an_unknown_remote_says_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / ".dvc" / "config").write_text("", encoding="utf-8")
    code, _, err = remote(project, "check", capsys=capsys)
    assert code == 1
    assert "error: no default DVC remote; run `make use-b2 BUCKET=<bucket>`" in err
    code, _, err = remote(project, "check", "--remote", "nas", capsys=capsys)
    assert code == 1
    assert "error: no DVC remote named 'nas' (known: none)" in err


def test_check_of_an_s3_remote_without_a_key_asks_for_one(
    project: Path, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    use_remote(project, f"s3://{BUCKET}/project", f"http://127.0.0.1:{closed_port}")
    code, _, err = remote(project, "check", capsys=capsys)
    assert code == 1
    assert "error: no key for remote 'b2': run `make b2-login`" in err


def test_check_of_an_endpoint_nobody_listens_on_cannot_reach_it(
    project: Path, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}"
    use_remote(project, f"s3://{BUCKET}/project", endpoint)
    login(project, "b2", KEY_ID, KEY)
    code, _, err = remote(project, "check", capsys=capsys)
    assert code == 1
    assert f"error: cannot reach {endpoint}: check the remote's endpointurl" in err


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (200, "remote 'b2' ok: bucket 'lab-data-2026' at {endpoint}"),
        (404, "error: bucket 'lab-data-2026' does not exist at {endpoint}"),
        (403, "error: the key is not accepted for bucket 'lab-data-2026' (403)"),
        (400, "error: bucket 'lab-data-2026' at {endpoint} answered 400"),
        (0, "error: cannot use {endpoint}: "),
    ],
)
def test_check_reports_what_the_s3_server_answered(
    project: Path,
    s3: LoopbackS3,
    status: int,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s3.head_status = status
    use_remote(project, f"s3://{BUCKET}/project", s3.endpoint)
    # Keys from the environment work as well as keys stored by `remote login`.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEY)
    code, out, err = remote(project, "check", capsys=capsys)
    assert code == (0 if status == 200 else 1)
    assert message.format(endpoint=s3.endpoint) in out + err


def test_remote_without_a_command_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli("remote")
    assert result.returncode == 2
    assert "the following arguments are required: command" in result.stderr


def make_run(runs_dir: Path, status: str = "completed") -> str:
    """A finished run folder as the runtime writes one: record, log and an artifact."""
    run_id, folder = create_run_dir(runs_dir, "train")
    (folder / "run.log").write_text(f"run {run_id}\n", encoding="utf-8")
    (folder / "artifacts").mkdir()
    (folder / "artifacts" / "model.pkl").write_bytes(bytes(range(256)) * 8)
    write_json_atomic(folder / "run.json", {"id": run_id, "stage": "train", "status": status})
    return run_id


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder, by relative path, with its bytes."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_runs_push_then_pull_through_an_s3_remote_restores_every_byte(
    project: Path, s3: LoopbackS3, capsys: pytest.CaptureFixture[str]
) -> None:
    use_remote(project, f"s3://{BUCKET}/project", s3.endpoint)
    login(project, "b2", KEY_ID, KEY)
    runs = project / "runs"
    done, failed = make_run(runs), make_run(runs, "failed")
    before = snapshot(runs)

    assert runs_main(project, ["push"]) == 0
    out = capsys.readouterr().out
    assert f"pushing 2 runs to s3://{BUCKET}/project/runs/" in out
    assert "pushed 2 runs (6 files, " in out
    assert f"project/runs/{done}/artifacts/model.pkl" in s3.objects
    assert runs_main(project, ["push"]) == 0
    assert "pushed 0 runs (0 files, 0 B)" in capsys.readouterr().out

    # A run stored without its record (an interrupted push) has no status to filter on.
    s3.objects["project/runs/train_20200101T000000Z_abcdef/run.log"] = b"partial\n"
    shutil.rmtree(runs)
    assert runs_main(project, ["pull", "--failed"]) == 0
    assert [path.name for path in runs.iterdir()] == [failed]
    assert runs_main(project, ["pull", "--last", "1d"]) == 0
    assert "pulled 1 run (3 files, " in capsys.readouterr().out
    assert snapshot(runs) == before


def test_runs_push_refused_by_the_server_is_one_line_saying_to_run_it_again(
    project: Path, s3: LoopbackS3, capsys: pytest.CaptureFixture[str]
) -> None:
    use_remote(project, f"s3://{BUCKET}/project", s3.endpoint)
    login(project, "b2", KEY_ID, KEY)
    make_run(project / "runs")
    s3.deny = True
    assert runs_main(project, ["push"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: push stopped: s3://{BUCKET}/project/runs/: the server answered")
    assert "AccessDenied; run it again to finish" in err


def test_runs_push_to_a_remote_of_another_kind_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    use_remote(project, "gs://lab-data/project")
    make_run(project / "runs")
    assert runs_main(project, ["push"]) == 1
    err = capsys.readouterr().err
    assert "remote 'b2' is gs://lab-data/project; `runs push/pull` work with S3 (B2)" in err


def test_runs_push_with_nothing_to_push_says_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert runs_main(project, ["push"]) == 0
    assert "no runs match in runs/; nothing to push" in capsys.readouterr().out
