"""Slurm tier: sweeps sent to a real scheduler, a one-node cluster on this machine
(tests/slurm_cluster.py). `make test-slurm`; `.ci/run` installs Slurm and runs it.

Where no cluster can start (not root, no packages) these tests skip with one line saying
why; where CI is set and the tests run as root, missing packages fail them instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import slurm_cluster
from conftest import Bakery, install, make, read_record, require_ok, run_dirs, uv_run
from reliability import Recorder
from slurm_cluster import Cluster

pytestmark = pytest.mark.slurm
SLURM = "hydra/launcher=slurm"


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The session's one-node cluster, stopped (by its pids) when the session ends."""
    if why := slurm_cluster.missing():  # CI (as root, `.ci/run` installs them): a failure
        message = f"needs a one-node Slurm cluster: {why}"
        root_in_ci = os.environ.get("CI") and os.geteuid() == 0
        pytest.fail(message) if root_in_ci else pytest.skip(message)
    started = slurm_cluster.start(tmp_path_factory.mktemp("slurm"))
    yield started
    slurm_cluster.stop(started)


def sweep(project: Path, cluster: Cluster, *args: str) -> subprocess.Popen[str]:
    """Start `python -m <package> --multirun hydra/launcher=slurm ARGS` in the project."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "AWS_"))}
    command = [str(project / ".venv/bin/python"), "-m", project.name, "--multirun", SLURM, *args]
    return subprocess.Popen(
        command,
        cwd=project,
        env={**clean, **cluster.env, "WANDB_MODE": "offline", "NETRC": str(project / "no")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_sweep_of_four_jobs_runs_as_a_slurm_job_array_within_its_parallelism(
    prepared: Path, cluster: Cluster, reliability: Recorder
) -> None:
    before = {path.name for path in run_dirs(prepared)}
    limits = ["hydra.launcher.array_parallelism=2", "hydra.launcher.cpus_per_task=1"]  # 4 fit
    most, running = 0, sweep(prepared, cluster, "stage=prepare", "seed=1,2,3,4", *limits)
    while running.poll() is None:  # squeue, as the jobs run: never more than 2 at once
        most = max(most, sum(state == "RUNNING" for _, state in cluster.jobs()))
        time.sleep(0.2)
    output = running.communicate()[0]
    assert running.returncode == 0, output
    records = [read_record(p) for p in run_dirs(prepared) if p.name not in before]
    jobs = sorted(str(record["job"]) for record in records)
    reliability.record(
        "Sweeps",
        "a 4-job sweep through hydra/launcher=slurm with array_parallelism=2",
        f"{len(records)} runs recorded, jobs {', '.join(jobs)}; at most {most} running at once",
        4 - len(records),
    )
    assert [record["status"] for record in records] == ["completed"] * 4
    assert len({record["sweep"] for record in records}) == 1  # one W&B group
    assert re.fullmatch(r"(\d+)_0 \1_1 \1_2 \1_3", " ".join(jobs)), jobs  # one job array
    assert 1 <= most <= 2


def test_the_shipped_launcher_settings_are_the_ones_sbatch_gets(
    prepared: Path, cluster: Cluster
) -> None:
    running = sweep(prepared, cluster, "stage=prepare", "seed=5")
    output = running.communicate(timeout=300)[0]
    assert running.returncode == 0, output
    (job,) = [read_record(p)["job"] for p in run_dirs(prepared, "prepare_")[-1:]]
    shown = require_ok(cluster.run("scontrol", "show", "job", str(job).split("_")[0])).stdout
    # conf/hydra/launcher/slurm.yaml as shipped: 4 CPUs, 16 GB, 60 minutes, 1 node, 1 task.
    for expected in ("NumCPUs=4", "MinMemoryNode=16G", "TimeLimit=01:00:00", "NumNodes=1",
                     "NumTasks=1", f"JobName={prepared.name}"):  # fmt: skip
        assert expected in shown, shown


def test_a_stage_cancelled_with_scancel_is_recorded_as_interrupted(
    prepared: Path, cluster: Cluster, reliability: Recorder
) -> None:
    before = {path.name for path in run_dirs(prepared)}
    running = sweep(prepared, cluster, "stage=train", "train.epochs=100000", "logger=none")
    deadline = time.monotonic() + 300
    while not (new := [p for p in run_dirs(prepared, "train_") if p.name not in before]):
        assert running.poll() is None, running.communicate()[0]
        assert time.monotonic() < deadline, "the train job did not start"
        time.sleep(0.2)
    job = str(read_record(new[0])["job"])
    require_ok(cluster.run("scancel", job))
    deadline = time.monotonic() + 60
    while read_record(new[0])["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    record = read_record(new[0])
    # Without Slurm accounting submitit cannot tell the job is gone and waits on: stop it.
    running.kill()
    running.communicate()
    left = [p.name for p in new[0].rglob("*.tmp")]
    reliability.record(
        "Sweeps",
        f"scancel of a running train job ({job})",
        f"run recorded {record['status']}; {len(left)} temporary files left",
        len(left),
    )
    assert record["status"] == "interrupted", record
    assert left == []


def test_make_slurm_repro_runs_the_pipeline_as_one_job_as_make_repro_would(
    bakery: Bakery, cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project = install(bakery, tmp_path_factory.mktemp("slurm-repro"))
    result = require_ok(make(project, "slurm-repro", **cluster.env, WANDB_MODE="offline"))
    assert re.search(r"Submitted batch job \d+", result.stdout), result.stdout
    (output,) = (project / "runs").glob("slurm-repro-*.out")
    said = output.read_text(encoding="utf-8")
    assert [f"Running stage '{name}'" in said for name in ("prepare", "train", "evaluate")] == [
        True
    ] * 3, said
    status = require_ok(uv_run(project, "dvc", "status"))
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    assert (project / "dvc.lock").is_file()
