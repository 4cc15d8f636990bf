"""The DVC remote: switch to Backblaze B2, store its key, and check it before data moves.

    python -m <package> remote use-b2 BUCKET [--region R] [--prefix P]
    python -m <package> remote login [--remote b2]      key id and key -> .dvc/config.local
    python -m <package> remote check [--remote NAME]    one clear error, or "ok"

B2 speaks the S3 API through dvc-s3. Keys live in .dvc/config.local (git-ignored,
mode 0600) or in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, never in a committed
file. `make push` and `make pull` run `remote check` first. `use-b2` derives the
endpoint from the region; B2_ENDPOINT_URL, when set, replaces it (for an
S3-compatible stand-in, a proxy, or tests).
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

B2_REMOTE = "b2"
# B2's S3 API rejects the checksum headers that current botocore sends by default;
# this file (committed, no secrets) turns them off for the remote.
AWS_CONFIG = "aws_config"
KEY_ID_ENV = "B2_APPLICATION_KEY_ID"
KEY_ENV = "B2_APPLICATION_KEY"
ENDPOINT_ENV = "B2_ENDPOINT_URL"
TIMEOUT_S = 10
BUCKET_NAME = re.compile(r"^(?!b2-)[a-z0-9][a-z0-9-]{4,61}[a-z0-9]$")
REGION_NAME = re.compile(r"^[a-z]{2}-[a-z]+-\d{3}$")


class RemoteError(RuntimeError):
    """A remote that cannot be used; the message says how to fix it."""


def endpoint_for(region: str) -> str:
    """The S3-compatible endpoint of a B2 region, unless B2_ENDPOINT_URL names another."""
    override = os.environ.get(ENDPOINT_ENV, "").strip()
    if not override:
        return f"https://s3.{region}.backblazeb2.com"
    if not re.match(r"^https?://[^/\s]+", override):
        raise RemoteError(
            f"{ENDPOINT_ENV} '{override}' is not an http(s) URL such as "
            "'http://127.0.0.1:9000'; unset it to use B2's endpoint for the region"
        )
    return override.rstrip("/")


@contextmanager
def _private_files() -> Iterator[None]:
    """Create files readable by their owner only while the block runs."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def use_b2(root: Path, bucket: str, region: str, prefix: str) -> str:
    """Point the `b2` remote at a bucket and make it the default; return its URL."""
    from dvc.config import Config
    from dvc.config_schema import RelPath

    if not BUCKET_NAME.match(bucket) or "--" in bucket:
        raise RemoteError(
            f"'{bucket}' is not a B2 bucket name (6-63 lowercase letters, digits and hyphens)"
        )
    if not REGION_NAME.match(region):
        raise RemoteError(f"'{region}' is not a B2 region such as 'us-west-004'")
    endpoint = endpoint_for(region)
    url = f"s3://{bucket}/{prefix.strip('/')}" if prefix.strip("/") else f"s3://{bucket}"
    config = Config(dvc_dir=str(root / ".dvc"))
    with config.edit("repo") as conf:
        conf["remote"][B2_REMOTE] = {
            "url": url,
            "endpointurl": endpoint,
            "region": region,
            # A RelPath is stored relative to .dvc/, so the config works in every clone.
            "configpath": RelPath(root / ".dvc" / AWS_CONFIG),
        }
        conf["core"]["remote"] = B2_REMOTE
    return url


def login(root: Path, remote: str, key_id: str, key: str) -> Path:
    """Store a key id and key for `remote` in .dvc/config.local, readable by the owner only."""
    from dvc.config import Config

    if not key_id or not key:
        raise RemoteError("an empty key id or key was given; copy both from the B2 console")
    config = Config(dvc_dir=str(root / ".dvc"))
    if remote not in config["remote"]:
        raise RemoteError(
            f"there is no remote '{remote}' yet; run `make use-b2 BUCKET=<bucket>` first"
        )
    with _private_files(), config.edit("local") as conf:
        section = conf["remote"].setdefault(remote, {})
        section["access_key_id"] = key_id
        section["secret_access_key"] = key
    path = root / ".dvc" / "config.local"
    path.chmod(0o600)
    return path


