"""Where a run came from: code, environment, machine, command line. Nothing here may fail a run."""

import contextlib
import os
import platform
import re
import subprocess
from hashlib import sha256
from pathlib import Path
from typing import Any

from .records import write_json, write_text

DIFF_LIMIT = 1_000_000  # bytes of git.diff kept
DIFF = ("diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv")  # as `git apply` reads
READ = ("conf/", "src/")  # where a run's config and code are: an untracked file there is a change
SUMMARY = ("git_commit", "git_dirty", "uv_lock_sha256", "python", "host", "argv")  # for a tracker
# B2, W&B and AWS keys: runs redact them, the commit hook (.hooks/find_keys.py) refuses them. A key
# starts after no letter or digit, or after an escape or a colour or URL code (`\n`, `\x1b[1m`,
# `\x1b[K`, `%3A`, `%253A`); a pattern's group, if any, is the key.
_START = r"(?:(?<![0-9A-Za-z])|(?<=\\[nrt]|[0-9]m|\[[mK])|(?<=%[0-9A-Fa-f]{2})|(?<=%25[0-9A-F]{2}))"
_END = r"(?![0-9A-Za-z])"
KEYS = {
    "B2 application key": r"(?<!/)(?<![0-9A-Za-z+/]\+)" + _START + r"K00[0-9][0-9A-Za-z+/]{27}",
    "B2 application key id": r"(?<!\.)" + _START + r"00[0-9][0-9a-f]{22}" + _END,
    "B2 master key id": r"(?i:key[_-]?id)[\"' \t:=]{1,6}([0-9a-f]{12})" + _END,  # after a name
    "W&B API key": _START + r"wandb_v1_[0-9A-Za-z_]{77}",
    # An older W&B key (or a git commit id: the hook tells them apart), letters and digits both.
    "W&B API key (40 hex)": r"(?<!\.)" + _START + r"(?:local-)?(?=[0-9]*[a-f])(?=[a-f]*[0-9])"
    r"[0-9a-f]{40}" + _END,
    "AWS access key id": _START + r"(?:AKIA|ASIA)(?![0-9A-Z]{9}EXAMPLE)[0-9A-Z]{16}" + _END,
    "AWS secret access key": r"(?<![0-9A-Za-z+/]\+)" + _START + r"(?=[0-9A-Z+/]*[a-z])"
    r"(?=[0-9a-z+/]*[A-Z])(?=[A-Za-z+/]*[0-9])[0-9A-Za-z+/]{40}(?![0-9A-Za-z+/])",  # no digest
}
# Runs also redact any value after `=` or `:` of a name like a secret's (password, token, X_KEY).
SETTING = (
    r"(?i:(?<![\w-])[\w-]{0,100}(?:secret|password|passwd|token|_key|key_?id)[\"']?[ \t]*"
    r"(?::|=(?!=))[ \t]*(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;]+))"
)
SECRET = re.compile("|".join([*KEYS.values(), SETTING]))


def redact(text: str) -> str:
    """`text` with each credential (a pattern's group, or its whole match) as [REDACTED]."""
    return SECRET.sub(lambda m: m[0][: m.start(m.lastindex or 0) - m.start()] + "[REDACTED]", text)


def scrub(value: Any, name: str = "") -> Any:
    """A config with its credentials redacted: a key's shape, or a secret's name (`password: x`)."""
    if isinstance(value, dict):
        return {redact(str(key)): scrub(item, str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item, name) for item in value]
    if value is None or isinstance(value, bool) or redact(f"{name}={value}") == f"{name}={value}":
        return value
    return redact(str(value)) if redact(str(value)) != str(value) else "[REDACTED]"


def redact_arg(arg: str) -> str:
    """A command-line argument with its credentials redacted (`key=value`: as `scrub` does)."""
    key, sep, value = arg.partition("=")
    return f"{redact(key)}={scrub(value, key)}" if sep else redact(arg)


def record(root: Path, run_dir: Path, argv: list[str], seed: int, **more: Any) -> dict[str, Any]:
    """Write provenance.json, and git.diff of tracked files (cut at 1 MB, redacted) to `run_dir`."""
    git = ["git", "--no-optional-locks", "-C", str(root)]  # a `git commit` alongside never waits
    head = _run(*git, "rev-parse", "HEAD", "--abbrev-ref", "HEAD").split()
    commit, branch = head if len(head) == 2 else (None, None)  # None: no git, repo or commit
    if diff := (_diff(git) if commit else ""):
        write_text(run_dir / "git.diff", diff)
    untracked = _run(*git, "ls-files", "--others", "--exclude-standard", "-z").split("\0")[:-1]
    lock = root / "uv.lock"
    facts: dict[str, Any] = dict(git_commit=commit, git_branch=None if branch == "HEAD" else branch)
    unsaved = bool(diff) or any(name.startswith(READ) for name in untracked)  # not in the commit
    facts.update(git_dirty=unsaved if commit else None, argv=list(map(redact_arg, argv)), seed=seed)
    facts["untracked"] = untracked  # a run may read them: they are not in the commit
    facts["uv_lock_sha256"] = sha256(lock.read_bytes()).hexdigest() if lock.is_file() else None
    facts.update(python=platform.python_version(), platform=platform.platform())
    facts.update(host=platform.node(), cpus=os.cpu_count(), **more)  # a variant's own facts
    write_json(run_dir / "provenance.json", facts)
    return {key: facts[key] for key in SUMMARY}


def _diff(git: list[str]) -> str:
    """`git diff HEAD`: tracked files (binary ones as one line), read only up to the 1 MB cut."""
    with subprocess.Popen([*git, *DIFF], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as run:
        kept = run.stdout.read(DIFF_LIMIT + 1) if run.stdout else b""  # git stops at the close
    if len(kept) > DIFF_LIMIT:  # cut at a line's end, so that no key is left in halves
        kept = kept[:DIFF_LIMIT].rpartition(b"\n")[0] + b"\n"
        kept += f"# git.diff cut here: over {DIFF_LIMIT} bytes; see `git diff HEAD`\n".encode()
    return redact(kept.decode("utf-8", errors="replace"))


def _run(*command: str) -> str:
    """Standard output of `command`, or "" if it cannot start, fails or takes over 10 s."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        ran = subprocess.run(command, capture_output=True, errors="replace", timeout=10, check=True)
        return ran.stdout
    return ""
