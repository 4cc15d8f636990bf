"""Projects that log to W&B offline, and reading a run's offline log back as a user could."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from conftest import Bakery, require_ok, run


def offline_run(
    project: Path, package: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m PACKAGE ARGS` with W&B left to decide its mode: offline, for want of a login."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    clean |= {"NETRC": str(project / "no-netrc"), **env}
    return subprocess.run(
        [str(project / ".venv/bin/python"), "-m", package, *args],
        cwd=project,
        env=clean,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def prepared_project(bakery: Bakery, uv: str, project_name: str, package: str) -> Path:
    """A baked, installed project with its data prepared and featurized (no tracker)."""
    baked = bakery({"project_name": project_name})
    require_ok(run(["make", "setup", f"UV={uv}"], cwd=baked))
    for stage in ("prepare", "featurize"):
        require_ok(offline_run(baked, package, f"stage={stage}", "logger=none"))
    return baked


def wandb_records(project: Path, run_dir: Path) -> list[dict[str, Any]]:
    """Every record of the run's offline W&B log, as JSON (`wandb leet inspect --json`)."""
    (log,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    wandb = str(project / ".venv/bin/wandb")
    out = require_ok(run([wandb, "leet", "inspect", "--json", str(log)], cwd=project)).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def of_type(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The records of one type (run, history, summary, artifact, exit ...)."""
    return [record[kind] for record in records if record.get("type") == kind]
