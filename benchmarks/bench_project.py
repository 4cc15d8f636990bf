"""Weigh a baked project as its user gets it: its own tests' time, its lock, its runtime.

Measured on fresh bakes, the default answers unless said:

1. the generated project's own `make test`, as its user runs it on a clean bake:
   `make setup UV=...` (untimed), then every `__pycache__` under the project and
   its .venv deleted, so that no byte-code is compiled yet (nothing stops Python
   from writing it), then `make test` timed; each run on a new bake (N repeats,
   3 by default), with the counts of pytest's last line;
2. the `[[package]]` entries of the baked `uv.lock` for the default answers, for
   search=optuna, for framework=pytorch and for both (bakes only, no install),
   and the default lock's ten biggest dependency trees: the packages reachable
   only through one direct dependency of the project, following the lock's
   `dependencies` entries (the extras asked for included, every platform's);
3. the lines of `src/<package>/runtime/*.py` with every option on
   (framework=pytorch, search=optuna) beside the default's, counted as
   benchmarks/bench_size.py counts them.

Writes the `<!-- project:start -->` section of docs/benchmarks.md and
benchmarks/results/project.json; exits 1 when the median `make test` is over
--max-seconds (60 by default) or the default lock holds more than --max-packages
entries (180 by default), so it doubles as a check (a --quick run, one
`make test`, only says so).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    PROJECT_ENV,
    Command,
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
    write_results,
    write_section,
)
from bench_size import count
from bench_suite import pytest_counts

if sys.version_info >= (3, 11):
    import tomllib
else:  # the template's environment has tomli on 3.10 (check-jsonschema needs it)
    import tomli as tomllib

NAME = "project"
TITLE = "Generated project: its tests, its lock, its runtime"
START, END = markers(NAME)
MAX_SECONDS = 60.0
MAX_PACKAGES = 180
TREES = 10
# The option sets whose lock is counted: "default", or the answers given to cookiecutter.
DEFAULT = "default"
OPTION_SETS = (DEFAULT, "search=optuna", "framework=pytorch", "framework=pytorch search=optuna")
EVERY_OPTION = OPTION_SETS[-1]
# Other processes' share of the CPU above which the section says the machine was shared.
SHARED = 0.05
Package = tuple[str, str]  # a lock entry's name and version
Entry = dict[str, Any]  # a `[[package]]` table of a uv.lock
Edge = Mapping[str, Any]  # one item of its `dependencies`: { name, version?, extra? }
# How a lock's entry for the project itself names its source.
PROJECT_SOURCES = ({"editable": "."}, {"virtual": "."})


@dataclass(frozen=True)
class Tree:
    """A direct dependency of the project and the lock entries it brings in."""

    name: str
    extras: tuple[str, ...]  # the extras the project asks of it: ("s3",) for dvc[s3]
    group: str  # "main", or the dependency group that lists it ("dev")
    alone: frozenset[Package]  # reachable through this dependency only
    reachable: frozenset[Package]  # everything it pulls in, itself included
    biggest: tuple[str, ...]  # the names in `alone`, those that bring in most of it first


@dataclass(frozen=True)
class MakeTest:
    """One timed `make test`: its wall time, pytest's counts, and the CPU it shared."""

    seconds: float
    counts: dict[str, int]
    other_cpu_s: float | None  # CPU seconds other processes used meanwhile (None: unknown)
    cleared: int  # `__pycache__` folders deleted before it


@dataclass(frozen=True)
class Results:
    """Everything measured."""

    package: str
    runs: list[MakeTest]
    locks: dict[str, int]
    trees: list[Tree]
    shared: int  # lock entries reachable through two or more direct dependencies
    lines: dict[str, dict[str, dict[str, int]]]  # option set -> folder -> module -> lines


def progress(message: str) -> None:
    """Say what is being measured, on stderr, so stdout holds only the section."""
    say("bench_project", message)


def read_lock(path: Path) -> list[Entry]:
    """Return the `[[package]]` entries of a uv.lock."""
    with path.open("rb") as lock:
        return list(tomllib.load(lock).get("package", []))


