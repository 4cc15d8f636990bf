"""End-to-end tier: `runs push` and `runs pull` through the B2 remote, against moto's S3 server.

Two real stages leave two run folders. They go to the bucket under the DVC
remote's prefix (`runs_sync/runs/<id>/...`), with the key stored by
`make b2-login` and the endpoint set in .dvc/config.local, exactly as for DVC's
own data; then the local runs folder is deleted and pulled back byte for byte.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Bakery, project_command, require_ok, run
from s3server import S3Server

pytestmark = pytest.mark.e2e
PKG = "runs_sync"
BUCKET = "lab-runs-2026"
REGION = "eu-central-003"
KEY_ID = "0041a2b3c4d5e6f0000000002"
KEY = "K004zyxwvutsrqponmlkjihgfedcba9876"
# What botocore sends when it computes checksums that B2 rejects.
CHECKSUM_HEADERS = ("x-amz-checksum-", "x-amz-sdk-checksum-algorithm")
STAGES = ("prepare", "featurize")


def runs_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m runs_sync runs ARGS` with the project's interpreter."""
    return project_command(project, ".venv/bin/python", "-m", PKG, "runs", *args)


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`uv run dvc ...` in the project."""
    return project_command(project, "uv", "run", "--frozen", "dvc", *args)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder, by path relative to it, with its bytes."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def client(server: S3Server) -> Any:
    """A plain S3 client for the test's own look at the bucket."""
    return server.client(REGION, KEY_ID, KEY)


def objects(server: S3Server, prefix: str) -> dict[str, bytes]:
    """Every object stored under a prefix, with its bytes."""
    s3 = client(server)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    """moto's S3 server on a free loopback port, with the bucket created."""
    s3 = S3Server()
    s3.start()
    client(s3).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    yield s3
    s3.stop()


@pytest.fixture(scope="module")
def project(bakery: Bakery, uv: str, server: S3Server) -> Path:
    """A bake with a B2 bucket, installed, two stages run, the remote pointed at the server."""
    baked = bakery({"project_name": "Runs Sync", "b2_bucket": BUCKET, "b2_region": REGION})
    require_ok(run(["make", "setup", f"UV={uv}"], cwd=baked))
    for stage in STAGES:
        require_ok(
            project_command(baked, ".venv/bin/python", "-m", PKG, f"stage={stage}", "logger=none")
        )
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
    assert [run_id.split("_")[0] for run_id in ids] == sorted(STAGES)
    before = {run_id: snapshot(runs / run_id) for run_id in ids}
    first = len(server.requests)
    pushed = require_ok(runs_cli(project, "push"))
    push_requests = server.requests[first:]
    assert f"pushed 2 runs ({sum(map(len, before.values()))} files" in pushed.stdout
    stored = objects(server, f"{PKG}/runs/")
    for run_id, files in before.items():
        assert f"{PKG}/runs/{run_id}/run.json" in stored
        assert {f"{PKG}/runs/{run_id}/{name}": data for name, data in files.items()}.items() <= (
            stored.items()
        )
    assert len([request for request in push_requests if request.method == "PUT"]) == len(stored)

    again = require_ok(runs_cli(project, "push"))
    assert "pushed 0 runs" in again.stdout
    assert "2 already up to date" in again.stdout

    shutil.rmtree(runs)
    first = len(server.requests)
    pulled = require_ok(runs_cli(project, "pull"))
    pull_requests = server.requests[first:]
    assert "pulled 2 runs" in pulled.stdout
    assert {run_id: snapshot(runs / run_id) for run_id in ids} == before
    assert sorted(path.name for path in runs.iterdir()) == ids

    listed = require_ok(runs_cli(project, "ls"))
    for run_id in ids:
        assert run_id in listed.stdout
    assert listed.stdout.splitlines()[-1] == "2 runs in runs/"
    # B2 rejects these; the test's own client above sends them, the project must not.
    sent = {name for request in push_requests + pull_requests for name in request.headers}
    assert not [name for name in sent if name.startswith(CHECKSUM_HEADERS)]


def test_without_the_aws_config_botocore_would_send_them(project: Path, server: S3Server) -> None:
    # The control: proves the header check above can fail.
    empty = project / "empty_aws_config"
    empty.write_text("[default]\n", encoding="utf-8")
    settings = {"configpath": str(empty), "url": f"s3://{BUCKET}/control"}
    for key, value in settings.items():
        require_ok(dvc(project, "remote", "modify", "--local", "b2", key, value))
    first = len(server.requests)
    try:
        require_ok(runs_cli(project, "push"))
    finally:
        for key in settings:
            require_ok(dvc(project, "remote", "modify", "--local", "--unset", "b2", key))
        empty.unlink()
    assert objects(server, "control/runs/")
    sent = {name for request in server.requests[first:] for name in request.headers}
    assert [name for name in sent if name.startswith(CHECKSUM_HEADERS)]


def test_pull_filters_apply_to_the_remote_listing(project: Path) -> None:
    runs = project / "runs"
    shutil.rmtree(runs)
    require_ok(runs_cli(project, "pull", "featurize", "--last", "1d"))
    assert [path.name.split("_")[0] for path in runs.iterdir()] == ["featurize"]
    require_ok(runs_cli(project, "pull", "--completed"))
    assert sorted(path.name.split("_")[0] for path in runs.iterdir()) == sorted(STAGES)


def test_without_a_key_push_stops_with_one_clear_error(project: Path, server: S3Server) -> None:
    local = project / ".dvc" / "config.local"
    stored = local.read_text(encoding="utf-8")
    keyless = "\n".join(line for line in stored.splitlines() if "access_key" not in line)
    local.write_text(keyless + "\n", encoding="utf-8")
    uploads = len(server.puts())
    try:
        result = runs_cli(project, "push")
    finally:
        local.write_text(stored, encoding="utf-8")
    assert result.returncode == 1
    assert result.stderr.startswith("error: no key for remote 'b2': run `make b2-login`")
    assert len(server.puts()) == uploads
