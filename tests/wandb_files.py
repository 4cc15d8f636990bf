"""Reading a run's offline W&B log back, as a user could (`wandb leet inspect --json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import require_ok, run


def wandb_records(project: Path, run_dir: Path) -> list[dict[str, Any]]:
    """Every record of the run's offline W&B log, as JSON."""
    (log,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    wandb = str(project / ".venv/bin/wandb")
    out = require_ok(run([wandb, "leet", "inspect", "--json", str(log)], cwd=project)).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def of_type(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The records of one type (run, history, summary, artifact, exit ...)."""
    return [record[kind] for record in records if record.get("type") == kind]
