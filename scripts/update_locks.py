"""Refresh the lock files that generated projects start from: `make locks`.

A generated project must install with `uv sync --frozen` on its first try, so
the template ships one uv.lock per framework, search and supported Python version
(2 x 2 x 4 = 16). Each is made by rendering the template's pyproject.toml for a
stand-in project named `lockproject` and running `uv lock`; the post-generation
hook puts the real project name in its place. `make test` checks that the shipped
locks match pyproject.toml (tests/test_locks.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from jinja2 import Environment, StrictUndefined
from pythons import find_python

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "{{cookiecutter.__project_dir}}"
LOCKS = PROJECT / ".template-locks"
STAND_IN = "lockproject"


def lock_name(framework: str, search: str, python_version: str) -> str:
    """The lock file of one set of answers (the post-generation hook's lock_name too): the
    choices other than the defaults, then the Python version (pytorch-optuna-py3.11.lock)."""
    chosen = [choice for choice in (framework, search) if choice not in ("sklearn", "none")]
    return "".join(f"{choice}-" for choice in chosen) + f"py{python_version}.lock"


def render_pyproject(python_version: str, framework: str, search: str) -> str:
    """Render the template's pyproject.toml for the stand-in project."""
    defaults = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    context = {
        key: value[0] if isinstance(value, list) else value
        for key, value in defaults.items()
        if not key.startswith("_") or key == "__dist_name"
    }
    context.update(pkg_name=STAND_IN, __dist_name=STAND_IN, python_version=python_version)
    context.update(framework=framework, search=search)
    source = (PROJECT / "pyproject.toml").read_text(encoding="utf-8")
    return (
        Environment(undefined=StrictUndefined, keep_trailing_newline=True)
        .from_string(source)
        .render(cookiecutter=context)
    )


def lock(python_version: str, framework: str, search: str, uv: str, upgrade: bool) -> Path:
    """Lock the stand-in project for one set of answers; return the lock file."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "pyproject.toml").write_text(
            render_pyproject(python_version, framework, search), encoding="utf-8"
        )
        (work / "README.md").write_text("stand-in\n", encoding="utf-8")
        target = LOCKS / lock_name(framework, search, python_version)
        # A new lock starts from the one without search: the packages both hold keep their
        # versions, so adding search later (cruft update) changes only what it adds.
        start = target if target.exists() else LOCKS / lock_name(framework, "none", python_version)
        if start.exists() and not upgrade:
            shutil.copy(start, work / "uv.lock")
        python = find_python(python_version)
        if python is None:
            raise SystemExit(
                f"error: no Python {python_version} on this machine; uv needs one to lock for it"
            )
        command = [uv, "lock", "--quiet", "--python", python, *(["--upgrade"] if upgrade else [])]
        subprocess.run(command, cwd=work, check=True)
        LOCKS.mkdir(exist_ok=True)
        shutil.copy(work / "uv.lock", target)
        return target


def main() -> int:
    """Lock every supported Python version (or the ones named)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "versions", nargs="*", help="Python versions to lock (default: all choices)"
    )
    parser.add_argument("--framework", action="append", help="only this framework (repeatable)")
    parser.add_argument("--search", action="append", help="only this search (repeatable)")
    parser.add_argument("--upgrade", action="store_true", help="take the newest allowed versions")
    parser.add_argument("--uv", default=shutil.which("uv") or "uv", help="uv executable")
    args = parser.parse_args()
    options = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    wanted = {
        "python_version": args.versions or options["python_version"],
        "framework": args.framework or options["framework"],
        "search": args.search or options["search"],
    }
    for field, values in wanted.items():
        for value in values:
            if value not in options[field]:
                parser.error(
                    f"{field} {value} is not a choice of cookiecutter.json "
                    f"({', '.join(options[field])})"
                )
    uv = os.path.abspath(args.uv) if os.sep in args.uv else args.uv  # it runs in a temp folder
    for version, framework, search in itertools.product(*wanted.values()):
        written = lock(version, framework, search, uv, args.upgrade)
        print(f"locked {written.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
