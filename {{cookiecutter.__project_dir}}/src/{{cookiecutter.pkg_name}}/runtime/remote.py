"""The DVC remote: switch to Backblaze B2, store its key, check it before any data moves.

    python -m <package> remote use-b2 BUCKET [--region R] [--prefix P]
    python -m <package> remote login [--remote b2]     key id and key -> .dvc/config.local
    python -m <package> remote check [--remote NAME]   one clear error, or "ok"

Keys live in .dvc/config.local (git-ignored, mode 0600) or in AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, never in a committed file. B2_ENDPOINT_URL, when set, replaces
the region's endpoint (an S3-compatible stand-in, a proxy, tests).
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from pathlib import Path
from typing import NoReturn

from .records import UsageError

KEY_ID_ENV, KEY_ENV = "B2_APPLICATION_KEY_ID", "B2_APPLICATION_KEY"


class RemoteError(RuntimeError):
    """A remote that cannot be used now (no key, unreachable, no bucket); the message says why."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one-line UsageErrors (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage and exiting."""
        raise UsageError(f"{message}; see `{self.prog} --help`")


def use_b2(root: Path, bucket: str, region: str, prefix: str) -> tuple[str, str]:
    """Point the `b2` remote at a bucket and make it the default; return its URL and endpoint."""
    from dvc.config import Config
    from dvc.config_schema import RelPath

    if not re.match(r"^(?!b2-)(?!.*--)[a-z0-9][a-z0-9-]{4,61}[a-z0-9]$", bucket):
        raise UsageError(f"'{bucket}' is not a B2 bucket name (6-63 of a-z, 0-9 and '-')")
    if not re.match(r"^[a-z]{2}-[a-z]+-\d{3}$", region):
        raise UsageError(f"'{region}' is not a B2 region such as 'us-west-004'")
    endpoint = os.environ.get("B2_ENDPOINT_URL", "").rstrip("/")
    remote = {"url": "/".join(p for p in (f"s3://{bucket}", prefix.strip("/")) if p)}
    remote |= {"endpointurl": endpoint or f"https://s3.{region}.backblazeb2.com", "region": region}
    # aws_config (committed, no secrets) turns off the checksum headers that B2 rejects; a
    # RelPath is stored relative to .dvc/, so the remote works in every clone.
    remote["configpath"] = RelPath(root / ".dvc" / "aws_config")
    with Config(dvc_dir=str(root / ".dvc")).edit("repo") as conf:
        conf["remote"]["b2"], conf["core"]["remote"] = remote, "b2"
    return remote["url"], remote["endpointurl"]


def login(root: Path, remote: str, key_id: str, key: str) -> Path:
    """Store a key id and key for `remote` in .dvc/config.local, readable by the owner only."""
    from dvc.config import Config

    if not key_id or not key:
        raise UsageError("an empty key id or key was given; copy both from the B2 console")
    config = Config(dvc_dir=str(root / ".dvc"))
    if remote not in config["remote"]:
        raise RemoteError(f"there is no remote '{remote}' yet; run `make use-b2 BUCKET=<bucket>`")
    path = root / ".dvc" / "config.local"
    path.touch(mode=0o600)
    path.chmod(0o600)  # before the key goes in: the file may have existed, readable by all
    with config.edit("local") as conf:
        keys = {"access_key_id": key_id, "secret_access_key": key}
        conf["remote"][remote] = conf["remote"].get(remote, {}) | keys
    return path


def check(root: Path, name: str | None = None) -> str:
    """Check that a remote (the default unless named) works with its key; say so in one line."""
    from dvc.config import Config

    config = Config(dvc_dir=str(root / ".dvc"))
    name = name or config["core"].get("remote") or ""
    if name not in config["remote"]:
        raise RemoteError(f"no DVC remote '{name}'; make one with `make use-b2 BUCKET=<bucket>`")
    remote = config["remote"][name]
    url, endpoint = str(remote["url"]), remote.get("endpointurl")
    if not url.startswith("s3://"):
        return f"remote '{name}' is {url}"
    bucket = url.removeprefix("s3://").split("/", 1)[0]
    key_id = remote.get("access_key_id") or os.environ.get("AWS_ACCESS_KEY_ID")
    key = remote.get("secret_access_key") or os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key_id or not key:
        raise RemoteError(
            f"no key for remote '{name}': run `make b2-login` (or set AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY) with a B2 application key for this bucket"
        )
    if remote.get("configpath"):  # as dvc-s3 does: B2's checksum settings apply here too
        os.environ.setdefault("AWS_CONFIG_FILE", str(remote["configpath"]))
    import botocore.session
    from botocore.config import Config as Settings
    from botocore.exceptions import BotoCoreError, ClientError

    once = Settings(connect_timeout=10, read_timeout=10, retries={"total_max_attempts": 1})
    options = {"endpoint_url": endpoint, "aws_access_key_id": key_id, "aws_secret_access_key": key}
    client = botocore.session.get_session().create_client(
        "s3", remote.get("region"), config=once, **options
    )
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code"))
        problem = "does not exist" if code in ("404", "NoSuchBucket") else f"answered {code}"
        raise RemoteError(
            f"bucket '{bucket}' at {endpoint} {problem}: check its name, and that the key "
            "is a B2 application key for it (the master key does not work)"
        ) from error
    except BotoCoreError as error:
        raise RemoteError(f"cannot reach {endpoint}: check the remote's endpointurl") from error
    return f"remote '{name}' ok: bucket '{bucket}' at {endpoint}"


def main(root: Path, argv: list[str]) -> int:
    """Run `remote use-b2|login|check`: bad input exits with status 2, an unusable remote 1."""
    parser = Parser(prog="remote", description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    use = commands.add_parser("use-b2", help="point the b2 remote at a bucket, make it default")
    use.add_argument("bucket")
    use.add_argument("--region", default="us-west-004")
    use.add_argument("--prefix", default=root.name)
    commands.add_parser("login", help="store a key").add_argument("--remote", default="b2")
    commands.add_parser("check", help="check the remote").add_argument("--remote")
    try:
        args = parser.parse_args(argv)
        if args.command == "use-b2":
            url, endpoint = use_b2(root, args.bucket, args.region, args.prefix)
            print(f"default remote is now 'b2': {url} ({endpoint})")
        elif args.command == "check":
            print(check(root, args.remote))
        else:
            key_id, key = os.environ.get(KEY_ID_ENV, ""), os.environ.get(KEY_ENV, "")
            if not (key_id and key) and not sys.stdin.isatty():
                raise UsageError(f"set {KEY_ID_ENV} and {KEY_ENV}, or run this in a terminal")
            if not (key_id and key):
                key_id = input("B2 application key id: ").strip()
                key = getpass.getpass("B2 application key: ").strip()
            path = login(root, args.remote, key_id, key)
            print(f"key stored for remote '{args.remote}' in {path.relative_to(root)} (mode 0600)")
    except (UsageError, RemoteError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
    return 0
