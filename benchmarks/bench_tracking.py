"""Time what W&B tracking adds to a stage: offline, and online with a server that never answers.

Bakes a project, installs it, commits it and runs `prepare` and `featurize` once. Then
`python -m <pkg> stage=train` is timed, the variants taking turns in every round so
that they share the machine's state: without a tracker (`logger=none`, the baseline),
with W&B offline (the default), and online when asked (`logger.mode=online`, an API key
set) with a server that takes connections and never answers (a cluster node behind a
firewall): W&B waits its init timeout (`WANDB_INIT_TIMEOUT`, INIT_TIMEOUT_S here), then
the run logs offline. The server is a socket on 127.0.0.1 that accepts and stays silent.
Writes the `<!-- tracking:start -->` section of docs/benchmarks.md and
benchmarks/results/tracking.json; exits 1 over a target (a --quick smoke run only says so).
"""

from __future__ import annotations

import socket
import statistics
import sys
import tempfile
import threading
from pathlib import Path

from _common import (
    PROJECT_ENV,
    Command,
    bake_project,
    base_parser,
    describe,
    machine_section,
    markers,
    missed,
    parse,
    run,
    say,
    stats,
    timed,
    uv_version,
    write_results,
    write_section,
)

NAME = "tracking"
TITLE = "W&B tracking: cost per stage"
PACKAGE = "bench_tracking"
OFFLINE_TARGET_S = 0.3  # what offline W&B may add to a stage
INIT_TIMEOUT_S = 3  # WANDB_INIT_TIMEOUT for the silent server (the project's default: 30 s)
# What a server that never answers may add to a stage: the init timeout, then an offline start.
FALLBACK_TARGET_S = INIT_TIMEOUT_S + 3.0
API_KEY = "0123456789abcdef0123456789abcdef01234567"  # pragma: allowlist secret
# "silent_first" is the key benchmarks/summary.py reads (each stage now waits the same).
VARIANTS = {
    "none": "no tracker (`logger=none`)",
    "offline": "W&B offline (the default)",
    "silent_first": f"W&B online, server silent (`WANDB_INIT_TIMEOUT={INIT_TIMEOUT_S}`)",
}


def progress(message: str) -> None:
    """Say what the benchmark is doing, on stderr."""
    say("bench_tracking", message)


