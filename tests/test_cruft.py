"""Render tier: every project records its template commit and takes template updates.

The template is copied into a git repository of its own (commit A). A project
baked by plain cookiecutter gets the same `.cruft.json` that `cruft create` writes,
so `cruft check` reports it out of date after the template changes (commit B) and
`cruft update` applies the change, whichever tool baked it. An option left out at
first (search=none) is added later by `cruft update --variables-to-update`, which
makes the project what choosing the option at first would have baked.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import ROOT, require_ok, run
from cookiecutter.main import cookiecutter

pytestmark = pytest.mark.render
BIN = Path(sys.executable).parent
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Template",
    "GIT_AUTHOR_EMAIL": "template@example.com",
    "GIT_COMMITTER_NAME": "Template",
    "GIT_COMMITTER_EMAIL": "template@example.com",
}
README = "{{cookiecutter.__project_dir}}/README.md"
NEW_LINE = "A line that the template's commit B adds."
SEARCH = {"search": "optuna"}


def commit(repo: Path, message: str) -> str:
    """Commit everything in a repository; return the commit id."""
    require_ok(run(["git", "add", "-A"], cwd=repo, env=GIT_ENV))
    require_ok(run(["git", "commit", "-q", "--no-verify", "-m", message], cwd=repo, env=GIT_ENV))
    return require_ok(run(["git", "rev-parse", "HEAD"], cwd=repo)).stdout.strip()


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """A git repository holding this template's files (its working tree as commit A)."""
    repo = tmp_path / "template"
    ignore = shutil.ignore_patterns(".git", ".venv", ".tools", "demo", "__pycache__", ".*_cache")
    shutil.copytree(ROOT, repo, ignore=ignore)
    require_ok(run(["git", "init", "-q", "-b", "main"], cwd=repo))
    commit(repo, "Template at commit A")
    return repo


def test_a_cookiecutter_bake_records_what_cruft_create_records(
    template_repo: Path, tmp_path: Path
) -> None:
    head = require_ok(run(["git", "rev-parse", "HEAD"], cwd=template_repo)).stdout.strip()
    by_cruft, by_cookiecutter = tmp_path / "cruft", tmp_path / "cookiecutter"
    by_cruft.mkdir()
    by_cookiecutter.mkdir()
    answer = "project_name=Kept Current"
    create = [str(BIN / "cruft"), "create", "--no-input", str(template_repo)]
    require_ok(run([*create, "--extra-context", '{"project_name": "Kept Current"}'], by_cruft))
    # A relative template path, from a shell (which keeps its folder in PWD).
    bake = [str(BIN / "cookiecutter"), "--no-input", "../template", answer]
    require_ok(run(bake, cwd=by_cookiecutter, env={"PWD": str(by_cookiecutter)}))

    recorded = (by_cookiecutter / "kept_current" / ".cruft.json").read_text(encoding="utf-8")
    assert recorded == (by_cruft / "kept_current" / ".cruft.json").read_text(encoding="utf-8")
    record = json.loads(recorded)
    assert (record["template"], record["commit"]) == (str(template_repo), head)
    assert record["context"]["cookiecutter"]["pkg_name"] == "kept_current"
    assert not (by_cookiecutter / "kept_current" / ".template-locks").exists()


def test_cruft_check_and_update_reach_a_project_baked_by_cookiecutter(
    template_repo: Path, tmp_path: Path
) -> None:
    project = Path(cookiecutter(str(template_repo), no_input=True, output_dir=str(tmp_path)))
    commit(project, "Start the project")
    cruft = str(BIN / "cruft")
    require_ok(run([cruft, "check"], cwd=project))

    readme = template_repo / README
    readme.write_text(readme.read_text(encoding="utf-8") + f"\n{NEW_LINE}\n", encoding="utf-8")
    new_commit = commit(template_repo, "Template at commit B")

    stale = run([cruft, "check"], cwd=project)
    assert stale.returncode != 0
    assert "out of date" in stale.stdout + stale.stderr
    require_ok(run([cruft, "update", "-y"], cwd=project))
    assert NEW_LINE in (project / "README.md").read_text(encoding="utf-8")
    assert json.loads((project / ".cruft.json").read_text(encoding="utf-8"))["commit"] == new_commit
    require_ok(run([cruft, "check"], cwd=project))


def test_search_added_later_by_cruft_update_is_what_choosing_it_at_first_bakes(
    template_repo: Path, tmp_path: Path, uv: str
) -> None:
    project = Path(cookiecutter(str(template_repo), no_input=True, output_dir=str(tmp_path / "a")))
    commit(project, "Start the project")
    assert not (project / "conf" / "search").exists()

    update = [str(BIN / "cruft"), "update", "-y", "--variables-to-update", json.dumps(SEARCH)]
    require_ok(run(update, cwd=project))
    assert (project / "src" / project.name / "runtime" / "search.py").is_file()
    assert (project / "conf" / "search" / "sgd.yaml").is_file()
    assert '"optuna>=4"' in (project / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "optuna"' in (project / "uv.lock").read_text(encoding="utf-8")
    require_ok(run([uv, "lock", "--check"], cwd=project))  # uv.lock still matches pyproject.toml
    chosen = cookiecutter(
        str(template_repo), no_input=True, output_dir=str(tmp_path / "b"), extra_context=SEARCH
    )
    assert contents(project) == contents(Path(chosen))  # the docs and .cruft.json included


def contents(project: Path) -> dict[str, bytes]:
    """Every file of a project but git's own, by its path in the project."""
    return {
        path.relative_to(project).as_posix(): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file() and path.relative_to(project).parts[0] != ".git"
    }
