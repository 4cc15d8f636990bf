"""The DVC remote (`make use-b2`): `login` stores its key, `check` checks it, `uploads` cleans it,
`missing` names what a `dvc pull` could not find on it.

Its key lives in .dvc/config.local (git-ignored, mode 0600) or in the AWS_* key variables.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from functools import partial
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


def check(root: Path, name: str | None = None, then: Callable[..., str] | None = None) -> str:
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
    bucket, _, path = url.removeprefix("s3://").partition("/")
    key_id = remote.get("access_key_id") or os.environ.get("AWS_ACCESS_KEY_ID")
    key = remote.get("secret_access_key") or os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key_id or not key:
        raise RemoteError(
            f"no key for remote '{name}': run `make b2-login` (or set AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY) with a B2 application key for this bucket"
        )
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
        if then is not None:  # `uploads`: its S3 errors are told in one line, as the check's
            return then(client, bucket, path)
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


def uploads(abort: bool, client: Any, bucket: str, path: str) -> str:
    """List (and abort) the unfinished multipart uploads under the remote's path: B2 bills them."""
    prefix = f"{path.strip('/')}/".lstrip("/")  # not another project's uploads in the bucket
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


def own_folder(root: Path) -> str | None:
    """Why another clone's pushes are not here, when the default remote is a folder inside this
    clone (the `local` remote of a project without a bucket): each clone has its own."""
    from dvc.config import Config

    config = Config(dvc_dir=str(root / ".dvc"))
    url = str(config["remote"].get(config["core"].get("remote") or "", {}).get("url", ""))
    if "://" in url or not Path(url).resolve().is_relative_to(root.resolve()):
        return None
    return (
        f"the remote is {os.path.relpath(url, root)}/, a folder of this clone's own that other "
        "clones cannot reach: use a bucket (`make use-b2`), or a shared folder "
        "(`uv run dvc remote modify --local local url /shared/folder`) on each clone"
    )


def missing(root: Path) -> str:
    """After a failed `dvc pull`: the outputs of dvc.lock that neither the cache nor the remote
    has (DVC's checkout names them; nothing is fetched)."""
    import logging

    from dvc.exceptions import CheckoutError
    from dvc.repo import Repo

    logging.getLogger("dvc").setLevel(logging.CRITICAL)  # the pull has told its own part
    try:
        Repo(str(root)).checkout()
    except CheckoutError as error:
        lacking = sorted(map(str, error.target_infos))
        raise RemoteError(
            f"the remote lacks {len(lacking)} output{'s' * (len(lacking) > 1)} of dvc.lock "
            f"({', '.join(lacking)}): "
            + (own_folder(root) or "the machine that made them must run `make push`")
            + "; or make them here with `make repro`"
        ) from error
    return "every output of dvc.lock is here; the pull failed for the reason above"


def main(root: Path, argv: list[str]) -> int:
    """Run `remote login|check|uploads|missing`: bad input exits 2, an unusable remote 1."""
    parser = Parser(prog="remote", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("command", choices=("login", "check", "uploads", "missing"))
    parser.add_argument("--remote", help="the remote's name (login: b2; others: the default)")
    parser.add_argument("--abort", action="store_true", help="uploads: abort every one listed")
    args = parser.parse_args(argv)
    if args.command == "missing":
        print(missing(root))
        return 1
    if args.command != "login":
        then = partial(uploads, args.abort) if args.command == "uploads" else None
        print(check(root, args.remote, then))
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
    with config.edit("local") as conf:
        keys = {"access_key_id": key_id, "secret_access_key": key}
        conf["remote"][name] = conf["remote"].get(name, {}) | keys
    print(f"key stored for remote '{name}' in .dvc/config.local (mode 0600)")
    return 0
