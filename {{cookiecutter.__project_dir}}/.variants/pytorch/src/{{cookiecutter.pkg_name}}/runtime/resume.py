"""The pytorch variant's own runtime needs: which earlier run a training goes on from (a requeued
cluster job's own interrupted try, or `train.resume`), and DDP's other processes (they train
beside rank 0 but keep no run folder, record or tracker of their own)."""

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from .provenance import _run
from .records import RECORD, RUN_ID, UsageError, check_name, cluster_job, read_json

# Set in the other processes of a multi-process run (Lightning's DDP, torchrun, SLURM tasks).
RANKS = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")
RESUMED = f"{__name__.split('.')[0].upper()}_RESUMED_FROM"  # rank 0's choice, for the others


def follower() -> bool:
    """Whether this process is not rank 0 of a multi-process run."""
    return any(os.environ.get(rank, "0") != "0" for rank in RANKS)


def earlier_run(stage: str, section: Any, runs: Path) -> dict[str, Any] | None:
    """The record of the run this one goes on from: in a requeued cluster job, the job's own
    interrupted try; else `<stage>.resume` (a run id, or `last`: the stage's latest run).
    In DDP's other processes: the one rank 0 chose."""
    if follower():
        resumed = os.environ.get(RESUMED)
        return read_json(runs / resumed / RECORD) if resumed else None
    if not hasattr(section, "resume"):  # a stage that cannot resume
        return None
    ids = sorted(path.name for path in runs.glob(f"{stage}_*") if RUN_ID.match(path.name))
    job = cluster_job()  # newest first: a requeued job's try before this one
    tries = (read_json(runs / i / RECORD) for i in reversed(ids) if job)
    latest = next((found for found in tries if found.get("job") == job), {})
    wanted = section.resume if section.resume != "last" else ids[-1] if ids else None
    if latest.get("status") == "interrupted":
        wanted = latest["id"]
    elif wanted is None and section.resume == "last":
        raise UsageError(f"{stage}.resume=last, but there is no earlier {stage} run in {runs}")
    elif wanted is not None and not (runs / check_name(str(wanted)) / RECORD).is_file():
        raise UsageError(f"{stage}.resume: no run '{wanted}' in {runs}; see `runs ls`")
    os.environ[RESUMED] = str(wanted or "")  # for DDP's other processes
    return None if wanted is None else read_json(runs / str(wanted) / RECORD)


def going_on(earlier: dict[str, Any] | None) -> dict[str, Any]:
    """wandb.init's arguments that go on with the earlier run's W&B run, where it had one."""
    wandb_id = ((earlier or {}).get("tracker") or {}).get("wandb_id")
    return {"id": wandb_id, "resume": "allow"} if wandb_id else {}


def gpus() -> list[str]:
    """The GPUs nvidia-smi reports, and the CUDA devices of a torch the stage already imported."""
    found = _run("nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader").split("\n")
    with contextlib.suppress(Exception):  # no torch imported (importing costs seconds), broken CUDA
        cuda = sys.modules["torch"].cuda
        found += map(cuda.get_device_name, range(cuda.device_count() if cuda.is_available() else 0))
    return [str(name).strip() for name in found if str(name).strip()]
