"""Render tier: a project made with cruft records its template commit and takes updates.

The template is copied into a git repository of its own (commit A), a project is
created from it with `cruft create` and committed, then the template changes
(commit B): `cruft check` reports the project out of date and `cruft update`
applies the change cleanly.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import ROOT, require_ok, run

pytestmark = pytest.mark.render
CRUFT = str(Path(sys.executable).parent / "cruft")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Template",
    "GIT_AUTHOR_EMAIL": "template@example.com",
    "GIT_COMMITTER_NAME": "Template",
    "GIT_COMMITTER_EMAIL": "template@example.com",
}
README = "{{cookiecutter.__project_dir}}/README.md"
OLD_LINE = "# install the locked environment and git hooks"
NEW_LINE = "# install the locked environment and the git hooks"


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


def test_cruft_records_the_template_commit_and_the_answers(
    template_repo: Path, tmp_path: Path
) -> None:
    head = require_ok(run(["git", "rev-parse", "HEAD"], cwd=template_repo)).stdout.strip()
    out = tmp_path / "projects"
    out.mkdir()
    command = [CRUFT, "create", "--no-input", str(template_repo), "--output-dir", str(out)]
    require_ok(run([*command, "--extra-context", '{"project_name": "Kept Current"}'], cwd=out))
    record = json.loads((out / "kept_current" / ".cruft.json").read_text(encoding="utf-8"))
    assert record["commit"] == head
    assert record["context"]["cookiecutter"]["pkg_name"] == "kept_current"
    assert not (out / "kept_current" / ".template-locks").exists()


def test_cruft_check_fails_after_a_template_change_and_update_applies_it(
    template_repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "projects"
    out.mkdir()
    command = [CRUFT, "create", "--no-input", str(template_repo), "--output-dir", str(out)]
    require_ok(run(command, cwd=out))
    project = out / "my_project"
    commit(project, "Start the project")
    assert require_ok(run([CRUFT, "check"], cwd=project)).returncode == 0

    readme = template_repo / README
    text = readme.read_text(encoding="utf-8")
    assert OLD_LINE in text
    readme.write_text(text.replace(OLD_LINE, NEW_LINE), encoding="utf-8")
    new_commit = commit(template_repo, "Template at commit B")

    stale = run([CRUFT, "check"], cwd=project)
    assert stale.returncode != 0
    assert "out of date" in stale.stdout + stale.stderr
    require_ok(run([CRUFT, "update", "--skip-apply-ask"], cwd=project))
    assert NEW_LINE in (project / "README.md").read_text(encoding="utf-8")
    record = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert record["commit"] == new_commit
    assert require_ok(run([CRUFT, "check"], cwd=project)).returncode == 0
