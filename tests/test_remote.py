"""End-to-end tier: the B2 remote, proven against a real S3 server on 127.0.0.1.

moto's S3 server stands in for Backblaze B2. The project reaches it the way a
user would reach B2: the committed `b2` remote, its endpoint overridden in
.dvc/config.local, and the key stored by `make b2-login`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import Bakery, project_command, require_ok, run
from reliability import Recorder
from s3server import BUCKET, KEY, KEY_ID, REGION, S3Server

pytestmark = pytest.mark.e2e
PKG = "remote_check"
# What botocore sends when it computes checksums that B2 rejects.
CHECKSUM_HEADERS = ("x-amz-checksum-", "x-amz-sdk-checksum-algorithm")
# The smallest file that DVC's S3 filesystem (s3fs) uploads in parts (of 50 MiB).
MULTIPART = 100 * 2**20
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


def remote(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m <package> remote ...` in the project."""
    return project_command(project, "uv", "run", "--frozen", "python", "-m", PKG, "remote", *args)


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


def refused_push(
    project: Path, server: S3Server, error: str, reliability: Recorder, area: str, tried: str
) -> None:
    """`make push` must stop with `error` before any upload; record it in the report."""
    uploads = len(server.puts())
    result = make(project, "push")
    assert result.returncode != 0
    assert error in result.stderr
    left = len(server.puts()) - uploads
    reliability.record(area, tried, f"refused before any upload: {error}", left)
    assert left == 0


def test_the_b2_remote_is_written_at_generation_and_is_the_default(project: Path) -> None:
    config = (project / ".dvc/config").read_text(encoding="utf-8")
    assert "remote = b2" in config
    assert f"url = s3://{BUCKET}/{PKG}" in config
    assert f"endpointurl = https://s3.{REGION}.backblazeb2.com" in config
    assert f"region = {REGION}" in config
    assert "configpath = aws_config" in config
    aws_config = (project / ".dvc/aws_config").read_text(encoding="utf-8")
    assert "request_checksum_calculation = when_required" in aws_config
    assert "response_checksum_validation = when_required" in aws_config


def test_push_without_a_key_stops_with_one_clear_error(
    project: Path, server: S3Server, reliability: Recorder
) -> None:
    point_remote(project, server, "no-key")
    error = "error: no key for remote 'b2': run `make b2-login`"
    tried = "`make push` with no B2 key stored or in the environment"
    refused_push(project, server, error, reliability, "Credentials", tried)


def test_login_stores_the_key_privately_and_git_never_sees_it(
    project: Path, reliability: Recorder
) -> None:
    result = make(project, "b2-login", B2_APPLICATION_KEY_ID=KEY_ID, B2_APPLICATION_KEY=KEY)
    require_ok(result)
    local = project / ".dvc/config.local"
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert KEY in local.read_text(encoding="utf-8")
    require_ok(run(["git", "add", "-A"], cwd=project))
    staged = require_ok(run(["git", "diff", "--cached"], cwd=project)).stdout
    assert ".dvc/aws_config" in staged
    assert KEY not in staged
    assert KEY_ID not in staged
    names = require_ok(run(["git", "diff", "--cached", "--name-only"], cwd=project)).stdout
    assert ".dvc/config.local" not in names
    reliability.record(
        "Credentials",
        "`make b2-login`, then `git add -A`",
        "key in .dvc/config.local (mode 0600); neither key nor key id staged",
        staged.count(KEY) + staged.count(KEY_ID),
    )


def test_aws_environment_variables_work_instead_of_a_stored_key(
    project: Path, server: S3Server
) -> None:
    point_remote(project, server, "from-env")
    local = project / ".dvc/config.local"
    stored = local.read_text(encoding="utf-8")
    keyless = "\n".join(line for line in stored.splitlines() if "access_key" not in line)
    local.write_text(keyless + "\n", encoding="utf-8")
    try:
        pushed = make(project, "push", AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=KEY)
        require_ok(pushed)
        assert "remote 'b2' ok" in pushed.stdout
        assert server.objects("from-env/")
    finally:
        local.write_text(stored, encoding="utf-8")


def test_a_wrong_endpoint_stops_before_any_data_moves(
    project: Path, server: S3Server, reliability: Recorder
) -> None:
    require_ok(
        dvc(project, "remote", "modify", "--local", "b2", "endpointurl", "http://127.0.0.1:9")
    )
    error = "error: cannot reach http://127.0.0.1:9: check the remote's endpointurl"
    tried = "`make push` to a wrong endpoint (nothing listening)"
    refused_push(project, server, error, reliability, "Storage (B2)", tried)


def test_a_missing_bucket_stops_before_any_data_moves(
    project: Path, server: S3Server, reliability: Recorder
) -> None:
    point_remote(project, server, "x")
    require_ok(dvc(project, "remote", "modify", "--local", "b2", "url", "s3://no-such-bucket/x"))
    error = f"error: bucket 'no-such-bucket' at {server.endpoint} does not exist"
    tried = "`make push` to a bucket that does not exist"
    refused_push(project, server, error, reliability, "Storage (B2)", tried)


