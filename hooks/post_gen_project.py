"""Finish the generated project: keep the chosen options' files, record the template, start git.

Runs inside the new project folder, never prompts, and touches no global
configuration: git gets its settings on the command line of each call.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

# Cookiecutter renders the answers (local_extensions.py checked them) into this raw string as
# JSON, as (key, value) pairs: tojson sorts a mapping's keys; .cruft.json keeps the template's
# order.
PAIRS = r'''{{ cookiecutter.items() | list | tojson }}'''  # fmt: skip
ANSWERS: dict[str, Any] = dict(json.loads(PAIRS))
PYTHON_VERSION = str(ANSWERS["python_version"])
LICENSE = str(ANSWERS["license"])
FRAMEWORK = str(ANSWERS["framework"])
SEARCH = str(ANSWERS["search"])
DIST_NAME = str(ANSWERS["__dist_name"])
# The lock files are made by the template's `make locks` for a stand-in project
# of this name; only the root package's name differs between projects.
LOCK_PLACEHOLDER = 'name = "lockproject"'
LOCKS = Path(".template-locks")
# Each framework's own files: .variants/<framework>/ mirrors the project and replaces its files;
# these are the default (sklearn) files that another framework has no use for.
VARIANTS = Path(".variants")
SKLEARN_ONLY = (
    "conf/model/sgd.yaml",
    "conf/model/linear.yaml",
    "conf/model/boosted_trees.yaml",
    "conf/search/sgd.yaml",  # search=optuna only
)
# Each option's own files: .options/<choice>/ mirrors the project as the template holds it,
# .variants/ included, so that a file of one framework only goes where that framework's go.
OPTIONS = Path(".options")
# Files whose code comments sit in a column: the package and W&B names change the width of
# the lines that hold them, so their groups are aligned again after rendering.
ALIGNED = ("README.md", "conf/logger/wandb.yaml", "conf/search/*.yaml")
TRAILING_COMMENT = re.compile(r"^(?P<code>.*?\S) +(?P<comment># .*)$")
# What cookiecutter adds about this one bake (paths on this machine); cruft records none of it.
BAKE_ONLY = ("_output_dir", "_repo_dir", "_checkout")


def lock_name(framework: str, search: str, python_version: str) -> str:
    """The lock file of one set of answers, as scripts/update_locks.py names it: the choices
    other than the defaults, then the Python version (pytorch-optuna-py3.11.lock)."""
    chosen = [choice for choice in (framework, search) if choice not in ("sklearn", "none")]
    return "".join(f"{choice}-" for choice in chosen) + f"py{python_version}.lock"


def install_lock() -> None:
    """Put the lock file for the chosen framework, search and Python version in place as uv.lock."""
    name = lock_name(FRAMEWORK, SEARCH, PYTHON_VERSION)
    lock = (LOCKS / name).read_text(encoding="utf-8")
    if lock.count(LOCK_PLACEHOLDER) != 1:
        raise SystemExit(f"error: the template's lock {name} is damaged")
    Path("uv.lock").write_text(
        lock.replace(LOCK_PLACEHOLDER, f'name = "{DIST_NAME}"'), encoding="utf-8"
    )
    shutil.rmtree(LOCKS)


def move_overlay(overlay: Path) -> None:
    """Move every file of an overlay folder to the same place in the project."""
    for source in sorted(path for path in overlay.rglob("*") if path.is_file()):
        target = source.relative_to(overlay)
        target.parent.mkdir(parents=True, exist_ok=True)
        source.replace(target)


def apply_options() -> None:
    """Add the files of the chosen options (search=optuna: .options/optuna/)."""
    if SEARCH != "none":
        move_overlay(OPTIONS / SEARCH)
    shutil.rmtree(OPTIONS)


def apply_framework() -> None:
    """Put the chosen framework's files in place of the default ones."""
    overlay = VARIANTS / FRAMEWORK
    if overlay.is_dir():
        for name in SKLEARN_ONLY:
            Path(name).unlink(missing_ok=True)
        move_overlay(overlay)
    shutil.rmtree(VARIANTS)


def prune_license() -> None:
    """Drop the LICENSE file when the project has none."""
    if LICENSE == "none":
        Path("LICENSE").unlink()


