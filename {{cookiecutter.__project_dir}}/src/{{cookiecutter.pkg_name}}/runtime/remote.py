"""The DVC remote (`make use-b2`): `login` stores its key in .dvc/config.local (git-ignored,
mode 0600; or set the AWS_* key variables), `check` checks it, `uploads` cleans it."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from .records import UsageError

KEY_ID_ENV, KEY_ENV = "B2_APPLICATION_KEY_ID", "B2_APPLICATION_KEY"


class RemoteError(RuntimeError):
    """A remote that cannot be used now (no key, unreachable, no bucket); the message says why."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one-line UsageErrors (exit status 2)."""

    def error(self, message: str) -> NoReturn:  # argparse's own would print and exit
        raise UsageError(f"{message}; see `{self.prog} --help`")


def check(root: Path, name: str | None = None, uploads: bool = False, abort: bool = False) -> str:
    """Check that a remote (the default unless named) works with its key; say so in one line."""
    import botocore.session
    from botocore.config import Config as Settings
    from botocore.exceptions import BotoCoreError, ClientError
    from dvc.config import Config

    config = Config(dvc_dir=str(root / ".dvc"))
    name = name or config["core"].get("remote") or ""
    if name not in config["remote"]:
        raise RemoteError(f"no DVC remote '{name}'; make one with `make use-b2 BUCKET=<bucket>`")
    remote = config["remote"][name]
    url, endpoint = str(remote["url"]), remote.get("endpointurl")
    if not url.startswith("s3://"):
        return f"remote '{name}' is {url}"
    bucket, _, path = url.removeprefix("s3://").partition("/")
    key_id = remote.get("access_key_id") or os.environ.get("AWS_ACCESS_KEY_ID")
    key = remote.get("secret_access_key") or os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key_id or not key:
        tip = "(or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) with a B2 application key"
        raise RemoteError(f"no key for remote '{name}': run `make b2-login` {tip} for this bucket")
    once = Settings(connect_timeout=10, read_timeout=10, retries={"total_max_attempts": 1})
    options = {"region_name": remote.get("region"), "endpoint_url": endpoint, "config": once}
    options |= {"aws_access_key_id": key_id, "aws_secret_access_key": key}
    client = botocore.session.get_session().create_client("s3", **options)
    try:
        client.head_bucket(Bucket=bucket)
        if uploads:  # unfinished (B2 bills them), under its path: not another project's
            return _uploads(client, bucket, f"{path.strip('/')}/".lstrip("/"), abort)
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


def _uploads(client: Any, bucket: str, prefix: str, abort: bool) -> str:
    pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    found = [upload for page in pages for upload in page.get("Uploads", [])]
    for upload in found:
        ids = {"Bucket": bucket, "Key": upload["Key"], "UploadId": upload["UploadId"]}
        size = sum(part["Size"] for part in client.list_parts(**ids).get("Parts", []))
        print(f"{upload['Initiated']:%Y-%m-%d %H:%M} UTC {size / 2**20:9.1f} MiB  {ids['Key']}")
        if abort:
            client.abort_multipart_upload(**ids)
    how = ", aborted" if abort else "; `remote uploads --abort` aborts them"
    return f"unfinished uploads under s3://{bucket}/{prefix}: {len(found)}{how * bool(found)}"


def main(root: Path, argv: list[str]) -> int:
    """Run `remote login|check|uploads`: bad input exits 2, an unusable remote 1."""
    parser = Parser(prog="remote", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("command", choices=("login", "check", "uploads"))
    parser.add_argument("--remote", help="the remote's name (login: b2; others: the default)")
    parser.add_argument("--abort", action="store_true", help="uploads: abort every one listed")
    args = parser.parse_args(argv)
    if args.command != "login":
        print(check(root, args.remote, args.command == "uploads", args.abort))
        return 0
    from dvc.config import Config

    name, config = args.remote or "b2", Config(dvc_dir=str(root / ".dvc"))
    if name not in config["remote"]:
        raise RemoteError(f"there is no remote '{name}' yet; run `make use-b2 BUCKET=<bucket>`")
    key_id, key = os.environ.get(KEY_ID_ENV, ""), os.environ.get(KEY_ENV, "")
    if not (key_id and key) and sys.stdin.isatty():
        key_id = input("B2 application key id: ").strip()
        key = getpass.getpass("B2 application key: ").strip()
    if not (key_id and key):
        raise UsageError(f"no key: set {KEY_ID_ENV} and {KEY_ENV}, or run this in a terminal")
    path = root / ".dvc" / "config.local"
    path.touch(mode=0o600)
    path.chmod(0o600)  # before the key goes in: the file may have existed, readable by all
    with config.edit("local") as conf:  # DVC's own writer, as `dvc remote modify --local`
        conf["remote"].setdefault(name, {}).update(access_key_id=key_id, secret_access_key=key)
    print(f"key stored for remote '{name}' in .dvc/config.local (mode 0600)")
    return 0
