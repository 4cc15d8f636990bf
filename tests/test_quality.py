"""Quality tier: a new project's git hooks pass on day one and block what must
never be committed: keys (detect-secrets, and find-keys for B2, W&B and AWS keys on
any line) and large data files (DVC's job).

The hooks are `repo: local` and run the project's tools through `uv run --frozen`,
so nothing is fetched. `.secrets.baseline` in the template lists the fake keys of
the generated tests; when those lines move, the fresh-project run below fails with
"The baseline file was updated". Refresh it from a bake:

    make setup && git add -A && uv run --frozen detect-secrets scan --baseline .secrets.baseline

then copy the bake's `.secrets.baseline` into `{{cookiecutter.__project_dir}}/`.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import string
from collections.abc import Callable
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
    "find-keys",
    "nbstripout",
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


# Random keys, shaped as each service issues them, and what find-keys calls them;
# `pick(alphabet, n)` draws n characters.
HEX = "0123456789abcdef"
KeyShape = Callable[[Callable[[str, int], str]], str]
KEY_SHAPES: dict[str, tuple[str, KeyShape]] = {
    "b2": (
        "B2 application key",
        lambda pick: "K00" + pick("12345", 1) + pick(string.ascii_letters + string.digits, 27),
    ),
    "b2_id": ("B2 application key id", lambda pick: "00" + pick("12345", 1) + pick(HEX, 22)),
    # The 12 hex digits of a master key id are caught only after a key-id name.
    "master_id": ("B2 master key id", lambda pick: pick(HEX, 12)),
    "wandb_v1": (
        "W&B API key",
        lambda pick: "wandb_v1_" + pick(string.ascii_letters + string.digits + "_", 77),
    ),
    "wandb": ("W&B API key (40 hex)", lambda pick: pick(HEX, 40)),
    "local": ("W&B API key (40 hex)", lambda pick: "local-" + pick(HEX, 40)),
    "aws": (
        "AWS access key id",
        lambda pick: "A" + pick("KS", 1) + "IA" + pick(string.ascii_uppercase + string.digits, 16),
    ),
}
PLACEHOLDER = re.compile(r"<(" + "|".join(KEY_SHAPES) + r")>")
NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": 1,
            "metadata": {},
            "source": ["import wandb\n", "\n", 'wandb.login(key="<wandb>")\n'],
            "outputs": [{"name": "stdout", "output_type": "stream", "text": ["key id <b2_id>\n"]}],
        },
        {"cell_type": "markdown", "metadata": {}, "source": ["The B2 key:\n<b2>"]},
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}
# Where users paste keys: each <kind> is one placement, to be reported by file, line, kind.
PLACEMENTS = {
    "docs/setup.md": "# Setup\n\nOnce per machine:\n\n```bash\n"
    "export B2_APPLICATION_KEY_ID=<b2_id>\nexport B2_APPLICATION_KEY=<b2>\n```\n",
    "scratch/login.sh": "#!/bin/sh\nset -e\nwandb login <wandb>\n",
    "scratch/line2.sh": "cd ~/project\nexport B2_APPLICATION_KEY=<b2>\n",
    "scratch/relogin.sh": "git pull && wandb login --relogin <wandb_v1>\n",
    "scratch/curl.sh": "curl -u '<b2_id>:<b2>' https://api.backblazeb2.com/b2api/v3/\n",
    "scratch/keys.txt": "notes from the call\nthe lab's b2 key <b2>\nwandb key <wandb>\n",
    "scratch/alone.txt": "<wandb_v1>\n",
    "scratch/quoted.txt": "echo 'B2 key: <b2>' and \"<aws>\"\n",
    "scratch/netrc": "machine api.wandb.ai\n  login user\n  password <wandb>\n",
    "scratch/master.txt": "master key id applicationKeyId: <master_id>\n",
    "scratch/url.txt": "s3://<b2_id>:<b2>@s3.us-west-004.backblazeb2.com/lab\n",
    "scratch/train.py": "import os\n\nimport wandb\n\n"
    'wandb.login(key=os.environ.get("WANDB_API_KEY", "<wandb>"))\n'
    "B2_KEY = '<b2>'  # for now\n"
    'client = boto3.client("s3", aws_access_key_id="<aws>")\n',
    "scratch/doc.py": '"""Run with WANDB_API_KEY=<local> set."""\n',
    "scratch/env.py": 'os.environ["WANDB_API_KEY"] = "<wandb>"\n',
    "scratch/keys.mk": "B2_KEY := <b2>\n",
    "scratch/Dockerfile": "FROM python:3.12\nENV WANDB_API_KEY=<wandb>\n",
    "scratch/table.md": "| service | key |\n|---|---|\n| AWS | <aws> |\n",
    "data/external/accounts.csv": "name,key_id,key\nlab,<b2_id>,<b2>\n",
    "data/external/runs.tsv": "run\ttoken\n1\t<wandb_v1>\n",
    "conf/keys.yaml": 'b2:\n  key_id: <b2_id>\n  key: "<b2>"\n# wandb: <wandb>\n',
    "conf/list.yaml": "keys:\n  - <aws>\n",
    ".github/workflows/train.yaml": "jobs:\n  train:\n    steps:\n      - run: |\n"
    "          wandb login <wandb_v1>\n          export AWS_ACCESS_KEY_ID=<aws>\n",
    "conf/remote.toml": '[b2]\nregion = "us-west-004"\n# key = "<b2>"\nkey_id = \'<b2_id>\'\n',
    "conf/credentials": "[b2]\naws_access_key_id = <b2_id>\naws_secret_access_key = <b2>\n",
    "conf/keys.json": '{\n  "wandb": {"api_key": "<wandb_v1>"},\n  "keyId": "<master_id>"\n}\n',
    "notebooks/explore.ipynb": json.dumps(NOTEBOOK, indent=1) + "\n",
    ".env": "B2_APPLICATION_KEY_ID=<b2_id>\nB2_APPLICATION_KEY=<b2>\nWANDB_API_KEY=<wandb>\n",
    ".envrc": 'export AWS_ACCESS_KEY_ID=<aws>\nexport WANDB_API_KEY="<local>"\r\n',
    "README.md": "The lab's B2 key, until we set up make b2-login: <b2>\n",  # appended
}
FIND_KEYS = ["uv", "run", "--frozen", "pre-commit", "run", "find-keys", "--files"]
FOUND = re.compile(r"^(\S+):(\d+): (.+) \(\S+\.\.\., \d+ characters\)$", re.MULTILINE)


def random_key(kind: str, rng: random.Random) -> str:
    """A random key of a kind in KEY_SHAPES."""
    return KEY_SHAPES[kind][1](lambda alphabet, n: "".join(rng.choice(alphabet) for _ in range(n)))


def place(project: Path, texts: dict[str, str]) -> Callable[[], None]:
    """Write `texts` into the project (appended to a file that exists); return the undo."""
    before = {name: (project / name).read_bytes() for name in texts if (project / name).exists()}
    tops = {Path(name).parts[0] for name in texts if len(Path(name).parts) > 1}
    made = [top for top in tops if not (project / top).exists()]
    for name, text in texts.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_bytes(before.get(name, b"") + text.encode())

    def undo() -> None:
        for name in texts:
            if name in before:
                (project / name).write_bytes(before[name])
            else:
                (project / name).unlink()
        for top in made:
            shutil.rmtree(project / top)

    return undo


def test_keys_are_caught_wherever_they_are_pasted(
    committed: Path, git_env: dict[str, str], reliability: Recorder
) -> None:
    # One random key per placement, so that no key is caught only for being seen before.
    rng = random.Random(20261123)
    texts: dict[str, str] = {}
    expected: set[tuple[str, int, str]] = set()  # file, line, kind
    for name, template in PLACEMENTS.items():
        offset = 0
        if (committed / name).exists():  # appended: its line numbers follow the file's
            offset = (committed / name).read_text(encoding="utf-8").count("\n")
        for found in PLACEHOLDER.finditer(template):
            line = offset + template.count("\n", 0, found.start()) + 1
            expected.add((name, line, KEY_SHAPES[found[1]][0]))
        texts[name] = PLACEHOLDER.sub(lambda found: random_key(found[1], rng), template)
    undo = place(committed, texts)
    try:
        result = run([*FIND_KEYS, *texts], cwd=committed, env=git_env)
    finally:
        undo()
    reported = {(name, int(line), kind) for name, line, kind in FOUND.findall(result.stdout)}
    missed = sorted(expected - reported)
    reliability.record(
        "Commits",
        f"find-keys on {len(expected)} random B2, W&B and AWS keys pasted into "
        f"{len(texts)} files (markdown, shell, CSV, YAML, TOML, Python, notebook, .env, README)",
        f"{len(expected) - len(missed)} of {len(expected)} caught, by file and line",
        len(missed),
    )
    assert len(expected) >= 30
    assert result.returncode == 1, result.stdout
    assert not missed, f"keys not caught (file, line, kind): {missed}\n{result.stdout}"
    assert reported == expected, result.stdout  # nothing else taken for a key


def test_commit_ids_and_allowlisted_lines_are_not_taken_for_keys(
    committed: Path, git_env: dict[str, str]
) -> None:
    rng = random.Random(20261124)
    sha, b2 = random_key("wandb", rng), random_key("b2", rng)  # a commit id is 40 hex too
    texts = {
        "scratch/ci.yaml": f"steps:\n  - uses: actions/checkout@{sha} # v4\n",
        "scratch/hooks.yaml": f"repos:\n  - repo: https://example.com/hooks\n    rev: {sha}\n",
        "scratch/notes.md": f"Trained at commit {sha}, see\n"
        f"https://github.com/lab/project/blob/{sha}/README.md\n"
        f"`git checkout {sha}`\n",
        "scratch/allowed.py": f'KEY = "{b2}"  # pragma: allowlist secret\n'
        f'# pragma: allowlist nextline secret\nOTHER = "{b2}"\n',
        "scratch/made_up.txt": f"AKIAIOSFODNN7EXAMPLE 0.0000000000000000000000005\n{'0' * 40}\n",
    }
    undo = place(committed, texts)
    try:
        result = run([*FIND_KEYS, *texts], cwd=committed, env=git_env)
    finally:
        undo()
    assert result.returncode == 0, result.stdout
    assert hook_result(result.stdout, "find-keys") == "Passed"


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


def test_a_notebook_is_committed_without_its_outputs(
    committed: Path, git_env: dict[str, str]
) -> None:
    (path,) = (committed / "notebooks").glob("*.ipynb")
    clean = path.read_text(encoding="utf-8")
    notebook = json.loads(clean)
    cell = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    cell["execution_count"] = 3
    cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["/home/me/data\n"]}]
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    require_ok(run(["git", "add", str(path)], cwd=committed))
    result = run(["git", "commit", "-m", "Ran the notebook"], cwd=committed, env=git_env)
    assert result.returncode == 1, result.stdout  # the hook stripped the outputs: commit again
    assert hook_result(result.stdout + result.stderr, "nbstripout") == "Failed"
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(clean)
    require_ok(run(["git", "checkout", "HEAD", "--", str(path)], cwd=committed))
