"""Time the runtime's own work per run: folder, config, provenance, logs, record.

Bakes a project, installs it, commits it, and then, inside the project's own
Python, runs `execute()` many times on a stage whose body does nothing, so what
is timed is only the runtime: run folder, config.yaml, provenance.json (git,
uv.lock hash, packages), logging, seeding and run.json (overrides included).
Imports happen once, before the clock starts, as in a sweep. Writes the
`<!-- overhead:start -->` section of docs/benchmarks.md and
benchmarks/results/overhead.json; exits 1 over the target (a --quick smoke
run only says so).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
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
    uv_version,
    write_results,
    write_section,
)

NAME = "overhead"
TITLE = "Runtime overhead per run"
PACKAGE = "bench_overhead"
TARGET_MS = 150.0
# Runs inside the project's interpreter; prints one JSON line: the timings in ms.
PROBE = """
import json, time
from pathlib import Path
from omegaconf import OmegaConf
from {pkg}.runtime import run as runtime, pipeline
from {pkg}.runtime.pipeline import prepared

def nothing(cfg, run):  # the stage body: nothing at all
    return {{"value": 1.0}}

quiet = ["logger=none", "runtime.log_level=WARNING"]
cfg = pipeline.compose(Path.cwd(), quiet)
config = OmegaConf.to_container(cfg, resolve=True)
settings = prepared(Path.cwd(), cfg, "prepare")[0]
section = object()  # what the stage would get: its checked section, unread here
runtime.execute(settings, nothing, section, config, ["warm-up"])
samples = []
for _ in range({repeats}):
    start = time.perf_counter()
    runtime.execute(settings, nothing, section, config, ["stage=prepare"])
    samples.append((time.perf_counter() - start) * 1000)
print(json.dumps(samples))
"""


def progress(message: str) -> None:
    """Say what the benchmark is doing, on stderr."""
    say("bench_overhead", message)


def measure(uv: str, cookiecutter: str, template: Path, repeats: int) -> list[float]:
    """Bake, set up and commit a project; return the per-run overheads in ms."""
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        work = Path(tmp)
        progress("baking and setting up a project")
        project = bake_project(cookiecutter, template, work / "bake", "project_name=Bench Overhead")
        run(Command(("make", "setup", f"UV={uv}"), project))
        run(Command(("git", "add", "-A"), project, PROJECT_ENV))
        run(Command(("git", "commit", "-q", "--no-verify", "-m", "start"), project, PROJECT_ENV))
        progress(f"timing {repeats} run{'s' * (repeats != 1)} of a stage that does nothing")
        code = PROBE.format(pkg=PACKAGE, repeats=repeats)
        python = str(project / ".venv" / "bin" / "python")
        output = run(Command((python, "-c", code), project, {"WANDB_MODE": "disabled"}))
        return [float(sample) for sample in json.loads(output.strip().splitlines()[-1])]


def render(samples: list[float], machine: list[str]) -> str:
    """The markdown section."""
    figures = {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}
    start, end = markers(NAME)
    verdict = "within" if figures["median"] <= TARGET_MS else "OVER"
    lines = [
        start,
        f"## {TITLE}",
        "",
        "`execute()` on a stage whose body does nothing, in a committed project, after one "
        f"warm-up run; {len(samples)} runs, milliseconds. It covers the run folder, the config, "
        "provenance (git, uv.lock hash, package versions), logging, seeding and the run "
        "record with its overrides. Regenerate with `make bench` (`benchmarks/bench_overhead.py`).",
        "",
        "| Measure | Median | Min | Max |",
        "| --- | ---: | ---: | ---: |",
        f"| Overhead per run (ms) | {figures['median']:.1f} | {figures['min']:.1f} "
        f"| {figures['max']:.1f} |",
        "",
        f"Target: {TARGET_MS:.0f} ms; the median is {verdict} the target.",
        "",
        *machine_section(machine),
        end,
    ]
    return "\n".join(lines)


def main() -> int:
    """Measure, print and write the section; 1 if the median is over the target."""
    args = parse(base_parser(__doc__, repeats=50))
    samples = measure(args.uv, args.cookiecutter, args.template, args.repeats)
    machine = describe(f"Python {sys.version.split()[0]}, {uv_version(args.uv)}")
    section = render(samples, machine)
    print(section)
    write_section(args.output, section, NAME)
    figures = {"overhead_ms": stats(samples), "target_ms": TARGET_MS}
    write_results(args.results, NAME, TITLE, machine, figures)
    median = statistics.median(samples)
    if median > TARGET_MS:
        return missed(f"{median:.1f} ms per run is over {TARGET_MS:.0f} ms", args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
