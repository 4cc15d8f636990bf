"""End-to-end tier: `runs push` and `runs pull` through the B2 remote, against moto's S3 server.

Two runs of a real stage leave two run folders. They go to the bucket under the DVC remote's
prefix (`runs_sync/runs/<id>/...`) through DVC's own S3 filesystem, with the key stored
by `make b2-login` and the endpoint set in .dvc/config.local, exactly as for DVC's own
data; then the local runs folder is deleted and pulled back byte for byte.
"""

from __future__ import annotations

import secrets
import shutil
import string
import subprocess
from pathlib import Path

import pytest
from conftest import Bakery, project_command, require_ok, run
from s3server import BUCKET, KEY, KEY_ID, REGION, S3Server

pytestmark = pytest.mark.e2e
PKG = "runs_sync"
# What botocore sends when it computes checksums that B2 rejects.
CHECKSUM_HEADERS = ("x-amz-checksum-", "x-amz-sdk-checksum-algorithm")
STAGE_COMMAND = (".venv/bin/python", "-m", PKG, "logger=none")


def runs_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m runs_sync runs ARGS` with the project's interpreter."""
    return project_command(project, ".venv/bin/python", "-m", PKG, "runs", *args)


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`uv run dvc ...` in the project."""
    return project_command(project, "uv", "run", "--frozen", "dvc", *args)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder, by path relative to it, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def project(bakery: Bakery, uv: str, server: S3Server) -> Path:
    """A bake with a B2 bucket, installed, a stage run twice, the remote pointed at the server."""
    baked = bakery({"project_name": "Runs Sync", "b2_bucket": BUCKET, "b2_region": REGION})
    require_ok(run(["make", "setup", f"UV={uv}"], cwd=baked))
    for _ in range(2):
        require_ok(project_command(baked, *STAGE_COMMAND, "stage=prepare"))
    # The committed remote stays as generated; only its endpoint moves, as a user would do it.
    require_ok(dvc(baked, "remote", "modify", "--local", "b2", "endpointurl", server.endpoint))
    login = project_command(
        baked, "make", "b2-login", B2_APPLICATION_KEY_ID=KEY_ID, B2_APPLICATION_KEY=KEY
    )
    require_ok(login)
    return baked


def test_push_then_pull_brings_back_every_run_byte_for_byte(
    project: Path, server: S3Server
) -> None:
    runs = project / "runs"
    ids = sorted(path.name for path in runs.iterdir() if not path.name.startswith("."))
    assert len(ids) == 2
    before = {run_id: snapshot(runs / run_id) for run_id in ids}
    first = len(server.requests)
    pushed = require_ok(runs_cli(project, "push"))
    push_requests = server.requests[first:]
    assert f"pushed 2 runs ({sum(map(len, before.values()))} files" in pushed.stdout
    stored = server.objects(f"{PKG}/runs/")
    for run_id, files in before.items():
        assert f"{PKG}/runs/{run_id}/run.json" in stored
        assert {f"{PKG}/runs/{run_id}/{name}": data for name, data in files.items()}.items() <= (
            stored.items()
        )
    assert len([request for request in push_requests if request.method == "PUT"]) == len(stored)

    again = require_ok(runs_cli(project, "push"))
    assert again.stdout == "pushed 0 runs (0 files)\n"

    shutil.rmtree(runs)
    first = len(server.requests)
    pulled = require_ok(runs_cli(project, "pull"))
    pull_requests = server.requests[first:]
    assert "pulled 2 runs" in pulled.stdout
    assert {run_id: snapshot(runs / run_id) for run_id in ids} == before
    assert sorted(path.name for path in runs.iterdir()) == ids
    # B2 rejects these; the project must never send them (tests/test_remote.py has the
    # control that shows botocore would, without the remote's aws_config).
    sent = {name for request in push_requests + pull_requests for name in request.headers}
    assert not [name for name in sent if name.startswith(CHECKSUM_HEADERS)]


def test_pull_filters_apply_to_the_remote_listing(project: Path) -> None:
    runs = project / "runs"
    ids = sorted(path.name for path in runs.iterdir() if not path.name.startswith("."))
    shutil.rmtree(runs)
    require_ok(runs_cli(project, "pull", ids[1], "--last", "1d"))
    assert [path.name for path in runs.iterdir()] == [ids[1]]
    require_ok(runs_cli(project, "pull", "--last", "1d"))
    assert sorted(path.name for path in runs.iterdir()) == ids


def test_without_a_key_push_and_pull_stop_with_one_line_naming_the_remote_and_the_fix(
    project: Path, server: S3Server
) -> None:
    stored = project / ".dvc" / "b2-credentials"  # where `make b2-login` put the key
    saved = stored.read_bytes()
    stored.unlink()
    uploads, before = len(server.puts()), snapshot(project / "runs")
    try:
        results = [runs_cli(project, verb) for verb in ("push", "pull")]
    finally:
        stored.write_bytes(saved)
    for result in results:
        assert result.returncode == 1
        assert result.stderr.startswith(f"error: remote 'b2' (s3://{BUCKET}/{PKG}/runs): ")
        assert result.stderr.endswith(
            "Unable to locate credentials; see `make b2-login` and `make use-b2`\n"
        )
    assert len(server.puts()) == uploads
    assert snapshot(project / "runs") == before


def test_keys_in_a_tracked_file_reach_no_record_and_no_bucket_object(
    project: Path, server: S3Server
) -> None:
    readme = project / "README.md"
    identity = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.com"}
    identity |= {"GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "t@example.com"}
    require_ok(project_command(project, "git", "add", "README.md"))
    require_ok(
        project_command(project, "git", "commit", "-q", "--no-verify", "-m", "readme", **identity)
    )

    def pick(alphabet: str, count: int) -> str:
        return "".join(secrets.choice(alphabet) for _ in range(count))

    # Keys as their consoles show them, where they land: a note, a URL-encoded URL, a log
    # line in colour; the AWS secret is drawn until it has both cases and a digit.
    alphabet, hexdigits = string.ascii_letters + string.digits, "0123456789abcdef"
    aws_secret = ""
    while not all(
        map(
            set(aws_secret).intersection,
            (string.ascii_lowercase, string.ascii_uppercase, string.digits),
        )
    ):
        aws_secret = pick(alphabet + "+/", 40)
    keys = {
        "b2": "K004" + pick(alphabet, 27),
        "b2_id": "004" + pick(hexdigits, 22),
        "aws": "AKIA" + pick(string.ascii_uppercase + string.digits, 16),
        "aws_secret": aws_secret,
        "wandb": "wandb_v1_" + pick(alphabet + "_", 77),
    }
    original = readme.read_text(encoding="utf-8")
    readme.write_text(
        f"{original}\nb2 key for later: {keys['b2']}, its id {keys['b2_id']}\n"
        f"s3://{keys['aws']}%3A{keys['aws_secret']}@lab-bucket/raw/\n"
        f"\x1b[32m{keys['wandb']}\x1b[0m\n",
        encoding="utf-8",
    )
    try:
        known = {path.name for path in (project / "runs").iterdir()}
        require_ok(project_command(project, *STAGE_COMMAND, "stage=prepare"))
        (new,) = {path.name for path in (project / "runs").iterdir()} - known
        require_ok(runs_cli(project, "push", new))
    finally:
        readme.write_text(original, encoding="utf-8")
    recorded = snapshot(project / "runs" / new)
    assert recorded, "the stage must have written its run folder"
    assert b"[REDACTED]" in recorded["git.diff"]
    found = [(name, kind) for name, data in recorded.items() for kind, key in keys.items()
             if key.encode() in data]  # fmt: skip
    assert found == []
    stored = server.objects(f"{PKG}/runs/{new}/")
    assert set(stored) == {f"{PKG}/runs/{new}/{name}" for name in recorded}
    found = [(name, kind) for name, data in server.objects("").items()
             for kind, key in keys.items() if key.encode() in data]  # fmt: skip
    assert found == []
