"""A one-node Slurm cluster on this machine for the slurm tier (`make test-slurm`).

munged, slurmctld and slurmd run with a key, a socket, ports and a slurm.conf of their own
in a temporary folder, as root (Debian's slurm-wlm and munge packages: `.ci/run` installs
them). `start` waits until the node takes jobs; `stop` ends exactly the daemons it started,
by the pid files they wrote. The node says it has 4 CPUs and 20 GB
(`SlurmdParameters=config_overrides`), so the project's shipped launcher settings (4 CPUs,
16 GB) fit as they are; nothing enforces them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")  # started in this order, stopped in reverse
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")
INSTALL = "as root: apt-get install slurm-wlm munge"


def missing() -> str | None:
    """Why no cluster can start here, or None."""
    if os.geteuid() != 0:
        return f"not root ({INSTALL})"
    for name in (*DAEMONS, *CLIENTS):
        if not (shutil.which(name) or Path(f"/usr/sbin/{name}").is_file()):
            return f"no {name} ({INSTALL})"
    return None


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


@dataclass
class Cluster:
    """A running one-node cluster: its folder and the environment its clients need."""

    folder: Path
    host: str

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.folder / "slurm.conf")}

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        """A Slurm client command against this cluster."""
        return subprocess.run(
            [_binary(command[0]), *command[1:]],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def jobs(self) -> list[tuple[str, str]]:
        """(job id, state) of every job squeue lists, array tasks one by one."""
        listed = self.run("squeue", "--array", "--noheader", "--format=%i %T").stdout
        return [tuple(line.split()) for line in listed.splitlines() if line.strip()]  # type: ignore[misc]


def start(folder: Path) -> Cluster:
    """Write the key and slurm.conf into `folder`, start the daemons, wait for the node."""
    host = socket.gethostname().split(".")[0]
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    ctld_port, node_port = _free_ports(2)
    conf = {
        "ClusterName": "lab",
        "SlurmctldHost": f"{host}(127.0.0.1)",  # addresses given: no name lookup needed
        "AuthType": "auth/munge",
        "AuthInfo": f"socket={folder}/munge.socket",
        "CredType": "cred/munge",
        "SlurmUser": "root",
        "SlurmdUser": "root",
        "SlurmctldPort": ctld_port,
        "SlurmdPort": node_port,
        "StateSaveLocation": folder / "state",
        "SlurmdSpoolDir": folder / "spool",
        "SlurmctldPidFile": folder / "slurmctld.pid",
        "SlurmdPidFile": folder / "slurmd.pid",
        "SlurmctldLogFile": folder / "slurmctld.log",
        "SlurmdLogFile": folder / "slurmd.log",
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_Core",
        "SlurmdParameters": "config_overrides",
        "ReturnToService": 2,
        "MpiDefault": "none",
        "JobAcctGatherType": "jobacct_gather/none",
        "AccountingStorageType": "accounting_storage/none",
        "MinJobAge": 600,  # finished jobs stay known to scontrol for 10 minutes
    }
    lines = [f"{key_}={value}" for key_, value in conf.items()]
    lines += [
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs=4 RealMemory=20480 State=UNKNOWN",
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
    ]
    (folder / "slurm.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cluster = Cluster(folder, host)
    commands = {
        "munged": [
            f"--key-file={key}",
            f"--socket={folder}/munge.socket",
            f"--pid-file={folder}/munged.pid",
            f"--log-file={folder}/munged.log",
            f"--seed-file={folder}/munged.seed",
            "--force",
        ],
        "slurmctld": ["-f", str(folder / "slurm.conf")],
        "slurmd": ["-f", str(folder / "slurm.conf")],
    }
    try:
        for daemon in DAEMONS:
            subprocess.run([_binary(daemon), *commands[daemon]], env={**os.environ, **cluster.env},
                           check=True, capture_output=True, timeout=60)  # fmt: skip
            _wait(lambda d=daemon: (folder / f"{d}.pid").is_file(), f"{daemon} did not start")
        idle = lambda: cluster.run("sinfo", "-h", "-o", "%T").stdout.strip() == "idle"  # noqa: E731
        _wait(idle, "the node did not become idle")
    except BaseException:
        stop(cluster)
        raise
    return cluster


def _wait(done: object, why: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not done():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(why)
        time.sleep(0.2)


def stop(cluster: Cluster) -> None:
    """End the daemons this cluster started (by their pid files), newest first."""
    for daemon in reversed(DAEMONS):
        pid_file = cluster.folder / f"{daemon}.pid"
        if not pid_file.is_file():
            continue
        pid = int(pid_file.read_text().split()[0])
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
