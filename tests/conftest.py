"""Fixtures shared by the template's tests: bakes (once per option set) and tools."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.main import cookiecutter

# The reliability report (docs/reliability.md): its fixture and its writer.
pytest_plugins = ["reliability"]
# The runtime's tests import a baked package: test_runtime.py runs them inside a bake.
collect_ignore = ["runtime"]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
DEFAULTS: dict[str, object] = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
DEFAULT_PKG = "my_project"
Options = Mapping[str, str]


@pytest.fixture(scope="session", autouse=True)
def _isolated_cookiecutter_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep cookiecutter's replay files and clones out of the user's home folder."""
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(
        f"cookiecutters_dir: {home / 'templates'}\nreplay_dir: {home / 'replay'}\n",
        encoding="utf-8",
    )
    previous = os.environ.get("COOKIECUTTER_CONFIG")
    os.environ["COOKIECUTTER_CONFIG"] = str(config)
    yield
    if previous is None:
        os.environ.pop("COOKIECUTTER_CONFIG", None)
    else:
        os.environ["COOKIECUTTER_CONFIG"] = previous


def bake(output_dir: Path, options: Options | None = None) -> Path:
    """Bake the template without prompts; return the generated project folder."""
    output_dir.mkdir(parents=True, exist_ok=True)
    project = cookiecutter(
        str(ROOT), no_input=True, extra_context=dict(options or {}), output_dir=str(output_dir)
    )
    return Path(project)


class Bakery:
    """Bakes each option set once per test session and hands out the same folder."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory
        self._baked: dict[tuple[tuple[str, str], ...], Path] = {}

    def __call__(self, options: Options | None = None) -> Path:
        """Return the project baked with `options` (baking it on first use)."""
        key = tuple(sorted((options or {}).items()))
        if key not in self._baked:
            self._baked[key] = bake(self._factory.mktemp("bake"), options)
        return self._baked[key]


@pytest.fixture(scope="session")
def bakery(tmp_path_factory: pytest.TempPathFactory) -> Bakery:
    """Bake once per option set for the whole session."""
    return Bakery(tmp_path_factory)


@pytest.fixture(scope="session")
def uv() -> str:
    """The uv executable: $UV (set by the Makefile) or the one on PATH."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        pytest.fail("uv not found: run the tests through `make test`, which installs it")
    # Generated projects call `uv` by name (Makefile, pre-commit hooks), as users have it.
    os.environ["PATH"] = os.pathsep.join([str(Path(found).parent), os.environ.get("PATH", "")])
    return found


def run(
    command: list[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run a command without input, capturing text output; never raises on failure."""
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def require_ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """Fail the test with the command's output when it did not exit with status zero."""
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, result.args))} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
        )
    return result


def project_command(project: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command in a baked project, without the machine's AWS_* settings or the template's
    activated environment (VIRTUAL_ENV, which `uv run` warns about), W&B off."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIRTUAL_ENV"))}
    return subprocess.run(
        list(command),
        cwd=project,
        env={**clean, "WANDB_MODE": "disabled", **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="session")
def server() -> Iterator[Any]:
    """moto's S3 server (s3server.S3Server) on a free loopback port, with its BUCKET made."""
    from s3server import BUCKET, REGION, S3Server  # moto loads only for the tests using it

    s3 = S3Server()
    s3.start()
    s3.client().create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    yield s3
    s3.stop()


# ---------------------------------------------------------------------------------------
# End-to-end helpers: installed copies of bakes, and running their stages, DVC and make
# as a user does (test_dvc, test_records, test_tracking, test_launchers,
# test_make_it_yours). One helper per job.

# DVC's experiments and the tests' commits make git commits; a fresh machine has no identity.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


@pytest.fixture(scope="session", autouse=True)
def _bytecode_cache() -> Iterator[None]:
    """Let baked projects cache their bytecode: every later stage run starts seconds sooner."""
    previous = os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    yield
    if previous is not None:
        os.environ["PYTHONDONTWRITEBYTECODE"] = previous


def commit(project: Path, message: str) -> None:
    """Commit everything, as a user would after a change (the hooks have their own tests)."""
    require_ok(run(["git", "add", "-A"], cwd=project, env=GIT_IDENTITY))
    require_ok(
        run(["git", "commit", "-q", "--no-verify", "-m", message], cwd=project, env=GIT_IDENTITY)
    )


def install(bakery: Bakery, folder: Path, options: Options | None = None) -> Path:
    """A copy of the bake of `options` in `folder`, after `make setup`, all of it committed.

    The copy keeps the session's bake as baked for the tests that read it.
    """
    project = folder / bakery(options).name
    shutil.copytree(bakery(options), project, symlinks=True)
    require_ok(make(project, "setup"))
    commit(project, "Start the project")
    return project


@pytest.fixture(scope="session")
def prepared(bakery: Bakery, uv: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installed default project with its data prepared and featurized, shared by the
    tests that only add runs to it (records, tracking, launchers)."""
    project = install(bakery, tmp_path_factory.mktemp("prepared"))
    for stage in ("prepare", "featurize"):
        require_ok(stage_run(project, f"stage={stage}", "logger=none"))
    return project


def stage_run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m <package> ARGS` in an installed project, as a user runs a stage.

    W&B decides its mode as on a machine without a login: offline, where the config's
    logger is wandb (pass logger=none to leave it out).
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "AWS_"))}
    command = [str(project / ".venv/bin/python"), "-m", project.name, *args]
    return run(command, cwd=project, env={**clean, "NETRC": str(project / "no-netrc"), **env})


def uv_run(project: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`uv run --frozen COMMAND` in a project (DVC, as the README says), W&B off."""
    uv = os.environ.get("UV") or "uv"
    return project_command(project, uv, "run", "--frozen", *command, **{**GIT_IDENTITY, **env})


def make(project: Path, *targets: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`make TARGETS` in a project with the session's uv, W&B off."""
    uv = os.environ.get("UV") or "uv"
    return project_command(project, "make", *targets, f"UV={uv}", **{**GIT_IDENTITY, **env})


def dvc_ran(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The stages DVC reproduced, in order: run, or restored from its run cache."""
    pattern = r"(?:Running stage '([\w-]+)'|Stage '([\w-]+)' is cached)"
    return ["".join(match) for match in re.findall(pattern, result.stdout + result.stderr)]


def run_dirs(project: Path, stage: str = "") -> list[Path]:
    """The run folders of a stage (of every stage when empty), oldest first."""
    return sorted(
        (path.parent for path in (project / "runs").glob(f"{stage}*/run.json")),
        key=lambda folder: folder.stat().st_mtime,
    )


def newest(project: Path, stage: str) -> Path:
    """The folder of the most recent run of a stage."""
    return run_dirs(project, f"{stage}_")[-1]


def read_record(run_dir: Path) -> dict[str, Any]:
    """A run's record, run.json."""
    return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]