def targets(index: Mapping[str, list[Entry]], edge: Edge) -> list[Entry]:
    """Return the lock entries an edge names: the one of its version, else all of its name."""
    found = index.get(edge["name"], [])
    if "version" in edge:
        found = [entry for entry in found if entry["version"] == edge["version"]]
    if not found:
        raise SystemExit(f"error: the lock names {edge['name']} but has no entry for it")
    return found


def reachable(index: Mapping[str, list[Entry]], edges: Iterable[Edge]) -> frozenset[Package]:
    """Return the entries reachable through `edges`, each edge's extras followed too."""

    def steps(edges: Iterable[Edge]) -> list[tuple[Entry, str | None]]:
        """Each entry the edges name, once plainly and once per extra asked of it."""
        return [
            (entry, extra)
            for edge in edges
            for entry in targets(index, edge)
            for extra in (None, *edge.get("extra", []))
        ]

    seen: set[tuple[Package, str | None]] = set()
    todo = steps(edges)
    while todo:
        entry, extra = todo.pop()
        key = ((entry["name"], entry["version"]), extra)
        if key in seen:
            continue
        seen.add(key)
        if extra is None:
            todo += steps(entry.get("dependencies", []))
        else:
            todo += steps(entry.get("optional-dependencies", {}).get(extra, []))
    return frozenset(package for package, _ in seen)


def biggest_first(index: Mapping[str, list[Entry]], tree: frozenset[Package]) -> tuple[str, ...]:
    """Return the names in a tree, those that bring in most of the tree first, then by name."""
    brings: dict[str, int] = {}
    for name, version in tree:
        found = len(reachable(index, [{"name": name, "version": version}]) & tree)
        brings[name] = max(found, brings.get(name, 0))
    return tuple(sorted(brings, key=lambda name: (-brings[name], name)))


def dependency_trees(packages: list[Entry]) -> tuple[list[Tree], int]:
    """Return the tree of each direct dependency of the lock's project, biggest first, and
    the number of entries that two or more direct dependencies reach.

    The project is the entry whose source is the folder itself; its direct dependencies
    are its `dependencies` and those of each of its dependency groups. An edge with
    `extra = [...]` also follows the package's `optional-dependencies` for those extras.
    Markers are not evaluated: every platform and Python the lock covers counts.
    """
    index: dict[str, list[Entry]] = {}
    for entry in packages:
        index.setdefault(entry["name"], []).append(entry)
    roots = [entry for entry in packages if entry.get("source") in PROJECT_SOURCES]
    if len(roots) != 1:
        raise SystemExit(f"error: the lock has {len(roots)} entries for the project, not one")
    groups = {"main": roots[0].get("dependencies", []), **roots[0].get("dev-dependencies", {})}
    direct: dict[str, tuple[str, list[Edge]]] = {}  # name -> group, edges (one per version)
    for group, edges in groups.items():
        for edge in edges:
            direct.setdefault(edge["name"], (group, []))[1].append(edge)
    reached = {name: reachable(index, edges) for name, (_, edges) in direct.items()}
    through = Counter(package for found in reached.values() for package in found)
    alone = {
        name: frozenset(package for package in found if through[package] == 1)
        for name, found in reached.items()
    }
    trees = [
        Tree(
            name=name,
            extras=tuple(sorted({extra for edge in edges for extra in edge.get("extra", [])})),
            group=group,
            alone=alone[name],
            reachable=reached[name],
            biggest=biggest_first(index, alone[name]),
        )
        for name, (group, edges) in direct.items()
    ]
    trees.sort(key=lambda tree: (-len(tree.alone), -len(tree.reachable), tree.name))
    return trees, sum(1 for times in through.values() if times > 1)


def cpu_busy_s() -> float | None:
    """Return the CPU seconds the whole machine has been busy since boot, from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0].split()
    except (OSError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(value) for value in first[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    """Return the CPU seconds this script's finished child processes have used."""
    used = os.times()
    return used.children_user + used.children_system


