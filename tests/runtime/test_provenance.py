"""Provenance: what a run records about its code, environment and machine, from real git.

The tools are real programs; where a test needs git or nvidia-smi missing or broken, a
small script first on PATH stands in for it. None of the code under test is replaced.
"""

from __future__ import annotations

import hashlib
import json
import platform
import random
import secrets
import shutil
import string
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from my_project.runtime.provenance import DIFF_LIMIT, record, redact

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
needs_sh = pytest.mark.skipif(sys.platform == "win32", reason="shell scripts stand in for tools")
# Freshly made strings shaped like credentials of each kind.
SECRETS: dict[str, Callable[[], str]] = {
    "b2": lambda: "K004" + "".join(random.choices(string.ascii_letters + string.digits, k=27)),
    "b2-key-id": lambda: secrets.token_hex(13)[:25],
    "b2-short-key-id": lambda: secrets.token_hex(6),
    "aws": lambda: "AKIA" + "".join(random.choices(string.ascii_uppercase + string.digits, k=16)),
    "wandb": lambda: secrets.token_hex(20),
    "wandb-v1": lambda: "wandb_v1_" + "".join(random.choices(string.ascii_letters + "_", k=77)),
    "b2-bare-key-id": lambda: "004" + secrets.token_hex(11),
    "phrase": lambda: "correct horse battery staple",
    "word": lambda: "hunter" + secrets.token_hex(2),
    "aws-secret": lambda: (
        "Ab1" + "".join(random.choices(string.ascii_letters + "0123456789+/", k=37))
    ),
}


