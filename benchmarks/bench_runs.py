"""Time `runs ls --last 3h` over ten thousand run folders.

Bakes a project (`project_name="Bench Runs"`), installs it with `make setup`,
runs its first three stages once for real, and then writes N run folders
(10,000 by default) modelled on those: a run.json each, and the other files
of the real folder (config, provenance, logs). Start times are spread over
the last 30 days, with 1% in the last 3 hours, and the statuses are mixed as
in a real project.

Measured with the project's own interpreter, as medians of N repeats after one
warm-up run (byte-code compiled, folders in the page cache):

1. `python -m bench_runs runs ls --last 3h`: must list exactly the recent runs
   and take under --max-seconds (1 s by default);
2. `python -m bench_runs runs ls`: every run, so every run.json, for scale.

Writes the `<!-- runs:start -->` section of docs/benchmarks.md and
benchmarks/results/runs.json; exits 1 when the first measure is over the
target, so it doubles as a check. --quick runs one stage, writes 200 folders
and times one listing each; over the target, it only says so.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from _common import (
    Command,
    Tools,
    bake_project,
    base_parser,
    completed,
    describe_project_machine,
    machine_section,
    markers,
    missed,
    parse,
    positive,
    row,
    run,
    say,
    stats,
    timed,
    write_results,
    write_section,
)

NAME = "runs"
TITLE = "Run records: `runs ls` over many runs"
START, END = markers(NAME)
PROJECT_NAME = "Bench Runs"
PACKAGE = "bench_runs"
STAGES = ("prepare", "featurize", "train")
PROJECT_ENV = {"WANDB_MODE": "disabled"}
LAST = "3h"
RECENT = timedelta(hours=3)
SPAN = timedelta(days=30)
# Kept away from the 3-hour edge, so that the clock moving during the benchmark
# never moves a run across it.
MARGIN = timedelta(minutes=15)
STATUSES = (("completed", 0.85), ("failed", 0.10), ("interrupted", 0.05))
RECORD = "run.json"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
QUICK_RUNS = 200


@dataclass(frozen=True)
class Results:
    """Wall times in seconds, and what the timed listing said."""

    runs: int
    recent: int
    last: list[float]
    every: list[float]
    count_line: str

    @property
    def median(self) -> float:
        """Median time of `runs ls --last 3h`."""
        return statistics.median(self.last)


def progress(message: str) -> None:
    """Say what is being measured, on stderr, so stdout holds only the section."""
    say("bench_runs", message)


def in_project(project: Path, *argv: str) -> Command:
    """Return a command run in the project, with W&B off."""
    return Command(argv, project, PROJECT_ENV)


def python(project: Path) -> str:
    """Return the project's own interpreter."""
    return str(project / ".venv" / "bin" / "python")


def prepare_project(tools: Tools, template: Path, work: Path, stages: tuple[str, ...]) -> Path:
    """Bake and install the project; run `stages` once, for model run folders."""
    project = bake_project(
        tools.cookiecutter, template, work / "project", f"project_name={PROJECT_NAME}"
    )
    if project.name != PACKAGE:
        raise SystemExit(f"error: the bake made {project.name}, not {PACKAGE}")
    run(in_project(project, tools.make, "setup", f"UV={tools.uv}"))
    for stage in stages:
        run(in_project(project, python(project), "-m", PACKAGE, f"stage={stage}", "logger=none"))
    return project


def models(runs: Path, stages: tuple[str, ...]) -> dict[str, Path]:
    """The real run folder of each stage, by stage."""
    found = {folder.name.split("_")[0]: folder for folder in runs.iterdir() if folder.is_dir()}
    missing = [stage for stage in stages if stage not in found]
    if missing:
        raise SystemExit(f"error: no run folder for {', '.join(missing)} in {runs}")
    return found


def start_times(count: int, recent: int, now: datetime, rng: random.Random) -> list[datetime]:
    """`count` start times over the last 30 days, `recent` of them in the last 3 hours."""
    newest_old, oldest = (RECENT + MARGIN).total_seconds(), SPAN.total_seconds()
    old = [now - timedelta(seconds=rng.uniform(newest_old, oldest)) for _ in range(count - recent)]
    newest, oldest_recent = MARGIN.total_seconds(), (RECENT - MARGIN).total_seconds()
    new = [now - timedelta(seconds=rng.uniform(newest, oldest_recent)) for _ in range(recent)]
    return old + new


def write_runs(runs: Path, count: int, recent: int, stages: tuple[str, ...]) -> None:
    """Write `count` run folders modelled on the real ones of `stages` already in `runs`."""
    rng = random.Random(2026)
    templates = models(runs, stages)
    records = {
        stage: json.loads((folder / RECORD).read_text(encoding="utf-8"))
        for stage, folder in templates.items()
    }
    # Every other file of the real folder, whatever the runtime writes (not artifacts/).
    texts = {
        stage: {
            path.name: path.read_bytes()
            for path in folder.iterdir()
            if path.is_file() and path.name != RECORD
        }
        for stage, folder in templates.items()
    }
    statuses, weights = zip(*STATUSES, strict=True)
    now = datetime.now(timezone.utc)
    for started in start_times(count, recent, now, rng):
        stage = rng.choice(stages)
        run_id = f"{stage}_{started.strftime(TIMESTAMP_FORMAT)}_{rng.getrandbits(24):06x}"
        folder = runs / run_id
        folder.mkdir()
        for name, data in texts[stage].items():
            (folder / name).write_bytes(data)
        record = fake_record(records[stage], run_id, started, rng.choices(statuses, weights)[0])
        text = json.dumps(record, indent=2) + "\n"
        (folder / RECORD).write_text(text, encoding="utf-8")


