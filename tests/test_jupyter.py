"""End-to-end tier: `make notebook` serves JupyterLab on notebooks/, with the project's kernel.

JupyterLab and ipykernel are in no lock: `make notebook` adds them to the project's
environment with `uv run --with` (from the package index the first time, then uv's cache).

The example notebook itself runs top to bottom in a fresh kernel in the runtime's tests
(tests/runtime/test_notebooks.py, run in a bake by test_runtime.py); its outputs are
stripped on commit (test_quality.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
TOKEN = "test-token"  # pragma: allowlist secret


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fetch(url: str) -> tuple[int, bytes]:
    """GET a loopback URL: its status and body (0 while nothing listens)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # loopback only
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, b""
    except OSError:
        return 0, b""


def test_make_notebook_serves_jupyterlab_on_the_projects_notebooks(
    prepared: Path, tmp_path: Path
) -> None:
    port = free_port()
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={TOKEN}"
    args += " --allow-root" * (os.geteuid() == 0)  # CI machines run tests as root
    home = {name: str(tmp_path / name) for name in ("HOME", "JUPYTER_RUNTIME_DIR")}
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIRTUAL_ENV"))}
    server = subprocess.Popen(
        ["make", "notebook", f"ARGS={args}"],
        cwd=prepared,
        env={**clean, **home, "UV": os.environ.get("UV") or "uv"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # make, uv and jupyter: stopped together below
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, status = time.monotonic() + 120, 0
        while status != 200 and time.monotonic() < deadline and server.poll() is None:
            time.sleep(1)
            status, _ = fetch(f"{base}/api/status?token={TOKEN}")
        assert status == 200, "JupyterLab did not answer within 120 s"
        status, body = fetch(f"{base}/api/contents?token={TOKEN}")
        listed = {item["name"] for item in json.loads(body)["content"]}
        assert listed == {path.name for path in (prepared / "notebooks").iterdir()}
        assert fetch(f"{base}/lab?token={TOKEN}")[0] == 200
        # The kernel the notebooks ask for is there (ipykernel of the project's environment).
        status, body = fetch(f"{base}/api/kernelspecs?token={TOKEN}")
        kernels = set(json.loads(body)["kernelspecs"])
        for path in (prepared / "notebooks").glob("*.ipynb"):
            wanted = json.loads(path.read_text(encoding="utf-8"))["metadata"]["kernelspec"]
            assert wanted["name"] in kernels
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
