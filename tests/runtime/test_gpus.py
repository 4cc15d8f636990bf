"""The GPUs a run records (framework=pytorch only: provenance.gpus): nvidia-smi's, and the CUDA
devices of an imported torch. tests/test_pytorch.py runs this file in the pytorch bake.

Where a test needs nvidia-smi, a small script first on PATH stands in for it; torch is a
stand-in module with the CUDA devices the test gives it.
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest
from my_project.runtime.pipeline import LoggerSettings, Settings
from my_project.runtime.resume import gpus
from my_project.runtime.run import execute

needs_sh = pytest.mark.skipif(sys.platform == "win32", reason="shell scripts stand in for tools")


def tool(folder: Path, name: str, script: str) -> None:
    """Put an executable `name` running the shell script `script` in `folder`."""
    path = folder / name
    path.write_text(script, encoding="utf-8")
    path.chmod(0o755)


def test_a_runs_provenance_lists_the_gpus(tmp_path: Path) -> None:
    settings = Settings(stage="probe", seed=0, root=str(tmp_path), logger=LoggerSettings())
    record = execute(settings, lambda cfg, run: {}, object(), {}, [])
    run_dir = tmp_path / "runs" / record["id"]
    facts = json.loads((run_dir / "provenance.json").read_text(encoding="utf-8"))
    assert facts["gpus"] == gpus()


@needs_sh
def test_gpus_reported_by_nvidia_smi_are_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool(tmp_path, "nvidia-smi", "#!/bin/sh\nprintf 'GPU A, 40960 MiB\\nGPU B, 23034 MiB\\n\\n'\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert gpus() == ["GPU A, 40960 MiB", "GPU B, 23034 MiB"]


@needs_sh
def test_a_failing_nvidia_smi_means_no_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool(tmp_path, "nvidia-smi", "#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpus() == []


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
    [(["GPU A"], ["GPU A"]), ([], []), (None, [])],
    ids=["one-gpu", "no-cuda", "broken-cuda"],
)
def test_the_cuda_devices_of_an_imported_torch_are_listed(
    devices: list[str] | None,
    expected: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    monkeypatch.setitem(sys.modules, "torch", fake_torch(devices))
    assert gpus() == expected
