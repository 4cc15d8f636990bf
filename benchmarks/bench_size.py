"""Count the lines of a baked project's runtime, module by module, beside the user's stages.

Bakes the template with its default answers and counts the lines of each
`src/<package>/runtime/*.py` as `wc -l` does (newline characters), and, for
scale, those of `src/<package>/stages/*.py`: the user's code that the runtime
serves; and the template's own runtime sources, where each option's Jinja block
(pytorch's resume, the optuna search's dispatch) is written out: what a reader
of the template sees. Nothing is timed; the count is the same however often it runs, so
--repeats and --quick change nothing but where a --quick run writes.

Writes the `<!-- size:start -->` section of docs/benchmarks.md and
benchmarks/results/size.json; exits 1 when the runtime is over --max-lines
(1,300 by default), the bake's or the sources', so it doubles as a check (a
--quick run only says so).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import (
    bake_project,
    base_parser,
    describe,
    machine_section,
    markers,
    missed,
    parse,
    positive,
    say,
    write_results,
    write_section,
)

NAME = "size"
TITLE = "Runtime size: lines per module"
START, END = markers(NAME)
MAX_LINES = 1300
FOLDERS = ("runtime", "stages")
SOURCES = Path("{{cookiecutter.__project_dir}}/src/{{cookiecutter.pkg_name}}/runtime")


def lines(path: Path) -> int:
    """Return the lines of a file as `wc -l` counts them: its newline characters."""
    return path.read_bytes().count(b"\n")


def count(folder: Path) -> dict[str, int]:
    """Return the lines of each `*.py` file directly in `folder`, by file name, sorted."""
    return {path.name: lines(path) for path in sorted(folder.glob("*.py"))}


def measure(cookiecutter: str, template: Path) -> tuple[str, dict[str, dict[str, int]]]:
    """Bake the default project; return its package and the line counts of each folder."""
    with tempfile.TemporaryDirectory(prefix="bench-size-") as tmp:
        project = bake_project(cookiecutter, template, Path(tmp) / "bake")
        package = project / "src" / project.name
        counts = {folder: count(package / folder) for folder in FOLDERS}
    counts["sources"] = count(template / SOURCES)
    empty = [folder for folder, found in counts.items() if not found]
    if empty:
        raise SystemExit(f"error: the bake has no modules in src/{project.name}/{empty[0]}/")
    return project.name, counts


def render(
    package: str, counts: dict[str, dict[str, int]], max_lines: int, machine: list[str]
) -> str:
    """Return the markdown section, markers included."""
    runtime, stages = counts["runtime"], counts["stages"]
    total, sources = sum(runtime.values()), sum(counts["sources"].values())
    verdict = "within" if max(total, sources) <= max_lines else "**over**"
    return "\n".join(
        [
            START,
            f"## {TITLE}",
            "",
            f"The default bake (`{package}`): lines of each module of "
            f"`src/{package}/runtime/`, the template's machinery, as `wc -l "
            f"src/{package}/runtime/*.py` counts them (ruff-formatted, 100 columns), beside "
            f"the example stages in `src/{package}/stages/` that it serves. Regenerate with "
            "`make bench` (`benchmarks/bench_size.py`).",
            "",
            "| Runtime module | Lines |",
            "| --- | ---: |",
            *(f"| `{name}` | {value:,} |" for name, value in runtime.items()),
            f"| **Runtime, {len(runtime)} modules** | **{total:,}** |",
            f"| Example stages, {len(stages)} modules (`stages/*.py`) | {sum(stages.values()):,} |",
            "",
            f"The runtime holds {total:,} lines; the template's runtime sources, with every "
            f"option's Jinja block written out, {sources:,}: {verdict} the budget of "
            f"{max_lines:,}.",
            "",
            *machine_section(machine),
            END,
        ]
    )


def measures(package: str, counts: dict[str, dict[str, int]], max_lines: int) -> dict[str, object]:
    """The figures of the results file."""
    found: dict[str, object] = {"package": package, "max_lines": max_lines}
    for folder, modules in counts.items():
        found[folder] = {"modules": modules, "total": sum(modules.values())}
    return found


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = base_parser(__doc__, repeats=1)
    parser.add_argument(
        "--max-lines",
        type=positive(int),
        default=MAX_LINES,
        help=f"largest allowed line count of runtime/*.py (default {MAX_LINES:,})",
    )
    return parse(parser)


def main() -> int:
    """Count, print the section, update the docs and results, and check the budget."""
    args = parse_args()
    say("bench_size", "baking the default project and counting its lines")
    package, counts = measure(args.cookiecutter, args.template.resolve())
    machine = describe(f"Python {sys.version.split()[0]}")
    section = render(package, counts, args.max_lines, machine)
    print(section)
    write_section(args.output, section, NAME)
    write_results(args.results, NAME, TITLE, machine, measures(package, counts, args.max_lines))
    total = max(sum(counts["runtime"].values()), sum(counts["sources"].values()))
    if total > args.max_lines:
        return missed(
            f"src/{package}/runtime/*.py or its template sources hold {total:,} lines, over "
            f"the budget of {args.max_lines:,}",
            args.quick,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