def fake_record(
    model: dict[str, Any], run_id: str, started: datetime, status: str
) -> dict[str, Any]:
    """A copy of a real run record, for another id, start time and ending."""
    duration = float(model.get("duration_s") or 1.0)
    record = dict(model, id=run_id, status=status)
    record["started"] = started.isoformat(timespec="milliseconds")
    record["ended"] = (started + timedelta(seconds=duration)).isoformat(timespec="milliseconds")
    if status != "completed":
        record["metrics"] = {}
        record["error"] = "KeyboardInterrupt: " if status == "interrupted" else "ValueError: boom"
    return record


def ls_times(project: Path, repeats: int, *args: str) -> tuple[list[float], str]:
    """Time `runs ls ARGS` after a warm-up run; return the times and the last line printed."""
    command = in_project(project, python(project), "-m", PACKAGE, "runs", "ls", *args)
    lines = completed(command).stdout.splitlines()
    return [timed(command) for _ in range(repeats)], lines[-1] if lines else ""


def render(results: Results, machine: list[str], max_seconds: float) -> str:
    """Return the markdown section, markers included."""
    verdict = "within" if results.median <= max_seconds else "**over**"
    return "\n".join(
        [
            START,
            f"## {TITLE}",
            "",
            f'A bake with `project_name="{PROJECT_NAME}"` (`{PACKAGE}`), set up, holding '
            f"{results.runs:,} run folders modelled on real ones (run.json and the other "
            "files of a real run: config, provenance, logs), started over the last 30 days, "
            f"{results.recent:,} of them in the last 3 hours. Wall times in seconds over "
            f"{len(results.last)} repeats, after one warm-up run. Regenerate with `make bench` "
            "(`benchmarks/bench_runs.py`).",
            "",
            "| Measure | Median | Min | Max |",
            "| --- | ---: | ---: | ---: |",
            row(f"`python -m {PACKAGE} runs ls --last {LAST}`", results.last),
            row(f"`python -m {PACKAGE} runs ls` (every run.json read)", results.every),
            "",
            f"`runs ls --last {LAST}` printed `{results.count_line}` in {results.median:.2f} s: "
            f"{verdict} the target of {max_seconds:.2f} s. It picks the recent folders by "
            "the start time in their names and reads only their run.json.",
            "",
            *machine_section(machine),
            END,
        ]
    )


def measures(results: Results, max_seconds: float) -> dict[str, object]:
    """The figures of the results file."""
    return {
        "runs": results.runs,
        "recent": results.recent,
        "last": LAST,
        "ls_last": stats(results.last),
        "ls_every": stats(results.every),
        "count_line": results.count_line,
        "max_seconds": max_seconds,
    }


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = base_parser(__doc__)
    parser.add_argument(
        "--runs",
        type=positive(int),
        help=f"run folders made (default 10,000; {QUICK_RUNS} with --quick)",
    )
    parser.add_argument(
        "--max-seconds",
        type=positive(float),
        default=1.0,
        help="largest allowed median of `runs ls --last 3h` (default 1.0)",
    )
    args = parse(parser)
    if args.runs is None:
        args.runs = QUICK_RUNS if args.quick else 10_000
    return args


def measure(
    tools: Tools, template: Path, count: int, repeats: int, stages: tuple[str, ...]
) -> tuple[Results, list[str]]:
    """Run every measure in a scratch folder; return the results and the machine."""
    recent = max(1, count // 100)
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as tmp:
        progress(f"baking, setting up and running {', '.join(stages)} once")
        project = prepare_project(tools, template, Path(tmp), stages)
        runs = project / "runs"
        real = [folder for folder in runs.iterdir() if folder.is_dir()]
        progress(f"writing {count:,} run folders")
        write_runs(runs, count, recent, stages)
        for folder in real:  # only the fake runs are counted, so the expected numbers hold
            shutil.rmtree(folder)
        progress(f"running runs ls --last {LAST} {repeats} times")
        last, count_line = ls_times(project, repeats, "--last", LAST)
        expected = f"{recent:,} run{'s' * (recent != 1)} in runs/"  # the matching ones
        if count_line != expected:
            raise SystemExit(
                f"error: `runs ls --last {LAST}` printed {count_line!r}, not {expected!r}"
            )
        progress(f"running runs ls {repeats} times")
        every, _ = ls_times(project, repeats)
        machine = describe_project_machine(tools.uv, python(project))
    return Results(count, recent, last, every, count_line), machine


def main() -> int:
    """Measure, print the section, update the docs, and check the target."""
    args = parse_args()
    tools = Tools(args.uv, args.cookiecutter, shutil.which("make") or "make")
    stages = STAGES[:1] if args.quick else STAGES  # each real run takes seconds
    results, machine = measure(tools, args.template.resolve(), args.runs, args.repeats, stages)
    section = render(results, machine, args.max_seconds)
    print(section)
    write_section(args.output, section, NAME)
    write_results(args.results, NAME, TITLE, machine, measures(results, args.max_seconds))
    if results.median > args.max_seconds:
        return missed(
            f"`python -m {PACKAGE} runs ls --last {LAST}` takes {results.median:.2f} s "
            f"over {results.runs:,} runs (target {args.max_seconds:.2f} s); profile it with "
            f"`python -m cProfile -s cumtime -m {PACKAGE} runs ls --last {LAST}`",
            args.quick,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