def clear_byte_code(project: Path) -> int:
    """Delete every `__pycache__` folder under the project, its .venv included; return how many."""
    found = [
        Path(folder) / "__pycache__"
        for folder, dirs, _ in os.walk(project)
        if "__pycache__" in dirs
    ]
    for folder in found:
        shutil.rmtree(folder)
    return len(found)


def time_make_test(uv: str, make: str, project: Path) -> MakeTest:
    """Set a fresh bake up (untimed), clear its byte-code, and time its `make test`."""
    run(Command((make, "setup", f"UV={uv}"), project, PROJECT_ENV))
    if not (project / ".venv").is_dir():
        raise SystemExit(f"error: `make setup` made no .venv in {project}")
    cleared = clear_byte_code(project)
    busy, ours = cpu_busy_s(), children_cpu_s()
    start = time.perf_counter()
    done = completed(Command((make, "test", f"UV={uv}"), project, PROJECT_ENV))
    seconds = time.perf_counter() - start
    after = cpu_busy_s()
    other = None
    if busy is not None and after is not None:
        other = max(after - busy - (children_cpu_s() - ours), 0.0)
    try:
        counts = pytest_counts(done.stdout)
    except ValueError as error:
        raise SystemExit(f"error: `make test` in {project}: {error}") from error
    return MakeTest(seconds, counts, other, cleared)


def measure(
    uv: str, make: str, cookiecutter: str, template: Path, repeats: int
) -> tuple[Results, list[str]]:
    """Bake each option set and run the default's tests; return the figures and the machine."""
    with tempfile.TemporaryDirectory(prefix="bench-project-") as tmp:
        work = Path(tmp)
        locks, lines = {}, {}
        trees: list[Tree] = []
        shared = 0
        for number, label in enumerate(OPTION_SETS):
            progress(f"baking {label} to count its lock")
            answers = () if label == DEFAULT else label.split()
            project = bake_project(cookiecutter, template, work / f"options-{number}", *answers)
            packages = read_lock(project / "uv.lock")
            locks[label] = len(packages)
            if label == DEFAULT:
                trees, shared = dependency_trees(packages)
            if label in (DEFAULT, EVERY_OPTION):
                source = project / "src" / project.name
                lines[label] = {folder: count(source / folder) for folder in ("runtime", "stages")}
        runs = []
        for number in range(repeats):
            progress(f"fresh bake {number + 1}/{repeats}: `make setup`, then `make test` timed")
            project = bake_project(cookiecutter, template, work / f"test-{number}")
            runs.append(time_make_test(uv, make, project))
        machine = describe_project_machine(uv, str(project / ".venv" / "bin" / "python"))
    return Results(project.name, runs, locks, trees, shared, lines), machine


def names(tree: Tree, most: int = 12) -> str:
    """Return the packages a dependency alone brings in, but itself, for a table cell: those
    that bring in most first, then how many more: "`dvc-s3`, `gto` and 3 more"."""
    found = [name for name in tree.biggest if name != tree.name]
    shown = [f"`{name}`" for name in found[:most]]
    more = len(found) - len(shown)
    return (", ".join(shown) or "none") + (f" and {more} more" if more else "")


def answers(label: str) -> str:
    """Return an option set as the section writes it: "default", "`search=optuna`"."""
    return label if label == DEFAULT else f"`{label}`"


def extras(tree: Tree) -> str:
    """Return the extras the project asks of a dependency as pip writes them: "[s3]"."""
    return f"[{','.join(tree.extras)}]" if tree.extras else ""


def tree_row(tree: Tree) -> str:
    """Return a dependency tree's row of the section's table."""
    name = f"`{tree.name}{extras(tree)}`"
    sizes = f"{len(tree.alone)} | {len(tree.reachable)}"
    return f"| {name} | {tree.group} | {sizes} | {names(tree)} |"