def remote_settings(root: Path, name: str | None) -> tuple[str, Mapping[str, Any]]:
    """The name and merged settings (repo + local) of a remote, default if unnamed."""
    from dvc.config import Config

    config = Config(dvc_dir=str(root / ".dvc"))
    name = name or config["core"].get("remote")
    if not name:
        raise RemoteError("no default DVC remote; run `make use-b2 BUCKET=<bucket>`")
    if name not in config["remote"]:
        known = ", ".join(config["remote"]) or "none"
        raise RemoteError(f"no DVC remote named '{name}' (known: {known})")
    return name, config["remote"][name]


def credentials(settings: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The key id and key for a remote: .dvc/config.local first, else AWS_* variables."""
    key_id = settings.get("access_key_id") or os.environ.get("AWS_ACCESS_KEY_ID")
    key = settings.get("secret_access_key") or os.environ.get("AWS_SECRET_ACCESS_KEY")
    return key_id, key


def check(root: Path, name: str | None = None) -> str:
    """Check that a remote can be reached with its key; return a one-line summary."""
    name, settings = remote_settings(root, name)
    url = str(settings["url"])
    if not url.startswith("s3://"):
        return f"remote '{name}' is the local folder {url}"
    bucket = url.removeprefix("s3://").split("/", 1)[0]
    key_id, key = credentials(settings)
    if not key_id or not key:
        raise RemoteError(
            f"no key for remote '{name}': run `make b2-login` (or set AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY) with a B2 application key for this bucket"
        )
    endpoint = settings.get("endpointurl")
    if settings.get("configpath"):
        os.environ.setdefault("AWS_CONFIG_FILE", str(settings["configpath"]))
    _head_bucket(bucket, endpoint, settings.get("region"), key_id, key)
    return f"remote '{name}' ok: bucket '{bucket}' at {endpoint}"


def _head_bucket(
    bucket: str, endpoint: str | None, region: str | None, key_id: str, key: str
) -> None:
    import botocore.session
    from botocore.config import Config as BotoConfig
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=key,
        config=BotoConfig(
            connect_timeout=TIMEOUT_S, read_timeout=TIMEOUT_S, retries={"max_attempts": 1}
        ),
    )
    try:
        client.head_bucket(Bucket=bucket)
    except EndpointConnectionError as error:
        raise RemoteError(
            f"cannot reach {endpoint}: check the remote's endpointurl (and its region)"
        ) from error
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket"):
            raise RemoteError(
                f"bucket '{bucket}' does not exist at {endpoint}: create it in the B2 "
                "console, or point the remote at yours with `make use-b2 BUCKET=<bucket>`"
            ) from error
        if code in ("403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
            raise RemoteError(
                f"the key is not accepted for bucket '{bucket}' ({code}): use a B2 application "
                "key that can access this bucket (the master key does not work with S3)"
            ) from error
        raise RemoteError(f"bucket '{bucket}' at {endpoint} answered {code}") from error
    except BotoCoreError as error:
        raise RemoteError(f"cannot use {endpoint}: {error}") from error


def _read_key(args: argparse.Namespace) -> tuple[str, str]:
    key_id = os.environ.get(KEY_ID_ENV, "")
    key = os.environ.get(KEY_ENV, "")
    if key_id and key:
        return key_id, key
    if not sys.stdin.isatty():
        raise RemoteError(f"set {KEY_ID_ENV} and {KEY_ENV}, or run this in a terminal to be asked")
    return input("B2 application key id: ").strip(), getpass.getpass("B2 application key: ").strip()


def main(root: Path, argv: list[str]) -> int:
    """Run a `remote` command; errors are one line on stderr and exit status 1."""
    parser = argparse.ArgumentParser(prog="remote", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    use = commands.add_parser("use-b2", help="point the b2 remote at a bucket, make it default")
    use.add_argument("bucket")
    use.add_argument("--region", default="us-west-004")
    use.add_argument("--prefix", default=root.name)
    key = commands.add_parser("login", help=f"store a key ({KEY_ID_ENV}/{KEY_ENV} or prompt)")
    key.add_argument("--remote", default=B2_REMOTE)
    probe = commands.add_parser("check", help="check the default (or named) remote")
    probe.add_argument("--remote", default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "use-b2":
            url = use_b2(root, args.bucket, args.region, args.prefix)
            print(f"default remote is now '{B2_REMOTE}': {url} ({endpoint_for(args.region)})")
        elif args.command == "login":
            path = login(root, args.remote, *_read_key(args))
            print(f"key stored for remote '{args.remote}' in {path.relative_to(root)} (mode 0600)")
        else:
            print(check(root, args.remote))
    except RemoteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