def test_push_then_pull_into_an_empty_cache_restores_every_byte(
    project: Path, server: S3Server, reliability: Recorder
) -> None:
    point_remote(project, server, "roundtrip")
    before = digests(project)
    assert all((project / name).exists() for name in OUTPUTS)
    assert len(before) > len(OUTPUTS)  # the data folders hold several files each
    pushed = require_ok(make(project, "push"))
    assert "remote 'b2' ok" in pushed.stdout
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


def test_uploads_a_cut_off_push_left_are_listed_then_aborted_and_nothing_else(
    project: Path, server: S3Server, reliability: Recorder
) -> None:
    require_ok(make(project, "b2-login", B2_APPLICATION_KEY_ID=KEY_ID, B2_APPLICATION_KEY=KEY))
    point_remote(project, server, "uploads")
    require_ok(make(project, "push"))  # objects under the remote's path, that must stay
    big = project / "data/external/big.bin"
    big.write_bytes(os.urandom(MULTIPART))
    require_ok(dvc(project, "add", "data/external/big.bin"))
    cache_before = cache_files(project)
    server.fail_after_puts = len(server.puts()) + 1  # the network goes after the first part
    failed = make(project, "push", AWS_MAX_ATTEMPTS="2")
    server.start()
    assert failed.returncode != 0
    s3 = server.client()
    other = s3.create_multipart_upload(Bucket=BUCKET, Key="uploads2/files/md5/00/other")

    def unfinished(prefix: str) -> list[str]:
        listed = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])
        return [upload["UploadId"] for upload in listed]

    (cut,) = unfinished("uploads/")  # what Backblaze would bill until it is aborted
    stored = server.objects("uploads/")
    listed = require_ok(make(project, "b2-uploads"))  # `remote uploads`
    assert " UTC      50.0 MiB  uploads/files/md5/" in listed.stdout
    assert f"unfinished uploads under s3://{BUCKET}/uploads/: 1; " in listed.stdout
    assert "`remote uploads --abort` aborts them" in listed.stdout
    assert "uploads2/" not in listed.stdout
    assert unfinished("uploads/") == [cut]

    refused = remote(project, "uploads", "--force")
    assert refused.returncode == 2
    assert refused.stderr == "error: unrecognized arguments: --force; see `remote --help`\n"
    untouched = unfinished("uploads/") == [cut] and server.objects("uploads/") == stored
    reliability.record(
        "Bad overrides",
        "`remote uploads --force` (no such option)",
        f"exit 2: {refused.stderr.strip()}; the upload and every object untouched",
        int(not untouched),
    )
    assert untouched

    aborted = require_ok(make(project, "b2-uploads", ABORT="1"))  # `remote uploads --abort`
    assert f"unfinished uploads under s3://{BUCKET}/uploads/: 1, aborted" in aborted.stdout
    assert "Traceback" not in failed.stderr + listed.stderr + refused.stderr + aborted.stderr
    after = server.objects("uploads/")
    lost = (
        len(unfinished("uploads/"))
        + sum(after.get(key) != body for key, body in stored.items())
        + damaged_objects(server, "uploads/")
        + damaged_cache(project, cache_before)
        + (unfinished("uploads2/") != [other["UploadId"]])
    )
    reliability.record(
        "Storage (B2)",
        "`make push` of a 100 MiB file cut off after its first 50 MiB part, "
        "then `remote uploads` and `remote uploads --abort`",
        "the push left 1 unfinished upload (B2 bills it); `uploads` listed it and changed "
        "nothing; `--abort` cancelled it and no other project's; objects and cache intact",
        lost,
    )
    assert lost == 0
    s3.abort_multipart_upload(Bucket=BUCKET, Key=other["Key"], UploadId=other["UploadId"])
    require_ok(dvc(project, "remove", "data/external/big.bin.dvc"))
    big.unlink()


def test_without_a_bucket_push_goes_to_a_local_folder_until_use_b2(bakery: Bakery, uv: str) -> None:
    local = bakery({"project_name": "Local Remote"})
    require_ok(run(["make", "setup", f"UV={uv}"], cwd=local))
    (local / "data/external/survey.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    require_ok(dvc(local, "add", "data/external/survey.csv"))
    pushed = require_ok(make(local, "push"))
    assert "remote 'local' is " in pushed.stdout
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
    assert runs.stdout.startswith("no runs on ")
    assert "a folder of this clone's own" in runs.stdout

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
    unnamed = [name for name in set(OUTPUTS) - pushed if name not in result.stderr]
    reliability.record(
        "Storage (B2)",
        "`make pull` of outputs that were never pushed (one stage's pushed, three not)",
        "DVC's pull error names the 4 missing outputs; the pushed one restored",
        int(not (project / "data/interim").is_dir()),
    )
    assert unnamed == []
    assert (project / "data/interim").is_dir()