def comment_groups(lines: list[str], markdown: bool) -> list[list[int]]:
    """Line numbers of the lines with a trailing comment, grouped: by fenced block in
    Markdown, by run of consecutive such lines elsewhere."""
    groups: list[list[int]] = [[]]
    fenced = False
    for number, line in enumerate(lines):
        if markdown and line.lstrip().startswith("```"):
            fenced = not fenced
            groups.append([])
        elif (fenced or not markdown) and TRAILING_COMMENT.match(line):
            groups[-1].append(number)
        elif not markdown:
            groups.append([])
    return [group for group in groups if len(group) > 1]


def align_comments() -> None:
    """Put the trailing comments of each group holding a chosen name in one column."""
    names = (str(ANSWERS["pkg_name"]), str(ANSWERS["wandb_project"]))
    for path in (found for pattern in ALIGNED for found in sorted(Path().glob(pattern))):
        lines = path.read_text(encoding="utf-8").split("\n")
        for group in comment_groups(lines, markdown=path.suffix == ".md"):
            if not any(name in lines[number] for number in group for name in names):
                continue
            parts = [TRAILING_COMMENT.match(lines[number]) for number in group]
            column = max(len(part["code"]) for part in parts if part) + 2
            for number, part in zip(group, parts, strict=True):
                if part:
                    lines[number] = part["code"].ljust(column) + part["comment"]
        path.write_text("\n".join(lines), encoding="utf-8")


def git_output(folder: Path, *args: str) -> str | None:
    """Git's output about `folder`, or None when git or the repository is missing."""
    if shutil.which("git") is None:
        return None
    found = subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=False
    )
    return found.stdout.strip() if found.returncode == 0 else None


def record_template() -> None:
    """Write .cruft.json as `cruft create` does, so `cruft check` and `cruft update` work
    on a project baked by plain cookiecutter too."""
    if "_commit" in ANSWERS:  # cruft is baking (create or update): it writes the file itself
        return
    # Lazy: only cookiecutter's own Python runs this hook, and only this step needs it.
    from cookiecutter.config import get_user_config
    from cookiecutter.repository import expand_abbreviations, is_repo_url

    folder = Path(str(ANSWERS.get("_repo_dir") or ANSWERS["_template"]))
    if not folder.is_absolute():
        # Relative to where cookiecutter started, which the shell keeps in PWD (this hook
        # runs inside the new project, not there).
        folder = Path(os.environ.get("PWD", os.curdir), folder)
    top = git_output(folder, "rev-parse", "--show-toplevel")
    commit = git_output(folder, "rev-parse", "HEAD")
    if not (folder / "cookiecutter.json").is_file() or not top or not commit:
        print(
            "note: the template is not a git repository here, so no .cruft.json: "
            "run 'cruft link <template url>' in the project to follow template updates",
            file=sys.stderr,
        )
        return
    inside = Path(os.path.relpath(folder.resolve(), Path(top).resolve())).as_posix()
    directory = None if inside == "." else inside
    source = expand_abbreviations(str(ANSWERS["_template"]), get_user_config()["abbreviations"])
    if not is_repo_url(source):
        source = os.path.abspath(folder) if directory is None else top
    context = {key: value for key, value in ANSWERS.items() if key not in BAKE_ONLY}
    context.update(_template=source, _commit=commit)
    record = {
        "template": source,
        "commit": commit,
        "checkout": ANSWERS.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": directory,
    }
    # The layout cruft itself writes, so its later rewrites change only what changed.
    text = json.dumps(record, ensure_ascii=False, indent=2, separators=(",", ": ")) + "\n"
    Path(".cruft.json").write_text(text, encoding="utf-8")


def git_init() -> None:
    """Make the project a git repository on branch main, if git is installed."""
    if shutil.which("git") is None:
        print(
            "note: git is not installed; run 'git init -b main' in the project later",
            file=sys.stderr,
        )
        return
    subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "init", "--quiet", "--initial-branch=main"],
        check=True,
    )


def main() -> int:
    """Run every finishing step in order."""
    install_lock()
    apply_options()  # first: an option's files for one framework go into .variants/
    apply_framework()
    prune_license()
    align_comments()
    record_template()
    git_init()
    return 0


if __name__ == "__main__":
    sys.exit(main())