def median_seconds(results: Results) -> float:
    """The median wall time of `make test`."""
    return statistics.median(test.seconds for test in results.runs)


def outcome(counts: Mapping[str, int]) -> str:
    """Return pytest's counts as a phrase: "25 passed, 1 skipped"."""
    return ", ".join(f"{number} {word}" for word, number in counts.items())


def machine_share(results: Results) -> str:
    """Say how much of the CPU other work took during the timed runs."""
    cores = os.cpu_count() or 1
    others = [test.other_cpu_s for test in results.runs]
    if None in others:
        return "How busy the machine was with other work is unknown (no /proc/stat)."
    wall = sum(test.seconds for test in results.runs)
    share = sum(other or 0.0 for other in others) / (wall * cores)
    said = (
        f"Other processes used {share:.0%} of the machine's {cores} cores while `make test` ran "
        "(busy time in /proc/stat, this benchmark's own left out): "
    )
    if share > SHARED:
        return said + "the machine was shared with other work, so these times are upper bounds."
    return said + "the machine was otherwise idle."


def render(results: Results, machine: list[str], max_seconds: float, max_packages: int) -> str:
    """Return the markdown section, markers included."""
    package, default = results.package, results.locks[DEFAULT]
    median = median_seconds(results)
    time_verdict = "within" if median <= max_seconds else "**over**"
    lock_verdict = "within" if default <= max_packages else "**over**"
    alone = sum(len(tree.alone) for tree in results.trees)
    others = results.trees[TREES:]
    return "\n".join(
        [
            START,
            f"## {TITLE}",
            "",
            f"What a user of the default bake (`{package}`) gets: the time of its own "
            "`make test`, its lock, and the runtime it carries. Regenerate with `make bench` "
            "(`benchmarks/bench_project.py`).",
            "",
            f"### `make test` on a clean bake (goal {max_seconds:g} s)",
            "",
            f"Each of {len(results.runs)} runs on a new bake: `make setup UV=...` (untimed), "
            f"then every `__pycache__` under the project and its `.venv` deleted "
            f"({results.runs[-1].cleared} folders, written by setup's own commands), so that "
            "the run compiles its byte-code as a user's first one does, then `make test` "
            "timed (W&B off). Wall times in seconds.",
            "",
            "| Measure | Median | Min | Max |",
            "| --- | ---: | ---: | ---: |",
            row(
                f"`make test`: {outcome(results.runs[-1].counts)}",
                [test.seconds for test in results.runs],
            ),
            "",
            f"The median, {median:.1f} s, is {time_verdict} the goal of {max_seconds:g} s. "
            + machine_share(results),
            "",
            f"### Lock: `[[package]]` entries of `uv.lock` (goal {max_packages} for the default)",
            "",
            "Bakes only, nothing installed. A lock covers every platform and supported "
            "Python, so it holds more entries than one machine installs.",
            "",
            "| Answers | Entries |",
            "| --- | ---: |",
            *(f"| {answers(label)} | {entries:,} |" for label, entries in results.locks.items()),
            "",
            f"The default lock holds {default} entries: {lock_verdict} the goal of {max_packages}.",
            "",
            f"Its {min(TREES, len(results.trees))} biggest dependency trees. For each direct "
            "dependency of the project (the dev group's included): the entries reachable only "
            "through it, itself included when nothing else needs it, and all those it "
            "reaches, following the lock's `dependencies` entries (and the extras asked for) "
            "for every platform. The last column names the packages it alone brings in, "
            "those that bring in most of them first.",
            "",
            "| Direct dependency | Group | Only through it | All it reaches "
            "| What it alone brings in |",
            "| --- | --- | ---: | ---: | --- |",
            *(tree_row(tree) for tree in results.trees[:TREES]),
            "",
            f"Of the {default} entries: the project itself, {alone} reachable through one "
            f"direct dependency only ({sum(len(tree.alone) for tree in others)} of them through "
            f"the {len(others)} not listed), and {results.shared} shared by two or more.",
            "",
            "### Runtime lines with every option on",
            "",
            f"`wc -l src/{package}/runtime/*.py`, counted as `benchmarks/bench_size.py` does, "
            f"for the default bake and for {answers(EVERY_OPTION)}.",
            "",
            *runtime_table(results.lines),
            "",
            *machine_section(machine),
            END,
        ]
    )