def git(repo: Path, *args: str) -> str:
    """Run git in `repo`; return its output."""
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, git_identity: None) -> Path:
    """A git repository with one committed file, made without any global git identity."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    (path / "train.py").write_text("lr = 0.1\n")
    git(path, "add", "train.py")
    git(path, "commit", "-q", "-m", "first")
    return path


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """An empty run folder."""
    path = tmp_path / "run"
    path.mkdir()
    return path


def provenance(run_dir: Path) -> dict[str, object]:
    """The provenance.json that `record` wrote."""
    data: dict[str, object] = json.loads((run_dir / "provenance.json").read_text())
    return data


def tool(folder: Path, name: str, script: str) -> None:
    """Put an executable `name` running the shell script `script` in `folder`."""
    path = folder / name
    path.write_text(script, encoding="utf-8")
    path.chmod(0o755)


@needs_git
def test_a_clean_repository_gives_its_commit_and_branch_and_no_diff(
    repo: Path, run_dir: Path
) -> None:
    summary = record(repo, run_dir, ["prog", "stage=x"], seed=7)
    facts = provenance(run_dir)
    assert facts["git_commit"] == summary["git_commit"] == git(repo, "rev-parse", "HEAD")
    assert facts["git_branch"] == git(repo, "branch", "--show-current")
    assert facts["git_dirty"] is False
    assert not (run_dir / "git.diff").exists()
    assert facts["argv"] == summary["argv"] == ["prog", "stage=x"]
    assert facts["seed"] == 7


@needs_git
def test_the_summary_for_the_tracker_repeats_what_the_record_says(
    repo: Path, run_dir: Path
) -> None:
    summary = record(repo, run_dir, ["prog"], seed=0)
    assert set(summary) == {"git_commit", "git_dirty", "uv_lock_sha256", "python", "host", "argv"}
    facts = provenance(run_dir)
    assert all(facts[key] == value for key, value in summary.items())


@needs_git
def test_a_changed_tracked_file_makes_the_tree_dirty_and_lands_in_git_diff(
    repo: Path, run_dir: Path
) -> None:
    (repo / "train.py").write_text("lr = 0.2\n")
    assert record(repo, run_dir, [], seed=0)["git_dirty"] is True
    diff = (run_dir / "git.diff").read_text()
    assert "-lr = 0.1" in diff
    assert "+lr = 0.2" in diff
    # What was saved applies to the commit it was made against.
    git(repo, "checkout", "--", "train.py")
    git(repo, "apply", str(run_dir / "git.diff"))
    assert (repo / "train.py").read_text() == "lr = 0.2\n"


@needs_git
def test_a_changed_binary_file_is_named_in_the_diff_but_not_copied(
    repo: Path, run_dir: Path
) -> None:
    (repo / "weights.bin").write_bytes(bytes(range(256)))
    git(repo, "add", "weights.bin")
    git(repo, "commit", "-q", "-m", "weights")
    (repo / "weights.bin").write_bytes(bytes(reversed(range(256))))
    record(repo, run_dir, [], seed=0)
    diff = (run_dir / "git.diff").read_bytes()
    assert b"weights.bin" in diff
    assert bytes(reversed(range(256))) not in diff


@needs_git
def test_a_key_in_a_tracked_file_and_a_big_untracked_file_never_reach_the_run_folder(
    repo: Path, run_dir: Path
) -> None:
    keys = [SECRETS["b2"](), SECRETS["wandb"]()]  # a B2 application key, a W&B API key
    config = repo / ".dvc" / "config"
    config.parent.mkdir()
    config.write_text("['remote \"b2\"']\n    url = s3://bucket/dvc\n")
    git(repo, "add", ".dvc/config")
    git(repo, "commit", "-q", "-m", "remote")
    # A key written without --local, then more than a megabyte of changes, then the keys again.
    config.write_text(config.read_text() + f"    secret_access_key = {keys[0]}\n")
    lines = [f"step_{number} = {number}\n" for number in range(120_000)]
    (repo / "train.py").write_text(f"WANDB_KEY = '{keys[1]}'\n" + "".join(lines) + keys[0])
    data = repo / "data.csv"
    marker = b"never-copied-row\n"
    data.write_bytes(marker * (3_000_000 // len(marker) + 1))

    summary = record(repo, run_dir, ["prog", f"wandb_key={keys[1]}"], seed=0)

    assert summary["git_dirty"] is True
    everything = b"".join(path.read_bytes() for path in run_dir.rglob("*") if path.is_file())
    for key in keys:
        assert key.encode() not in everything
    assert marker not in everything
    untracked = provenance(run_dir)["untracked"]
    assert untracked == ["data.csv"]
    diff = (run_dir / "git.diff").read_text()
    assert "secret_access_key = [REDACTED]" in diff
    assert len(diff.encode()) <= DIFF_LIMIT + 200
    assert diff.endswith("\n")
    assert "git diff HEAD" in diff.splitlines()[-1]  # the note says where the rest is


@needs_git
def test_an_untracked_file_is_listed_and_only_config_or_code_makes_it_dirty(
    repo: Path, run_dir: Path
) -> None:
    (repo / "notes.txt").write_text("not committed\n")
    (repo / ".gitignore").write_text("ignored.txt\n")
    (repo / "ignored.txt").write_text("ignored\n")
    record(repo, run_dir, [], seed=0)
    facts = provenance(run_dir)
    assert facts["git_dirty"] is False
    assert facts["untracked"] == [".gitignore", "notes.txt"]
    (repo / "conf" / "model").mkdir(parents=True)
    (repo / "conf" / "model" / "new.yaml").write_text("_target_: x.Y\n")  # a run may read it
    assert record(repo, run_dir, [], seed=0)["git_dirty"] is True


@needs_git
def test_a_repository_without_commits_gives_no_commit_and_does_not_fail(
    tmp_path: Path, run_dir: Path
) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "train.py").write_text("lr = 0.1\n")
    record(tmp_path, run_dir, [], seed=0)
    facts = provenance(run_dir)
    assert facts["git_commit"] is None
    assert facts["git_dirty"] is None
    assert facts["untracked"] == ["train.py"]


@needs_git
def test_a_folder_outside_any_repository_gives_no_git_facts(
    tmp_path: Path, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repository above it
    folder = tmp_path / "plain"
    folder.mkdir()
    record(folder, run_dir, [], seed=0)
    facts = provenance(run_dir)
    assert (facts["git_commit"], facts["git_branch"], facts["git_dirty"]) == (None, None, None)
    assert facts["untracked"] == []
    assert not (run_dir / "git.diff").exists()


@needs_sh
@pytest.mark.parametrize(
    "script", [None, "#!/nonexistent/interpreter\n", "#!/bin/sh\nexit 3\n"], ids=str
)
def test_a_missing_or_broken_git_gives_no_git_facts(
    script: str | None, tmp_path: Path, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    if script is not None:
        tool(tools, "git", script)
    monkeypatch.setenv("PATH", str(tools))  # the only git there is, if any
    summary = record(tmp_path, run_dir, ["prog"], seed=0)
    assert summary["git_commit"] is None
    assert summary["git_dirty"] is None
    assert provenance(run_dir)["untracked"] == []


def test_the_lock_file_hash_is_its_sha256(tmp_path: Path, run_dir: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_bytes(b"version = 1\n")
    expected = hashlib.sha256(lock.read_bytes()).hexdigest()
    assert record(tmp_path, run_dir, [], seed=0)["uv_lock_sha256"] == expected
    lock.unlink()
    assert record(tmp_path, run_dir, [], seed=0)["uv_lock_sha256"] is None


def test_the_record_names_the_machine_and_python(tmp_path: Path, run_dir: Path) -> None:
    record(tmp_path, run_dir, [], seed=0)
    facts = provenance(run_dir)
    assert facts["python"] == platform.python_version()
    assert facts["host"]
    assert facts["platform"]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("{}", "b2"),
        ("    secret_access_key = {}", "b2"),
        ("dvc remote modify b2 secret_access_key {}", "b2"),
        ("export B2_APPLICATION_KEY={}", "b2"),
        ("access_key_id = {}", "b2-key-id"),
        ("b2 authorize-account --key-id {} $KEY", "b2-short-key-id"),
        ('    "applicationKeyId": "{}",', "b2-key-id"),
        ("aws_access_key_id={}", "aws"),
        ("{}", "wandb"),
        ("WANDB_API_KEY=local-{}", "wandb"),
        ("machine api.wandb.ai login user password {}", "wandb"),
        ("wandb login {}", "wandb-v1"),
        ("my key id is {}, the key is elsewhere", "b2-bare-key-id"),
        ('    "password": "{}",', "phrase"),
        ("password = '{}'", "phrase"),
        ("token: {}", "word"),
        ("aws creds_{}", "aws"),  # after `_`, and after an escape, as the commit hook finds them
        ('note "\\n{}"', "aws"),
        ("key_{}", "b2"),
        ("id_{}", "b2-bare-key-id"),
        ("api_{}", "wandb-v1"),
        ("https://lab%3A{}@s3.example.com", "b2"),  # after a URL-encoded character
        ("https://example.com/?token%3D{}", "wandb"),
        ("\x1b[1mINFO\x1b[0m key \x1b[33m{}\x1b[0m", "wandb"),  # a coloured log
        ("{}", "aws-secret"),  # bare, as the AWS console shows it
        ("+{}", "b2"),  # an added line of git.diff
        ("+{}", "aws-secret"),
        ("data.source=/data/{}.csv", "aws-secret"),
        ("\x1b[01;31m\x1b[K{}\x1b[m\x1b[K", "aws"),  # as `grep --color` writes it
        ("key id \x1b[m{}", "b2-bare-key-id"),
        ("s3://lab%253A{}@bucket/x", "b2"),  # URL-encoded twice
    ],
)
def test_anything_that_looks_like_a_credential_is_redacted(line: str, kind: str) -> None:
    secret = SECRETS[kind]()
    redacted = redact(line.format(secret))
    assert "[REDACTED]" in redacted
    assert all(part not in redacted for part in secret.split())


@pytest.mark.parametrize(
    "line",
    [
        "lr = 0.1",
        "tokenizer = load_tokenizer(name)",
        "max_tokens = 512",
        "if token == expected:",
        "index 3f2a9c1..8be41d0 100644",
        "Binary files a/model.pkl and b/model.pkl differ",
        '+    "image/png": "iVBORw0KGgoAAAANSUhEUgAAAoAAAAHgCAYAAAA10dzkAAAAOXRFWHRTb2Z0d2FyZQ",',
        "reading /Users/Ada/Documents/Research/SpeechData now",  # 40 characters, no digit
    ],
)
def test_ordinary_code_and_diff_lines_are_left_alone(line: str) -> None:
    assert redact(line) == line


def test_a_long_word_is_redacted_in_linear_time() -> None:
    # A tracked line of DNA or hex (up to git.diff's 1 MB): no backtracking over each word.
    started = time.perf_counter()
    assert redact("ACGT" * 250_000) == "ACGT" * 250_000
    assert time.perf_counter() - started < 10  # quadratic: hours; linear: a fraction of a second
