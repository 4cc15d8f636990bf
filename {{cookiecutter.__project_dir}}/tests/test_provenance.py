"""Provenance: what a run records about its code, environment and machine, from real git."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.pkg_name }}.runtime.provenance import collect, git_diff

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, git_identity: None) -> Path:
    """A git repository with one committed file, made without any global git identity."""
    path = tmp_path / "repo"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("lr = 0.1\n")
    _git(path, "add", "train.py")
    _git(path, "commit", "-q", "-m", "first")
    return path


def test_a_clean_repository_gives_its_commit_and_branch(repo: Path) -> None:
    info = collect(repo, ["prog", "stage=train"], seed=7)
    assert info["git"]["available"] is True
    assert info["git"]["commit"] == _git(repo, "rev-parse", "HEAD")
    assert info["git"]["branch"] == "main"
    assert info["git"]["dirty"] is False
    assert git_diff(repo) == ""
    assert info["argv"] == ["prog", "stage=train"]
    assert info["seed"] == 7


def test_a_changed_tracked_file_makes_the_tree_dirty_and_shows_in_the_diff(repo: Path) -> None:
    (repo / "train.py").write_text("lr = 0.2\n")
    assert collect(repo, [], seed=0)["git"]["dirty"] is True
    diff = git_diff(repo)
    assert "-lr = 0.1" in diff
    assert "+lr = 0.2" in diff


def test_an_untracked_file_is_listed_but_does_not_make_the_tree_dirty(repo: Path) -> None:
    (repo / "notes.txt").write_text("not committed\n")
    info = collect(repo, [], seed=0)["git"]
    assert info["dirty"] is False
    assert info["untracked"] == ["notes.txt"]


def test_a_folder_outside_any_repository_is_marked_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stop git from finding a repository above tmp_path.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    folder = tmp_path / "plain"
    folder.mkdir()
    info = collect(folder, [], seed=0)
    assert info["git"]["available"] is False
    assert info["git"]["commit"] is None
    assert info["git"]["dirty"] is None
    assert git_diff(folder) == ""


def test_the_lock_file_hash_is_its_sha256(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_bytes(b"version = 1\n")
    expected = hashlib.sha256(lock.read_bytes()).hexdigest()
    assert collect(tmp_path, [], seed=0)["uv_lock_sha256"] == expected
    lock.unlink()
    assert collect(tmp_path, [], seed=0)["uv_lock_sha256"] is None


def test_the_record_lists_packages_and_the_machine_and_is_json(repo: Path) -> None:
    info = collect(repo, ["prog"], seed=1)
    assert "omegaconf" in info["packages"]
    assert list(info["packages"]) == sorted(info["packages"], key=str.lower)
    assert info["python"]["version"]
    assert info["cpu"]["logical_cpus"] >= 1
    assert isinstance(info["gpus"], list)
    assert json.loads(json.dumps(info)) == info
