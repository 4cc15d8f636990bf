"""Time the template's foundation: bake, `make setup`, and `--help` start-up.

Measured on the machine running this script, as medians of N repeats:

1. baking the template with its default answers (`cookiecutter --no-input`);
2. `make setup` in the baked project, from no .venv, with a warm uv cache;
3. `python -m <package> --help` against a minimal Hydra app that does nothing,
   both run by the project's own interpreter (same Python, same Hydra).

Prints a markdown table and writes it into docs/benchmarks.md between the
`<!-- foundation:start -->` and `<!-- foundation:end -->` markers, leaving the
rest of that file to other benchmark scripts, and the figures into
benchmarks/results/foundation.json. Exits 1 when `--help` takes more
than --max-ratio times the minimal app's time, so it doubles as a check
(a --quick smoke run, one repeat of each, only says so).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from _common import (
    Command,
    Tools,
    bake_command,
    bake_project,
    base_parser,
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

NAME = "foundation"
TITLE = "Foundation: bake, setup, start-up"
START, END = markers(NAME)
MINIMAL_APP = '''\
"""A Hydra app that does nothing: the baseline for start-up time."""

import hydra


@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg: object) -> None:
    """Do nothing."""
    pass


if __name__ == "__main__":
    main()
'''


@dataclass(frozen=True)
class Results:
    """Wall times in seconds, one list of samples per measure."""

    package: str
    bake: list[float]
    setup: list[float]
    help: list[float]
    minimal_help: list[float]

    @property
    def ratio(self) -> float:
        """Median `--help` time of the project over that of the minimal app."""
        return statistics.median(self.help) / statistics.median(self.minimal_help)


def progress(message: str) -> None:
    """Say what is being measured, on stderr, so stdout holds only the table."""
    say("bench_foundation", message)


def bake_times(cookiecutter: str, template: Path, work: Path, repeats: int) -> list[float]:
    """Time `repeats` bakes, each into a fresh folder."""
    folders = [Path(tempfile.mkdtemp(prefix="bake-", dir=work)) for _ in range(repeats)]
    return [timed(bake_command(cookiecutter, template, out)) for out in folders]


def setup_times(tools: Tools, project: Path, repeats: int, warm_up: bool = True) -> list[float]:
    """Time `make setup` from no .venv, after one untimed sync warmed the uv cache."""
    if warm_up:
        run(Command((tools.uv, "sync", "--frozen"), project))
    setup = Command((tools.make, "setup", f"UV={tools.uv}"), project)
    samples = []
    for _ in range(repeats):
        shutil.rmtree(project / ".venv", ignore_errors=True)
        samples.append(timed(setup))
    return samples


def venv_python(project: Path) -> str:
    """Return the project's own interpreter."""
    return str(project / ".venv" / "bin" / "python")


def help_times(project: Path, work: Path, repeats: int) -> tuple[list[float], list[float]]:
    """Time `--help` of the project and of a minimal Hydra app, interleaved."""
    app = work / "minimal_app.py"
    app.write_text(MINIMAL_APP, encoding="utf-8")
    python = venv_python(project)
    commands = (
        Command((python, "-m", project.name, "--help"), project),
        Command((python, str(app), "--help"), work),
    )
    for command in commands:
        run(command)  # warm-up: byte-code compiled, files in the page cache
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for command, times in zip(commands, samples, strict=True):
            times.append(timed(command))
    return samples


def render(results: Results, machine: list[str], max_ratio: float) -> str:
    """Return the markdown section, markers included."""
    verdict = "within" if results.ratio <= max_ratio else "**over**"
    return "\n".join(
        [
            START,
            f"## {TITLE}",
            "",
            f"The default bake (`{results.package}`): wall times in seconds over "
            f"{len(results.bake)} repeats. The `--help` runs alternate with the minimal "
            "app's, after one warm-up run each (byte-code cached). Regenerate with "
            "`make bench` (`benchmarks/bench_foundation.py`).",
            "",
            "| Measure | Median | Min | Max |",
            "| --- | ---: | ---: | ---: |",
            row("Bake: `cookiecutter --no-input`", results.bake),
            row("`make setup` from no .venv, warm uv cache", results.setup),
            row(f"`python -m {results.package} --help`", results.help),
            row("Minimal Hydra app `--help`", results.minimal_help),
            "",
            f"`--help` takes {results.ratio:.2f}x the minimal Hydra app's time: "
            f"{verdict} the limit of {max_ratio:.2f}x.",
            "",
            *machine_section(machine),
            END,
        ]
    )


def measures(results: Results, max_ratio: float) -> dict[str, object]:
    """The figures of the results file."""
    return {
        "package": results.package,
        "bake": stats(results.bake),
        "setup": stats(results.setup),
        "help": stats(results.help),
        "minimal_help": stats(results.minimal_help),
        "ratio": round(results.ratio, 3),
        "max_ratio": max_ratio,
    }


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = base_parser(__doc__)
    parser.add_argument(
        "--max-ratio",
        type=positive(float),
        default=1.2,
        help="largest allowed --help time over the minimal app's (default 1.2)",
    )
    return parse(parser)


def measure(tools: Tools, template: Path, repeats: int, quick: bool) -> tuple[Results, list[str]]:
    """Run every measure in a scratch folder; return the times and the machine.

    With `quick`, the uv cache is taken as warm (`make test` just used it).
    """
    with tempfile.TemporaryDirectory(prefix="bench-foundation-") as tmp:
        work = Path(tmp)
        progress(f"baking {repeats} times")
        bake = bake_times(tools.cookiecutter, template, work, repeats)
        project = bake_project(tools.cookiecutter, template, work / "project")
        progress(f"running make setup {repeats} times")
        setup = setup_times(tools, project, repeats, warm_up=not quick)
        progress(f"running --help {repeats} times")
        project_help, minimal_help = help_times(project, work, repeats)
        machine = describe_project_machine(tools.uv, venv_python(project))
    results = Results(project.name, bake, setup, project_help, minimal_help)
    return results, machine


def main() -> int:
    """Measure, print the table, update the docs, and check the --help ratio."""
    args = parse_args()
    tools = Tools(args.uv, args.cookiecutter, shutil.which("make") or "make")
    results, machine = measure(tools, args.template.resolve(), args.repeats, args.quick)
    section = render(results, machine, args.max_ratio)
    print(section)
    write_section(args.output, section, NAME)
    write_results(args.results, NAME, TITLE, machine, measures(results, args.max_ratio))
    if results.ratio > args.max_ratio:
        return missed(
            f"`python -m {results.package} --help` takes {results.ratio:.2f}x "
            f"the time of a minimal Hydra app (limit {args.max_ratio}x); "
            f"profile it with `python -m cProfile -s cumtime -m {results.package} --help`"
            f" or `python -X importtime -m {results.package} --help`",
            args.quick,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
