"""Quality tier: a new project's git hooks pass on day one and block what must
never be committed: keys (detect-secrets) and large data files (DVC's job).

The hooks are `repo: local` and run the project's tools through `uv run --frozen`,
so nothing is fetched. `.secrets.baseline` in the template lists the fake keys of
the generated tests; when those lines move, the fresh-project run below fails with
"The baseline file was updated". Refresh it from a bake:

    make setup && git add -A && uv run --frozen detect-secrets scan --baseline .secrets.baseline

then copy the bake's `.secrets.baseline` into `{{cookiecutter.__project_dir}}/`.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest
from conftest import Bakery, require_ok, run
from reliability import Recorder

pytestmark = pytest.mark.quality
PKG = "hook_check"
HOOKS = (
    "trim trailing whitespace",
    "fix end of files",
    "no large files in git (use DVC)",
    "detect-secrets",
    "ruff check",
    "ruff format",
    "mypy --strict",
    "dvc.yaml matches the stage registry",
)
# A Backblaze B2 application key and its id, as `make b2-login` reads them.
B2_KEY_LINES = (
    "B2_APPLICATION_KEY_ID=0041a2b3c4d5e6f0000000001\n"
    "B2_APPLICATION_KEY=K004abcdefghijklmnopqrstuvwxyz0123\n"
)


@pytest.fixture(scope="module")
def git_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A committer identity, and pre-commit's own files kept out of the home folder."""
    return {
        "GIT_AUTHOR_NAME": "Hook Check",
        "GIT_AUTHOR_EMAIL": "hooks@example.com",
        "GIT_COMMITTER_NAME": "Hook Check",
        "GIT_COMMITTER_EMAIL": "hooks@example.com",
        "PRE_COMMIT_HOME": str(tmp_path_factory.mktemp("pre-commit-home")),
    }


@pytest.fixture(scope="module")
def project(bakery: Bakery, uv: str, git_env: dict[str, str]) -> Path:
    """A fresh bake after `make setup` (which installs the git hook), everything staged."""
    baked = bakery({"project_name": "Hook Check"})
    assert baked.name == PKG
    require_ok(run(["make", "setup", f"UV={uv}"], cwd=baked, env=git_env))
    assert (baked / ".git" / "hooks" / "pre-commit").exists()
    require_ok(run(["git", "add", "-A"], cwd=baked, env=git_env))
    return baked


@pytest.fixture(scope="module")
def all_files(project: Path, git_env: dict[str, str]) -> str:
    """`pre-commit run --all-files` on the fresh project: its output (it must pass)."""
    result = run(["uv", "run", "--frozen", "pre-commit", "run", "--all-files"], project, git_env)
    if "The baseline file was updated" in result.stdout:
        pytest.fail(
            "the template's .secrets.baseline is stale (a fake key in the generated tests "
            f"moved); refresh it as this module's docstring says\n{result.stdout[-4000:]}"
        )
    return require_ok(result).stdout


@pytest.fixture(scope="module")
def committed(project: Path, all_files: str, git_env: dict[str, str]) -> Path:
    """The fresh project after its first commit, made with the hooks on."""
    require_ok(run(["git", "commit", "-m", "Start the project"], cwd=project, env=git_env))
    return project


def commits(project: Path) -> int:
    """How many commits the branch has."""
    return int(require_ok(run(["git", "rev-list", "--count", "HEAD"], cwd=project)).stdout)


def unstage(project: Path, *names: str) -> None:
    """Drop files a refused commit left staged, so that each test starts clean."""
    require_ok(run(["git", "rm", "-qf", "--cached", "--", *names], cwd=project))
    for name in names:
        (project / name).unlink()


def hook_result(output: str, hook: str) -> str:
    """What pre-commit reported for a hook: Passed, Failed or Skipped."""
    (line,) = (line for line in output.splitlines() if line.startswith(hook))
    return line.rsplit(".", 1)[-1]


