"""End-to-end tier: the B2 remote, proven against a real S3 server on 127.0.0.1.

moto's S3 server stands in for Backblaze B2; told the key id, it refuses any other, as B2
does. The project reaches it the way a user would reach B2: the committed `b2` remote, its
endpoint overridden in .dvc/config.local, and the key stored by `make b2-login` in
.dvc/b2-credentials, the file the remote's `credentialpath` names.
"""

from __future__ import annotations

import hashlib
import os
import select
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Bakery, project_command, require_ok, run
from reliability import Recorder
from s3server import BUCKET, KEY, KEY_ID, REGION, S3Server

pytestmark = pytest.mark.e2e
PKG = "remote_check"
# What botocore sends when it computes checksums that B2 rejects.
CHECKSUM_HEADERS = ("x-amz-checksum-", "x-amz-sdk-checksum-algorithm")
# The line of ours that `make push` and `make pull` add below DVC's own error.
FIXES = (
    "error: dvc push failed (see above); if the remote is the cause: `make b2-login` "
    "with a B2 application key for this bucket (the master key does not work), "
    "`make use-b2 BUCKET=<bucket>`, or its endpoint"
)
CREDENTIALS = ".dvc/b2-credentials"
NO_KEY = (
    "error: no key: set B2_APPLICATION_KEY_ID and B2_APPLICATION_KEY, or run this in a terminal"
)
# The pipeline's cached outputs (the bundled data set has no raw file).
OUTPUTS = [
    "data/interim",
    "data/processed",
    "models/model.joblib",
    "models/preprocessor.joblib",
    "reports/figures",
]


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`uv run dvc ...` in the project."""
    return project_command(project, "uv", "run", "--frozen", "dvc", *args)


def make(project: Path, target: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`make <target>` in the project."""
    return project_command(project, "make", target, **env)


def digests(project: Path) -> dict[str, str]:
    """md5 of every file under the pipeline's outputs."""
    found = {}
    for name in OUTPUTS:
        path = project / name
        for file in sorted([path] if path.is_file() else path.rglob("*")):
            if file.is_file():
                found[file.relative_to(project).as_posix()] = hashlib.md5(
                    file.read_bytes()
                ).hexdigest()
    return found


def cache_files(project: Path) -> set[str]:
    """Every data object in the project's DVC cache (not its run cache)."""
    cache = project / ".dvc" / "cache" / "files"
    return {p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()}


def damaged_cache(project: Path, expected: set[str]) -> int:
    """Cache objects of `expected` that are missing or whose bytes no longer match their md5."""
    cache = project / ".dvc" / "cache" / "files"
    damaged = 0
    for name in expected:
        path = cache / name
        digest = name.removeprefix("md5/").replace("/", "")
        if not path.is_file():
            damaged += 1
        elif not digest.endswith(".dir"):  # a directory listing is checked by DVC itself
            damaged += hashlib.md5(path.read_bytes()).hexdigest() != digest
    return damaged


def damaged_objects(server: S3Server, prefix: str) -> int:
    """Objects under `prefix` in the bucket whose bytes do not match the md5 in their key."""
    damaged = 0
    for key, body in server.objects(prefix).items():
        if "/files/md5/" not in key or key.endswith(".dir"):
            continue
        digest = "".join(key.split("/files/md5/")[1].split("/"))
        damaged += hashlib.md5(body).hexdigest() != digest
    return damaged


def in_sync(project: Path) -> bool:
    """DVC's own word that the remote holds every object the pipeline's outputs need."""
    status = require_ok(dvc(project, "status", "--cloud", "--json")).stdout.strip()
    return status in ("{}", "")


def point_remote(project: Path, server: S3Server, prefix: str) -> None:
    """Send the b2 remote to the local server, through .dvc/config.local like a user would."""
    require_ok(dvc(project, "remote", "modify", "--local", "b2", "endpointurl", server.endpoint))
    require_ok(dvc(project, "remote", "modify", "--local", "b2", "url", f"s3://{BUCKET}/{prefix}"))


@pytest.fixture(scope="module")
def project(bakery: Bakery, uv: str) -> Path:
    """A bake with a B2 bucket, installed, its pipeline run, its key stored."""
    baked = bakery({"project_name": "Remote Check", "b2_bucket": BUCKET, "b2_region": REGION})
    require_ok(run(["make", "setup", f"UV={uv}"], cwd=baked))
    require_ok(project_command(baked, "uv", "run", "--frozen", "dvc", "repro"))
    return baked


