"""Provenance when the tools it asks are missing, broken or report GPUs.

The tools are real programs: small scripts put first on PATH stand in for git
and nvidia-smi; none of the code under test is replaced.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from {{ cookiecutter.pkg_name }}.runtime.provenance import collect, git_diff, git_info, gpu_info

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="shell scripts stand in for tools")


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder first on PATH for stand-in tools."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    return folder


def tool(bin_dir: Path, name: str, script: str) -> None:
    """Put an executable `name` running `script` (a shell script body) on PATH."""
    path = bin_dir / name
    path.write_text(script, encoding="utf-8")
    path.chmod(0o755)


def test_without_git_on_path_the_run_says_git_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    info = collect(tmp_path, ["prog"], seed=0)["git"]
    assert info == {
        "available": False,
        "reason": "git is not installed",
        "commit": None,
        "branch": None,
        "dirty": None,
        "untracked": None,
    }
    assert git_diff(tmp_path) == ""


def test_a_git_that_cannot_start_is_reported_not_raised(
    bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool(bin_dir, "git", "#!/nonexistent/interpreter\n")
    monkeypatch.setenv("PATH", str(bin_dir))  # the only git there is
    info = git_info(tmp_path)
    assert info["available"] is False
    assert info["reason"] == "git status could not run or timed out"


def test_a_git_that_fails_without_a_message_gives_its_exit_status(
    bin_dir: Path, tmp_path: Path
) -> None:
    tool(bin_dir, "git", "#!/bin/sh\nexit 3\n")
    assert git_info(tmp_path)["reason"] == "git status exited with 3"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.usefixtures("git_identity")
def test_a_renamed_file_makes_the_tree_dirty(tmp_path: Path) -> None:
    for command in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "0"]):
        subprocess.run(["git", "-C", str(tmp_path), *command], check=True)
    (tmp_path / "train.py").write_text("lr = 0.1\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "train.py"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-q", "-m", "1"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "mv", "train.py", "fit.py"], check=True)
    (tmp_path / "notes.txt").write_text("new\n")
    info = git_info(tmp_path)
    assert info["dirty"] is True
    assert info["branch"] == "main"
    assert info["untracked"] == ["notes.txt"]


def test_gpus_reported_by_nvidia_smi_are_listed(bin_dir: Path) -> None:
    tool(
        bin_dir,
        "nvidia-smi",
        "#!/bin/sh\nprintf 'NVIDIA A100-SXM4-40GB, 40960 MiB\\nNVIDIA L4, 23034 MiB\\n\\n'\n",
    )
    assert gpu_info() == [
        {"source": "nvidia-smi", "name": "NVIDIA A100-SXM4-40GB", "memory": "40960 MiB"},
        {"source": "nvidia-smi", "name": "NVIDIA L4", "memory": "23034 MiB"},
    ]


def test_a_failing_nvidia_smi_means_no_gpus(bin_dir: Path) -> None:
    tool(bin_dir, "nvidia-smi", "#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert gpu_info() == []


def fake_torch(devices: list[str] | None) -> types.ModuleType:
    """A stand-in for an imported torch with these CUDA devices (None: a broken CUDA setup)."""

    def device_name(index: int) -> str:
        if devices is None:
            raise RuntimeError("CUDA driver initialization failed")
        return devices[index]

    torch = types.ModuleType("torch")
    torch.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        is_available=lambda: devices != [],
        device_count=lambda: 1 if devices is None else len(devices),
        get_device_name=device_name,
    )
    return torch


@pytest.mark.parametrize(
    ("devices", "expected"),
    [
        (["NVIDIA H100"], [{"source": "torch", "name": "NVIDIA H100"}]),
        ([], []),
        (None, []),
    ],
    ids=["one-gpu", "no-cuda", "broken-cuda"],
)
def test_the_cuda_devices_of_an_imported_torch_are_listed(
    devices: list[str] | None,
    expected: list[dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    monkeypatch.setitem(sys.modules, "torch", fake_torch(devices))
    assert gpu_info() == expected