def test_every_hook_passes_on_a_fresh_project(project: Path, all_files: str) -> None:
    assert {hook: hook_result(all_files, hook) for hook in HOOKS} == dict.fromkeys(HOOKS, "Passed")
    # Nothing was fixed: the project is clean as generated.
    status = require_ok(run(["git", "status", "--porcelain"], cwd=project)).stdout
    assert not [line for line in status.splitlines() if line[1] != " "], status


def test_the_first_commit_goes_through_the_hooks(committed: Path) -> None:
    assert commits(committed) == 1
    hook = (committed / ".git" / "hooks" / "pre-commit").read_text(encoding="utf-8")
    assert "pre-commit" in hook
    assert require_ok(run(["git", "status", "--porcelain"], cwd=committed)).stdout == ""


def test_a_commit_with_a_b2_key_is_refused_by_detect_secrets(
    committed: Path, git_env: dict[str, str], reliability: Recorder
) -> None:
    notes = committed / "notes"
    notes.mkdir(exist_ok=True)
    (notes / "credentials.txt").write_text(B2_KEY_LINES, encoding="utf-8")
    require_ok(run(["git", "add", "notes/credentials.txt"], cwd=committed))
    result = run(["git", "commit", "-m", "Add my notes"], cwd=committed, env=git_env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "detect-secrets" in output
    assert "notes/credentials.txt:2" in output  # the key's line
    assert commits(committed) == 1
    unstage(committed, "notes/credentials.txt")
    reliability.record(
        "Commits",
        "`git commit` of a notes file holding a B2 key id and key",
        "refused by detect-secrets, naming the key's line; no commit made",
        commits(committed) - 1,
    )


def test_realistic_b2_keys_are_caught_however_they_are_written(
    committed: Path, tmp_path: Path, reliability: Recorder
) -> None:
    # Random 31-character keys reach detect-secrets' default entropy limit (4.5) only
    # about half the time; the baseline sets 4.0, which misses about 1 in 1000.
    # (An unquoted value is only seen when the file parses as `name=value` lines:
    # one name given twice hides them all, so every line has its own name.)
    rng = random.Random(20261122)
    alphabet = string.ascii_letters + string.digits
    keys = ["K005" + "".join(rng.choice(alphabet) for _ in range(27)) for _ in range(40)]
    forms = {
        "keys.env": "B2_APPLICATION_KEY_{}={}",
        "keys.sh": "export B2_APPLICATION_KEY_{}='{}'",
        "keys.py": 'key_{} = "{}"',
    }
    files = []
    for name, form in forms.items():
        lines = [form.format(number, key) + "\n" for number, key in enumerate(keys)]
        (tmp_path / name).write_text("".join(lines), encoding="utf-8")
        files.append(str(tmp_path / name))
    command = ["uv", "run", "--frozen", "detect-secrets-hook", "--baseline", ".secrets.baseline"]
    result = run([*command, *files], cwd=committed)
    assert result.returncode == 1, result.stdout + result.stderr
    missed = {
        Path(path).name: [
            line
            for line in range(1, len(keys) + 1)
            if f"Location:    {path}:{line}\n" not in result.stdout
        ]
        for path in files
    }
    slipped = sum(len(lines) for lines in missed.values())
    reliability.record(
        "Commits",
        f"secrets scan of {len(keys)} random B2 keys written 3 ways (.env, shell, Python)",
        f"{len(keys) * len(files) - slipped} of {len(keys) * len(files)} caught",
        slipped,
    )
    assert slipped == 0, f"keys not caught, by file and line: {missed}"


def test_a_large_data_file_is_refused(
    committed: Path, git_env: dict[str, str], reliability: Recorder
) -> None:
    big = committed / "data" / "external" / "big.bin"
    big.write_bytes(random.Random(0).randbytes(2_000_000))
    require_ok(run(["git", "add", "-f", "data/external/big.bin"], cwd=committed))
    result = run(["git", "commit", "-m", "Add the raw data"], cwd=committed, env=git_env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "check-added-large-files" in output
    assert "data/external/big.bin (" in output
    assert "KB) exceeds 1000 KB" in output
    assert commits(committed) == 1
    unstage(committed, "data/external/big.bin")
    reliability.record(
        "Commits",
        "`git commit` of a 2 MB data file (forced past .gitignore)",
        "refused by check-added-large-files (limit 1000 kB); no commit made",
        commits(committed) - 1,
    )


def test_a_tracked_file_that_grew_past_the_limit_is_refused(
    committed: Path, git_env: dict[str, str], reliability: Recorder
) -> None:
    figure = committed / "reports" / "figure.png"
    figure.write_bytes(random.Random(1).randbytes(10_000))
    require_ok(run(["git", "add", "-f", "reports/figure.png"], cwd=committed))
    commit = ["git", "commit", "-q", "--no-verify", "-m", "A small figure"]  # hooks: below
    require_ok(run(commit, cwd=committed, env=git_env))
    before = commits(committed)
    figure.write_bytes(random.Random(2).randbytes(1_600_000))
    result = run(["git", "commit", "-am", "The figure grew"], cwd=committed, env=git_env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "reports/figure.png (" in output
    assert "KB) exceeds 1000 KB" in output
    lost = commits(committed) - before
    require_ok(run(["git", "reset", "-q", "--hard", "HEAD~1"], cwd=committed))
    reliability.record(
        "Commits",
        "`git commit` of a tracked 10 kB file grown to 1.6 MB",
        "refused by check-added-large-files --enforce-all (limit 1000 kB); no commit made",
        lost,
    )
    assert lost == 0


def test_the_fixers_leave_files_that_dvc_hashes_alone(
    committed: Path, git_env: dict[str, str]
) -> None:
    # Stage outputs committed to git (`cache: false`) are hashed in dvc.lock: a fixed
    # newline would make DVC see a changed output. Other text files are fixed.
    written = {
        "reports/metrics.json": '{"rmse": 1.0}',
        "params.yaml": "seed: 0   \n",
        "notes/todo.md": "trailing   \nno final newline",
    }
    for name, text in written.items():
        (committed / name).parent.mkdir(parents=True, exist_ok=True)
        (committed / name).write_text(text, encoding="utf-8")
    require_ok(run(["git", "add", "-f", *written], cwd=committed))
    command = ["uv", "run", "--frozen", "pre-commit", "run", "--files", *written]
    result = run(command, cwd=committed, env=git_env)
    assert result.returncode == 1, result.stdout  # the fixers changed notes/todo.md
    assert (committed / "reports/metrics.json").read_text(encoding="utf-8") == '{"rmse": 1.0}'
    assert (committed / "params.yaml").read_text(encoding="utf-8") == "seed: 0   \n"
    todo = (committed / "notes/todo.md").read_text(encoding="utf-8")
    assert todo == "trailing\nno final newline\n"
    unstage(committed, *written)


def test_the_dvc_check_hook_stops_a_drifted_dvc_yaml(
    committed: Path, git_env: dict[str, str]
) -> None:
    dvc_yaml = committed / "dvc.yaml"
    original = dvc_yaml.read_text(encoding="utf-8")
    assert f"cmd: python -m {PKG} stage=train\n" in original
    dvc_yaml.write_text(original.replace("stage=train\n", "stage=train --verbose\n"), "utf-8")
    try:
        command = ["uv", "run", "--frozen", "pre-commit", "run", "dvc-check", "--files"]
        result = run([*command, "dvc.yaml"], cwd=committed, env=git_env)
        assert result.returncode == 1, result.stdout
        assert hook_result(result.stdout, "dvc.yaml matches the stage registry") == "Failed"
    finally:
        dvc_yaml.write_text(original, encoding="utf-8")