@pytest.fixture(autouse=True)
def keyed(server: S3Server) -> Iterator[None]:
    """The server takes this module's key only, as B2 takes the bucket's application key."""
    server.key_id = KEY_ID
    yield
    server.key_id = None


def refused_push(
    project: Path,
    server: S3Server,
    error: str,
    reliability: Recorder,
    area: str,
    tried: str,
    **env: str,
) -> None:
    """`make push` must end with DVC's `error`, then our line of fixes, before any upload;
    record it in the report."""
    uploads = len(server.puts())
    result = make(project, "push", **env)
    assert result.returncode != 0
    assert error in result.stderr
    assert result.stderr.index(error) < result.stderr.index(FIXES)  # DVC's error, then ours
    assert "Traceback" not in result.stderr
    left = len(server.puts()) - uploads
    reliability.record(area, tried, f"stopped before any upload: DVC's {error!r}, then ours", left)
    assert left == 0


def test_the_b2_remote_is_written_at_generation_and_is_the_default(project: Path) -> None:
    config = (project / ".dvc/config").read_text(encoding="utf-8")
    assert "remote = b2" in config
    assert f"url = s3://{BUCKET}/{PKG}" in config
    assert f"endpointurl = https://s3.{REGION}.backblazeb2.com" in config
    assert f"region = {REGION}" in config
    assert "configpath = aws_config" in config
    assert "credentialpath = b2-credentials" in config  # relative to .dvc/: the same in a clone
    aws_config = (project / ".dvc/aws_config").read_text(encoding="utf-8")
    assert "request_checksum_calculation = when_required" in aws_config
    assert "response_checksum_validation = when_required" in aws_config


def test_push_without_a_key_ends_with_dvcs_error_and_the_fixes(
    project: Path, server: S3Server, reliability: Recorder
) -> None:
    point_remote(project, server, "no-key")
    error = "Unable to locate credentials"
    tried = "`make push` with no B2 key stored or in the environment"
    refused_push(project, server, error, reliability, "Credentials", tried)


def test_login_stores_the_key_privately_and_git_never_sees_it(
    project: Path, reliability: Recorder
) -> None:
    stored = project / CREDENTIALS
    refused = make(project, "b2-login")  # no key variables, no terminal
    assert refused.returncode != 0
    assert refused.stderr.splitlines()[0] == NO_KEY
    assert not stored.exists()
    stored.write_text("[default]\n", encoding="utf-8")
    stored.chmod(0o644)  # an earlier file, readable by all: replaced by one that is not
    result = make(project, "b2-login", B2_APPLICATION_KEY_ID=KEY_ID, B2_APPLICATION_KEY=KEY)
    require_ok(result)
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stored.read_text(encoding="utf-8") == (
        f"[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {KEY}\n"
    )
    assert KEY not in result.stdout + result.stderr
    require_ok(run(["git", "check-ignore", "-q", CREDENTIALS], cwd=project))
    require_ok(run(["git", "add", "-A"], cwd=project))
    staged = require_ok(run(["git", "diff", "--cached"], cwd=project)).stdout
    assert ".dvc/aws_config" in staged
    assert KEY not in staged
    assert KEY_ID not in staged
    names = require_ok(run(["git", "diff", "--cached", "--name-only"], cwd=project)).stdout
    assert CREDENTIALS not in names
    reliability.record(
        "Credentials",
        "`make b2-login` (over an earlier file readable by all), then `git add -A`",
        f"key in {CREDENTIALS} (mode 0600, git-ignored); neither key nor key id staged",
        staged.count(KEY) + staged.count(KEY_ID),
    )


def test_login_in_a_terminal_asks_for_the_key_without_showing_it(project: Path) -> None:
    stored = project / CREDENTIALS
    saved = stored.read_bytes()
    terminal, user = os.openpty()  # make's stdin, stdout and stderr are a terminal
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "B2_"))}
    login = subprocess.Popen(
        ["make", "b2-login"], cwd=project, stdin=user, stdout=user, stderr=user, env=clean
    )
    os.close(user)
    shown = b""

    def answer(prompt: bytes, text: str) -> None:
        nonlocal shown
        deadline = time.monotonic() + 60
        while prompt not in shown:  # the prompt first: `read -s` turns off echo as it asks
            assert time.monotonic() < deadline, shown
            if select.select([terminal], [], [], 1)[0]:
                shown += os.read(terminal, 1024)
        time.sleep(0.5)  # bash prints the prompt, then turns echo off
        os.write(terminal, f"{text}\n".encode())

    try:
        answer(b"B2 application key id: ", "0041a2b3c4d5e6f0000000099")
        answer(b"B2 application key: ", "K004TypedInATerminalNotShown0000")
        assert login.wait(timeout=60) == 0
        while select.select([terminal], [], [], 0.5)[0]:
            try:
                shown += os.read(terminal, 1024)
            except OSError:  # the terminal closed with make
                break
        typed = stored.read_text(encoding="utf-8")
        assert "aws_secret_access_key = K004TypedInATerminalNotShown0000\n" in typed
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert b"0041a2b3c4d5e6f0000000099" in shown  # the id is echoed as typed
        assert b"K004TypedInATerminalNotShown0000" not in shown  # the key is not
    finally:
        os.close(terminal)
        stored.write_bytes(saved)


