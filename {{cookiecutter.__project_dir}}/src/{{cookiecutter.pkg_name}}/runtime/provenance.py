"""Where a run came from: the code, the environment, the machine and the command line.

`collect` returns a JSON-ready dict for the run folder; `git_diff` returns the
uncommitted changes, saved beside it as `git.diff` when the tree is dirty.
Nothing here may fail a run: a missing git, a folder outside a repository or a
machine without GPUs gives `None` or an empty list. Everything is read from
local files and a few quick subprocesses; nothing touches the network.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shutil
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

GIT_TIMEOUT_S = 10.0
NVIDIA_SMI_TIMEOUT_S = 5.0
LOCK_FILE = "uv.lock"


def collect(root: Path, argv: list[str], seed: int) -> dict[str, Any]:
    """Return the provenance of a run started in `root` with `argv` and `seed`."""
    return {
        "collected": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "argv": list(argv),
        "seed": seed,
        "git": git_info(root),
        "uv_lock_sha256": file_sha256(root / LOCK_FILE),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "cpu": cpu_info(),
        "gpus": gpu_info(),
        "packages": package_versions(),
    }


def git_diff(root: Path) -> str:
    """Return `git diff HEAD` of the repository at `root`; empty if clean or without git."""
    # External diff tools and colour from the user's git config would make the
    # file unusable with `git apply`.
    done = _run(["git", "-C", str(root), "diff", "HEAD", "--no-color", "--no-ext-diff"])
    return done.stdout if done is not None and done.returncode == 0 else ""


def git_info(root: Path) -> dict[str, Any]:
    """Return the commit, branch and dirty flag of the repository at `root`.

    One `git status` gives all three. `dirty` counts changes to tracked files,
    which are what `git_diff` saves; untracked files are listed separately
    (ignored ones, such as data and run folders, are not).
    """
    if shutil.which("git") is None:
        return _no_git("git is not installed")
    done = _run(["git", "-C", str(root), "status", "--porcelain=v2", "--branch", "-z"])
    if done is None:
        return _no_git("git status could not run or timed out")
    if done.returncode != 0:
        errors = done.stderr.strip().splitlines()
        return _no_git(errors[-1] if errors else f"git status exited with {done.returncode}")
    commit = branch = None
    dirty = False
    untracked: list[str] = []
    # -z keeps unusual file names unquoted; every field ends with NUL.
    fields = iter(done.stdout.split("\0"))
    for field in fields:
        if field.startswith("# branch.oid "):
            oid = field.removeprefix("# branch.oid ")
            commit = None if oid == "(initial)" else oid
        elif field.startswith("# branch.head "):
            head = field.removeprefix("# branch.head ")
            branch = None if head == "(detached)" else head
        elif field.startswith("? "):
            untracked.append(field.removeprefix("? "))
        elif field[:2] in ("1 ", "2 ", "u "):
            dirty = True
            if field.startswith("2 "):
                next(fields, None)  # a rename's original path comes as a field of its own
    return {
        "available": True,
        "commit": commit,
        "branch": branch,
        "dirty": dirty,
        "untracked": untracked,
    }


def _no_git(reason: str) -> dict[str, Any]:
    return {
        "available": False,
        "reason": reason,
        "commit": None,
        "branch": None,
        "dirty": None,
        "untracked": None,
    }


def file_sha256(path: Path) -> str | None:
    """Return the hex SHA-256 of the file at `path`, or None if it does not exist."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def cpu_info() -> dict[str, Any]:
    """Return the CPU model and the number of logical CPUs (and those this process may use)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"model": cpu_model(), "logical_cpus": os.cpu_count(), "usable_cpus": usable}


def cpu_model() -> str | None:
    """Return the CPU's model name: from /proc/cpuinfo on Linux, else from `platform`."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
                for line in cpuinfo:
                    key, _, value = line.partition(":")
                    if key.strip() == "model name":
                        return value.strip()
        except OSError:
            pass
    # ARM Linux has no "model name"; there platform.processor() runs `uname -p`.
    return platform.processor() or None


def gpu_info() -> list[dict[str, Any]]:
    """Return the GPUs that nvidia-smi reports and the CUDA devices of an imported torch."""
    gpus = _nvidia_smi_gpus() if shutil.which("nvidia-smi") is not None else []
    # Only a torch the stage already imported: importing it here would cost seconds.
    if "torch" in sys.modules:
        gpus.extend(_torch_gpus(sys.modules["torch"]))
    return gpus


def _nvidia_smi_gpus() -> list[dict[str, Any]]:
    query = ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"]
    done = _run(query, timeout=NVIDIA_SMI_TIMEOUT_S)
    if done is None or done.returncode != 0:
        return []
    gpus: list[dict[str, Any]] = []
    for line in filter(str.strip, done.stdout.splitlines()):
        name, _, memory = line.rpartition(",")  # "NVIDIA A100-SXM4-40GB, 40960 MiB"
        gpus.append({"source": "nvidia-smi", "name": name.strip(), "memory": memory.strip()})
    return gpus


def _torch_gpus(torch: Any) -> list[dict[str, Any]]:
    try:
        if not torch.cuda.is_available():
            return []
        count = int(torch.cuda.device_count())
        return [
            {"source": "torch", "name": str(torch.cuda.get_device_name(index))}
            for index in range(count)
        ]
    except Exception:  # a broken CUDA setup must not fail the run it describes
        return []


def package_versions() -> dict[str, str]:
    """Return {name: version} of every installed distribution, sorted by name."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name, version = _name_and_version(dist)
        # The first of two copies on sys.path is the one that imports.
        if name and version and name not in found:
            found[name] = version
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def _name_and_version(dist: importlib.metadata.Distribution) -> tuple[str | None, str | None]:
    # `dist.metadata` parses the whole file, long description included, with the
    # email parser: about 30 ms for 150 packages. Name and Version are plain
    # header lines, so reading up to the first blank line takes a tenth of that.
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if text is None:
        return None, None
    name = version = None
    for line in text.partition("\n\n")[0].splitlines():
        if line.startswith("Name:"):
            name = line.removeprefix("Name:").strip()
        elif line.startswith("Version:"):
            version = line.removeprefix("Version:").strip()
    return name, version


def _run(
    command: list[str], timeout: float = GIT_TIMEOUT_S
) -> subprocess.CompletedProcess[str] | None:
    """Run `command`; return its result, or None if it cannot start or times out."""
    # GIT_OPTIONAL_LOCKS=0: `git status` would otherwise take the index lock to
    # refresh it, and could make a `git commit` running at the same time fail.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        return subprocess.run(
            command,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None


def record(root: Path, run_dir: Path, argv: list[str], seed: int) -> dict[str, Any]:
    """TEMPORARY shim until the provenance rework lands."""
    from .records import write_json, write_text

    data = collect(root, argv, seed)
    write_json(run_dir / "provenance.json", data)
    if (data.get("git") or {}).get("dirty"):
        write_text(run_dir / "git.diff", git_diff(root))
    return {"git_commit": (data.get("git") or {}).get("commit")}