def silent_server() -> tuple[socket.socket, str]:
    """A loopback server that accepts connections and never answers; its URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed at the end
                return

    threading.Thread(target=accept, daemon=True).start()
    return server, f"http://127.0.0.1:{server.getsockname()[1]}"


def measure(uv: str, cookiecutter: str, template: Path, repeats: int) -> dict[str, list[float]]:
    """Bake and set up a project; return each variant's train stage times in seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        work = Path(tmp)
        progress("baking and setting up a project")
        project = bake_project(cookiecutter, template, work / "bake", "project_name=Bench Tracking")
        run(Command(("make", "setup", f"UV={uv}"), project))
        run(Command(("git", "add", "-A"), project, PROJECT_ENV))
        run(Command(("git", "commit", "-q", "--no-verify", "-m", "start"), project, PROJECT_ENV))
        python = str(project / ".venv" / "bin" / "python")
        for stage in ("prepare", "featurize"):
            run(Command((python, "-m", PACKAGE, f"stage={stage}", "logger=none"), project))
        server, url = silent_server()
        home = {"NETRC": str(work / "no-netrc"), "WANDB_CONFIG_DIR": str(work / "wandb")}
        offline = {**home, "WANDB_MODE": ""}  # logger.mode auto: offline
        silent = {**offline, "WANDB_API_KEY": API_KEY, "WANDB_BASE_URL": url}
        silent["WANDB_INIT_TIMEOUT"] = str(INIT_TIMEOUT_S)
        train = (python, "-m", PACKAGE, "stage=train")
        variants = {
            "none": Command((*train, "logger=none"), project, offline),
            "offline": Command(train, project, offline),
            "silent_first": Command((*train, "logger.mode=online"), project, silent),
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        try:
            timed(variants["offline"])  # warm-up: byte-code, W&B's own first start
            for round_number in range(repeats):
                progress(f"round {round_number + 1} of {repeats}")
                for name, command in variants.items():
                    samples[name].append(timed(command))
        finally:
            server.close()
        return samples


def render(samples: dict[str, list[float]], machine: list[str]) -> str:
    """The markdown section."""
    base = statistics.median(samples["none"])
    added = {name: statistics.median(values) - base for name, values in samples.items()}
    start, end = markers(NAME)
    verdict = {
        name: "met" if added[name] <= target else "NOT met"
        for name, target in (("offline", OFFLINE_TARGET_S), ("silent_first", FALLBACK_TARGET_S))
    }
    lines = [
        start,
        f"## {TITLE}",
        "",
        "`python -m bench_tracking stage=train` in a committed project whose data is prepared "
        f"and featurized; the {len(VARIANTS)} variants take turns in each of "
        f"{len(samples['none'])} rounds, after one warm-up run; seconds. W&B starts in a helper "
        "process as the command starts (`runtime/tracking.py`), so its import and `wandb.init` "
        "run beside the stage's own start-up. W&B is offline unless asked; the online variant "
        "asks (`logger.mode=online`, an API key set) with a server out of reach: W&B waits "
        f"its init timeout (`WANDB_INIT_TIMEOUT`, {INIT_TIMEOUT_S} s here; the project's "
        "default is 30 s), then the run logs offline, saying so in one line. The silent "
        "server is a socket on 127.0.0.1 that accepts connections and never answers. "
        "Regenerate with `make bench` (`benchmarks/bench_tracking.py`).",
        "",
        "| Variant | Median | Min | Max | Added (median) | Ratio to no tracker |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {label} | {statistics.median(samples[name]):.2f} | {min(samples[name]):.2f} "
            f"| {max(samples[name]):.2f} | {added[name]:+.2f} "
            f"| {statistics.median(samples[name]) / base:.2f}x |"
            for name, label in VARIANTS.items()
        ),
        "",
        f"Targets: offline W&B adds at most {OFFLINE_TARGET_S} s to a stage "
        f"({verdict['offline']}: "
        f"{added['offline']:+.2f} s); an online run whose server never answers holds a stage "
        f"its init timeout and at most {FALLBACK_TARGET_S - INIT_TIMEOUT_S:.0f} s more "
        f"({verdict['silent_first']}: {added['silent_first']:+.2f} s, "
        f"{added['silent_first'] - INIT_TIMEOUT_S:+.2f} s past the timeout). Before the helper "
        "(W&B imported and started inside the stage), the issue measured +1.1 s offline.",
        "",
        *machine_section(machine),
        end,
    ]
    return "\n".join(lines)


def main() -> int:
    """Measure, print and write the section; 1 if a target is missed."""
    args = parse(base_parser(__doc__, repeats=7))
    samples = measure(args.uv, args.cookiecutter, args.template, args.repeats)
    machine = describe(f"Python {sys.version.split()[0]}, {uv_version(args.uv)}")
    section = render(samples, machine)
    print(section)
    write_section(args.output, section, NAME)
    base = statistics.median(samples["none"])
    added = {name: statistics.median(values) - base for name, values in samples.items()}
    figures = {name: stats(values) for name, values in samples.items()}
    figures |= {"added_s": added, "offline_target_s": OFFLINE_TARGET_S}
    figures |= {"fallback_target_s": FALLBACK_TARGET_S, "init_timeout_s": INIT_TIMEOUT_S}
    write_results(args.results, NAME, TITLE, machine, figures)
    problems = []
    if added["offline"] > OFFLINE_TARGET_S:
        problems.append(f"offline W&B adds {added['offline']:.2f} s per stage")
    if added["silent_first"] > FALLBACK_TARGET_S:
        problems.append(f"a silent server holds a stage {added['silent_first']:.2f} s")
    return missed("; ".join(problems), args.quick) if problems else 0


if __name__ == "__main__":
    sys.exit(main())
