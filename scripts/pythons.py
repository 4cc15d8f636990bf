"""Find a Python interpreter of a given minor version on this machine, without downloads."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def _version_of(executable: str) -> str | None:
    try:
        out = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def find_python(version: str) -> str | None:
    """Return the path of a working `python<version>`, or None if the machine has none."""
    candidates = [shutil.which(f"python{version}"), shutil.which("python3")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [
        str(p) for p in sorted(pyenv_root.glob(f"versions/{version}*/bin/python{version}"))
    ]
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for candidate in candidates:
        if candidate and Path(candidate).exists() and _version_of(candidate) == version:
            return candidate
    return None