def test_aws_environment_variables_come_before_the_stored_key(
    project: Path, server: S3Server
) -> None:
    point_remote(project, server, "from-env")
    stored = project / CREDENTIALS
    saved = stored.read_text(encoding="utf-8")
    stored.write_text(saved.replace(KEY_ID, "0041f6e5d4c3b2a0000000666"), encoding="utf-8")
    try:
        require_ok(make(project, "push", AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=KEY))
        assert server.objects("from-env/")
    finally:
        stored.write_text(saved, encoding="utf-8")


def test_a_wrong_key_ends_push_with_dvcs_error_and_the_fixes(
    project: Path, server: S3Server, reliability: Recorder
) -> None:
    point_remote(project, server, "wrong-key")
    wrong = {"AWS_ACCESS_KEY_ID": "0041f6e5d4c3b2a0000000666", "AWS_SECRET_ACCESS_KEY": KEY}
    tried = "`make push` with a key the bucket does not know (a master key, another bucket's)"
    error = "Forbidden: An error occurred (403)"  # B2's answer too, to a HEAD with a wrong key
    refused_push(project, server, error, reliability, "Credentials", tried, **wrong)


def test_a_wrong_endpoint_stops_before_any_data_moves(
    project: Path, server: S3Server, reliability: Recorder
) -> None:
    require_ok(
        dvc(project, "remote", "modify", "--local", "b2", "endpointurl", "http://127.0.0.1:9")
    )
    error = 'Could not connect to the endpoint URL: "http://127.0.0.1:9/'
    tried = "`make push` to a wrong endpoint (nothing listening)"
    refused_push(project, server, error, reliability, "Storage (B2)", tried, AWS_MAX_ATTEMPTS="1")


def test_a_missing_bucket_stops_before_any_data_moves(
    project: Path, server: S3Server, reliability: Recorder
) -> None:
    point_remote(project, server, "x")
    require_ok(dvc(project, "remote", "modify", "--local", "b2", "url", "s3://no-such-bucket/x"))
    error = "The specified bucket does not exist"
    tried = "`make push` to a bucket that does not exist"
    refused_push(project, server, error, reliability, "Storage (B2)", tried)


def test_push_then_pull_into_an_empty_cache_restores_every_byte(
    project: Path, server: S3Server, reliability: Recorder
) -> None:
    point_remote(project, server, "roundtrip")
    before = digests(project)
    assert all((project / name).exists() for name in OUTPUTS)
    assert len(before) > len(OUTPUTS)  # the data folders hold several files each
    require_ok(make(project, "push"))  # with the key `make b2-login` stored
    assert server.objects("roundtrip/")
    assert in_sync(project)
    shutil.rmtree(project / ".dvc" / "cache")
    for name in OUTPUTS:
        path = project / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    require_ok(make(project, "pull"))
    after = digests(project)
    lost = sum(after.get(name) != digest for name, digest in before.items())
    reliability.record(
        "Storage (B2)",
        "`make push`, delete the DVC cache and every output, `make pull`",
        f"all {len(before)} output files back with identical md5",
        lost,
    )
    assert lost == 0


def test_no_request_carries_the_checksum_headers_b2_rejects(server: S3Server) -> None:
    # The session's requests so far: DVC's and the runtime's (the test's own client sends none).
    assert server.puts(), "the round trip must have uploaded something"
    sent = {name for request in server.requests for name in request.headers}
    assert not [name for name in sent if name.startswith(CHECKSUM_HEADERS)]


