"""Fixtures shared by the template's tests: bakes (once per option set) and tools."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

# The reliability report (docs/reliability.md): its fixture and its writer.
pytest_plugins = ["reliability"]

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
    """Run a command in a baked project, without the machine's AWS_* settings, W&B off."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
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
