"""Refresh the lock files that generated projects start from: `make locks`.

A generated project must install with `uv sync --frozen` on its first try, so
the template ships one uv.lock per framework and supported Python version. Each is made by
rendering the template's pyproject.toml for a stand-in project named
`lockproject` and running `uv lock`; the post-generation hook puts the real
project name in its place. `make test` checks that the shipped locks match
pyproject.toml (see tests/test_e2e.py).
"""

from __future__ import annotations

import argparse
import json
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


def lock_name(framework: str, python_version: str) -> str:
    """The lock file of one framework and Python version (the post-generation hook's too)."""
    return f"{'' if framework == 'sklearn' else framework + '-'}py{python_version}.lock"


def render_pyproject(python_version: str, framework: str) -> str:
    """Render the template's pyproject.toml for the stand-in project."""
    defaults = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    context = {
        key: value[0] if isinstance(value, list) else value
        for key, value in defaults.items()
        if not key.startswith("_") or key == "__dist_name"
    }
    context.update(pkg_name=STAND_IN, __dist_name=STAND_IN, python_version=python_version)
    context.update(framework=framework)
    source = (PROJECT / "pyproject.toml").read_text(encoding="utf-8")
    return (
        Environment(undefined=StrictUndefined, keep_trailing_newline=True)
        .from_string(source)
        .render(cookiecutter=context)
    )


def lock(python_version: str, framework: str, uv: str, upgrade: bool) -> Path:
    """Lock the stand-in project for one framework and Python version; return the lock file."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "pyproject.toml").write_text(
            render_pyproject(python_version, framework), encoding="utf-8"
        )
        (work / "README.md").write_text("stand-in\n", encoding="utf-8")
        target = LOCKS / lock_name(framework, python_version)
        if target.exists() and not upgrade:
            shutil.copy(target, work / "uv.lock")
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
    parser.add_argument("--upgrade", action="store_true", help="take the newest allowed versions")
    parser.add_argument("--uv", default=shutil.which("uv") or "uv", help="uv executable")
    args = parser.parse_args()
    options = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    choices, frameworks = options["python_version"], args.framework or options["framework"]
    for version in args.versions or choices:
        if version not in choices:
            parser.error(
                f"Python {version} is not a choice of cookiecutter.json ({', '.join(choices)})"
            )
        for framework in frameworks:
            if framework not in options["framework"]:
                parser.error(f"framework {framework} is not a choice of cookiecutter.json")
            written = lock(version, framework, args.uv, args.upgrade)
            print(f"locked {written.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