def test_without_the_aws_config_botocore_would_send_them(project: Path, server: S3Server) -> None:
    # The control: proves the header check above can fail.
    empty = project / "empty_aws_config"
    empty.write_text("[default]\n", encoding="utf-8")
    point_remote(project, server, "control")
    require_ok(dvc(project, "remote", "modify", "--local", "b2", "configpath", str(empty)))
    first = len(server.requests)
    try:
        require_ok(dvc(project, "push"))
    finally:
        require_ok(dvc(project, "remote", "modify", "--local", "--unset", "b2", "configpath"))
        empty.unlink()
    sent = {name for request in server.requests[first:] for name in request.headers}
    assert [name for name in sent if name.startswith(CHECKSUM_HEADERS)]


def test_a_push_cut_off_midway_loses_nothing_and_completes_later(
    project: Path, server: S3Server, reliability: Recorder
) -> None:
    point_remote(project, server, "interrupted")
    cache_before = cache_files(project)
    server.fail_after_puts = len(server.puts()) + 2
    failed = make(project, "push", AWS_MAX_ATTEMPTS="2")
    assert failed.returncode != 0
    assert f'Could not connect to the endpoint URL: "{server.endpoint}/' in failed.stderr
    assert cache_files(project) == cache_before
    server.start()
    require_ok(make(project, "push"))
    assert in_sync(project)
    assert len(server.objects("interrupted/")) == len(server.objects("roundtrip/"))
    lost = damaged_cache(project, cache_before) + damaged_objects(server, "interrupted/")
    reliability.record(
        "Storage (B2)",
        "the S3 server stopped after 2 uploads of a `make push`",
        "push fails naming the endpoint; local cache intact; the next push completes",
        lost,
    )
    assert lost == 0


def test_without_a_bucket_push_goes_to_a_local_folder_until_use_b2(bakery: Bakery, uv: str) -> None:
    local = bakery({"project_name": "Local Remote"})
    require_ok(run(["make", "setup", f"UV={uv}"], cwd=local))
    (local / "data/external/survey.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    require_ok(dvc(local, "add", "data/external/survey.csv"))
    require_ok(make(local, "push"))
    stored = [p for p in (local / ".dvc-storage").rglob("*") if p.is_file()]
    assert len(stored) == 1
    assert "/.dvc-storage/" in (local / ".gitignore").read_text(encoding="utf-8")
    # Another clone has a .dvc-storage/ of its own, which holds none of this one's pushes.
    for path in (local / ".dvc-storage", local / ".dvc/cache", local / "data/external/survey.csv"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    pulled = make(local, "pull")
    assert pulled.returncode != 0
    assert "data/external/survey.csv" in pulled.stderr  # DVC's own pull error names it
    python = str(local / ".venv/bin/python")
    runs = require_ok(project_command(local, python, "-m", local.name, "runs", "pull"))
    assert runs.stdout == "pulled 0 runs (0 files)\n"

    refused = make(local, "use-b2")
    assert refused.returncode != 0
    assert "error: give the bucket: make use-b2 BUCKET=<name>" in refused.stderr
    bad = make(local, "use-b2", BUCKET="Lab_Results")
    assert bad.returncode != 0
    assert "error: 'Lab_Results' is not a B2 bucket name" in bad.stderr

    require_ok(project_command(local, "make", "use-b2", f"BUCKET={BUCKET}", f"B2_REGION={REGION}"))
    config = (local / ".dvc/config").read_text(encoding="utf-8")
    assert "remote = b2" in config
    assert f"url = s3://{BUCKET}/local_remote" in config
    assert f"endpointurl = https://s3.{REGION}.backblazeb2.com" in config
    assert "configpath = aws_config" in config
    assert "credentialpath = b2-credentials" in config


# Last: it leaves the project without most of its outputs.
def test_pull_of_outputs_nobody_pushed_names_them(
    project: Path, server: S3Server, reliability: Recorder
) -> None:
    point_remote(project, server, "forgotten")
    require_ok(dvc(project, "push", "prepare"))  # someone pushed one stage's output, not all
    pushed = {"data/interim"}
    shutil.rmtree(project / ".dvc" / "cache")
    for name in OUTPUTS:
        path = project / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    result = make(project, "pull")
    assert result.returncode != 0
    assert FIXES.replace("push", "pull", 1) in result.stderr  # after DVC's own error
    unnamed = [name for name in set(OUTPUTS) - pushed if name not in result.stderr]
    reliability.record(
        "Storage (B2)",
        "`make pull` of outputs that were never pushed (one stage's pushed, three not)",
        "DVC's pull error names the 4 missing outputs; the pushed one restored",
        int(not (project / "data/interim").is_dir()),
    )
    assert unnamed == []
    assert (project / "data/interim").is_dir()