def runtime_table(lines: Mapping[str, Mapping[str, Mapping[str, int]]]) -> list[str]:
    """Return the table of runtime lines, module by module, a column per option set."""
    labels = (DEFAULT, EVERY_OPTION)
    modules = sorted({name for label in labels for name in lines[label]["runtime"]})

    def cells(values: Iterable[str]) -> str:
        return " | ".join(values) + " |"

    return [
        "| Runtime module | " + cells(answers(label) for label in labels),
        "| --- | " + cells("---:" for _ in labels),
        *(
            f"| `{name}` | "
            + cells(
                f"{lines[label]['runtime'][name]:,}" if name in lines[label]["runtime"] else "-"
                for label in labels
            )
            for name in modules
        ),
        "| **Runtime** | "
        + cells(f"**{sum(lines[label]['runtime'].values()):,}**" for label in labels),
        "| Example stages (`stages/*.py`) | "
        + cells(f"{sum(lines[label]['stages'].values()):,}" for label in labels),
    ]


def measures(results: Results, max_seconds: float, max_packages: int) -> dict[str, object]:
    """The figures of the results file."""
    return {
        "package": results.package,
        "make_test": stats([test.seconds for test in results.runs]),
        "counts": results.runs[-1].counts,
        "other_cpu_s": [
            None if test.other_cpu_s is None else round(test.other_cpu_s, 2)
            for test in results.runs
        ],
        "cleared_pycache": [test.cleared for test in results.runs],
        "max_seconds": max_seconds,
        "lock_packages": results.locks,
        "max_packages": max_packages,
        "trees": [
            {
                "name": tree.name,
                "extras": list(tree.extras),
                "group": tree.group,
                "alone": len(tree.alone),
                "reachable": len(tree.reachable),
                "packages": list(tree.biggest),
            }
            for tree in results.trees[:TREES]
        ],
        "shared": results.shared,
        "runtime_lines": {label: counted["runtime"] for label, counted in results.lines.items()},
        "stages_lines": {
            label: sum(counted["stages"].values()) for label, counted in results.lines.items()
        },
    }


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = base_parser(__doc__, repeats=3)
    parser.add_argument(
        "--max-seconds",
        type=positive(float),
        default=MAX_SECONDS,
        help=f"largest allowed median `make test` time (default {MAX_SECONDS:g} s)",
    )
    parser.add_argument(
        "--max-packages",
        type=positive(int),
        default=MAX_PACKAGES,
        help=f"most [[package]] entries allowed in the default lock (default {MAX_PACKAGES})",
    )
    return parse(parser)


def main() -> int:
    """Measure, print the section, update the docs and results, and check both goals."""
    args = parse_args()
    make = shutil.which("make") or "make"
    results, machine = measure(
        args.uv, make, args.cookiecutter, args.template.resolve(), args.repeats
    )
    section = render(results, machine, args.max_seconds, args.max_packages)
    print(section)
    write_section(args.output, section, NAME)
    figures = measures(results, args.max_seconds, args.max_packages)
    write_results(args.results, NAME, TITLE, machine, figures)
    status = 0
    median = median_seconds(results)
    if median > args.max_seconds:
        status |= missed(
            f"the generated project's `make test` takes {median:.1f} s (median), over the goal "
            f"of {args.max_seconds:g} s; `make test PYTEST_ADDOPTS=--durations=10` in a bake "
            "names the slowest tests",
            args.quick,
        )
    if results.locks[DEFAULT] > args.max_packages:
        status |= missed(
            f"the default bake's uv.lock holds {results.locks[DEFAULT]} packages, over the goal "
            f"of {args.max_packages}; docs/benchmarks.md lists its biggest dependency trees",
            args.quick,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
