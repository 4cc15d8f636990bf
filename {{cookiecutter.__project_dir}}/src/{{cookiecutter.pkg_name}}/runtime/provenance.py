"""Where a run came from: the code, the environment, the machine and the command line.

`record` writes provenance.json, and git.diff when tracked files changed (cut at 1 MB, keys
redacted); untracked files are listed, never copied. Nothing here may fail a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import re
import socket
import subprocess
import sys
from pathlib import Path
from subprocess import DEVNULL, PIPE
from typing import Any

from .records import write_json, write_text

DIFF_LIMIT = 1_000_000  # bytes of git.diff kept
DIFF = ("diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv")  # as `git apply` reads
SUMMARY = ("git_commit", "git_dirty", "uv_lock_sha256", "python", "host", "argv")  # for a tracker
# A setting named like a secret (secret_access_key, password, token, X_KEY) with `=` or `:`.
SETTING = r"[\w-]*(?:secret|password|passwd|token|_key|key_?id)[\"']?[ \t]*(?::|=(?!=))[ \t]*"
# Group 1 is kept, the rest replaced. Keys land in the configs and scripts that a diff shows.
SECRETS = [
    re.compile(r"()\bK00[0-9A-Za-z+/]{25,}"),  # Backblaze B2 application key
    re.compile(r"(?i)(key[_-]?id\W{1,4})(?:[0-9a-f]{25}|[0-9a-f]{12})\b"),  # B2 key id
    re.compile(r"()\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"()\b(?:local-)?[0-9a-f]{40}\b"),  # W&B API key
    re.compile(rf"(?i)({SETTING})(?:\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;]+)"),
]


def redact(text: str) -> str:
    """Return `text` with anything that looks like a credential replaced by [REDACTED]."""
    for pattern in SECRETS:
        text = pattern.sub(r"\g<1>[REDACTED]", text)
    return text


def record(root: Path, run_dir: Path, argv: list[str], seed: int) -> dict[str, Any]:
    """Write provenance.json (and git.diff if tracked files changed) to `run_dir`; sum it up."""
    git = ["git", "--no-optional-locks", "-C", str(root)]  # a `git commit` alongside never waits
    head = _run(*git, "rev-parse", "HEAD", "--abbrev-ref", "HEAD").split()
    commit, branch = head if len(head) == 2 else (None, None)  # None: no git, repo or commit
    if diff := (_diff(git) if commit else ""):
        write_text(run_dir / "git.diff", diff)
    untracked = _run(*git, "ls-files", "--others", "--exclude-standard", "-z").split("\0")[:-1]
    lock = root / "uv.lock"
    facts = {
        "git_commit": commit,
        "git_branch": None if branch == "HEAD" else branch,  # "HEAD" when detached
        "git_dirty": bool(diff) if commit else None,
        "untracked": [{"path": name, "bytes": _size(root / name)} for name in untracked],
        "uv_lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "gpus": gpus(),
        "argv": [redact(arg) for arg in argv],
        "seed": seed,
    }
    write_json(run_dir / "provenance.json", facts)
    return {key: facts[key] for key in SUMMARY}


def gpus() -> list[str]:
    """The GPUs nvidia-smi reports, and the CUDA devices of a torch the stage already imported."""
    found = _run("nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader").split("\n")
    torch: Any = sys.modules.get("torch")  # importing torch here would cost seconds
    with contextlib.suppress(Exception):  # a broken CUDA set-up must not fail the run it describes
        if torch is not None and torch.cuda.is_available():
            found += map(torch.cuda.get_device_name, range(torch.cuda.device_count()))
    return [str(name).strip() for name in found if str(name).strip()]


def _diff(git: list[str]) -> str:
    """`git diff HEAD`: tracked files (binary ones as one line), read only up to the 1 MB cut."""
    with subprocess.Popen([*git, *DIFF], stdout=PIPE, stderr=DEVNULL) as run:
        kept = run.stdout.read(DIFF_LIMIT + 1) if run.stdout else b""
        run.kill()
    if len(kept) > DIFF_LIMIT:  # cut at a line's end, so that no key is left in halves
        kept = kept[:DIFF_LIMIT].rpartition(b"\n")[0] + b"\n"
        kept += f"# git.diff cut here: over {DIFF_LIMIT} bytes; see `git diff HEAD`\n".encode()
    return redact(kept.decode("utf-8", errors="replace"))  # a failing git writes nothing


def _run(*command: str) -> str:
    """Standard output of `command`, or "" if it cannot start, fails or takes over 10 s."""
    try:
        done = subprocess.run(command, capture_output=True, errors="replace", timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""


def _size(path: Path) -> int | None:
    with contextlib.suppress(OSError):  # deleted since git listed it
        return path.lstat().st_size
    return None
