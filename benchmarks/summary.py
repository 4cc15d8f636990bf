"""Build the "At a glance" table of the benchmarks from the scripts' results files.

Each benchmark script writes its figures to benchmarks/results/NAME.json. This
script reads them all and writes one table, a row per measure with its median,
the number of timed runs and a link to the section with the details, between
the `<!-- summary:start -->` and `<!-- summary:end -->` markers of
docs/benchmarks.md (at its top) and of README.md (its Benchmarks section).
`make bench` runs it last; run alone, it rebuilds the table from the committed
results. A script that has not written its results file yet gets a row saying
so.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT, markers, write_section

NAME = "summary"
START, END = markers(NAME)
DOCS = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"
Record = Mapping[str, Any]


@dataclass(frozen=True)
class Row:
    """One line of the table: what was measured, its median, and how many timed runs."""

    measure: str
    median: str
    runs: str


def runs(figures: Record) -> str:
    """Return the number of timed runs behind a `stats()` entry of a results file."""
    return str(len(figures["samples"]))


def duration(seconds: float) -> str:
    """Return seconds for reading: "0.39 s", "57.4 s", "545 s (9:05)"."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 100:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    return f"{whole} s ({whole // 60}:{whole % 60:02d})"


def stage_list(stages: list[str]) -> str:
    """Return stage names as markdown, in order: "`train`, `evaluate`" or "none"."""
    return ", ".join(f"`{stage}`" for stage in stages) or "none"


def foundation(measures: Record) -> list[Row]:
    """Bake, `make setup`, and `--help` against a minimal Hydra app."""
    ratio = f"{measures['ratio']:.2f}x"
    if measures["ratio"] > measures["max_ratio"]:
        ratio = f"**{ratio}, over the limit**"
    project_help, minimal = measures["help"]["median"], measures["minimal_help"]["median"]
    return [
        Row(
            "Bake: `cookiecutter --no-input`",
            duration(measures["bake"]["median"]),
            runs(measures["bake"]),
        ),
        Row(
            "`make setup` from no .venv, warm uv cache",
            duration(measures["setup"]["median"]),
            runs(measures["setup"]),
        ),
        Row(
            f"`python -m {measures['package']} --help` against a minimal Hydra app "
            f"(limit {measures['max_ratio']:.1f}x)",
            f"{ratio} ({duration(project_help)} vs {duration(minimal)})",
            runs(measures["help"]),
        ),
    ]


def install(measures: Record) -> list[Row]:
    """The locked packages installed by uv and by pip, warm and, if measured, cold."""
    found = []
    labels = {
        "warm": "Locked packages into a fresh venv, warm caches: `uv sync` against "
        "`python3 -m venv` + `pip install -r`",
        "cold": "The same, empty caches (downloads included)",
    }
    for state, label in labels.items():
        if state not in measures:
            continue
        figures = measures[state]
        found.append(
            Row(
                label,
                f"{duration(figures['uv']['median'])} vs "
                f"{duration(figures['pip_total']['median'])}: {figures['ratio']:.0f}x, "
                f"{figures['ratio_compiled']:.1f}x if uv compiles byte-code too",
                runs(figures["uv"]),
            )
        )
    return found


def pipeline(measures: Record) -> list[Row]:
    """No-op `dvc repro`, and the stages a train-only change re-runs."""
    found = [
        Row(
            "No-op `dvc repro`",
            duration(measures["no_op"]["median"]),
            runs(measures["no_op"]),
        )
    ]
    if "no_op_make" in measures:  # results from before `make repro` refreshed params.yaml lack it
        found.append(
            Row(
                "No-op `make repro` (params.yaml refreshed, then `dvc repro`)",
                duration(measures["no_op_make"]["median"]),
                runs(measures["no_op_make"]),
            )
        )
    changes = {"exp_run": "`{command}`", "edit": "`{command}` after an edit of {edited}"}
    for key, label in changes.items():
        rerun = measures[key]
        if rerun is None:  # left out (--quick)
            continue
        change = label.format(**rerun)
        stages = stage_list(rerun["stages"])
        if rerun["stages"] != rerun["expected"]:
            stages = f"**{stages}** (expected {stage_list(rerun['expected'])})"
        found.append(Row(f"Stages re-run by {change}", stages, "1"))
    return found


def runs_ls(measures: Record) -> list[Row]:
    """`runs ls --last 3h` over many run folders."""
    median = measures["ls_last"]["median"]
    figure = duration(median)
    if median > measures["max_seconds"]:
        figure = f"**{figure}, over the target**"
    return [
        Row(
            f"`runs ls --last {measures['last']}` over {measures['runs']:,} runs "
            f"(target under {measures['max_seconds']:g} s)",
            figure,
            runs(measures["ls_last"]),
        )
    ]


def overhead(measures: Record) -> list[Row]:
    """The runtime's own work per run."""
    figures = measures["overhead_ms"]
    return [
        Row(
            f"Runtime overhead per run, stage body aside (target under "
            f"{measures['target_ms']:.0f} ms)",
            f"{figures['median']:.0f} ms",
            runs(figures),
        )
    ]


def size(measures: Record) -> list[Row]:
    """The runtime's line count, against its budget."""
    total, budget = measures["runtime"]["total"], measures["max_lines"]
    figure = f"{total:,} lines in {len(measures['runtime']['modules'])} modules"
    if sources := (measures.get("sources") or {}).get("total"):  # with every option's block
        figure += f" ({sources:,} in the template's sources)"
    if max(total, sources or 0) > budget:
        figure = f"**{figure}, over the budget**"
    return [
        Row(
            f"Runtime size: `wc -l src/{measures['package']}/runtime/*.py` "
            f"(budget {budget:,} lines; the example stages: {measures['stages']['total']:,})",
            figure,
            "",
        )
    ]


def suite(measures: Record) -> list[Row]:
    """The template's tests, tier by tier, and their sum."""
    found = []
    for tier, figures in measures["tiers"].items():
        counts = figures["counts"]
        failed = counts.get("failed", 0) + counts.get("error", 0)
        outcome = f"{counts.get('passed', 0)} passed" + (f", **{failed} failed**" if failed else "")
        found.append(
            Row(
                f"Template tests, `{tier}` tier",
                f"{duration(figures['seconds']['median'])}, {outcome}",
                runs(figures["seconds"]),
            )
        )
    found.extend(
        Row(f"Template tests, `{tier}` tier", "not run (`--tiers`)", "0")
        for tier in measures["not_run"]
    )
    label = "whole suite" if not measures["not_run"] else "tiers run"
    total = duration(measures["total_median"])
    found.append(Row(f"Template tests, {label} (sum of the tiers)", total, ""))
    return found


def tables(measures: Record) -> list[Row]:
    """prepare + featurize against a plain pandas script, and the pipeline on the big table."""
    judged = next(size for size in measures["sizes"] if size["rows"] == measures["judged_rows"])
    stages, plain = judged["stages"], judged["baseline"]
    time_ratio = f"{judged['time_ratio']:.2f}x time"
    if judged["time_ratio"] > measures["max_time_ratio"]:
        time_ratio = f"**{time_ratio}, over the limit**"
    memory_ratio = f"{judged['memory_ratio']:.2f}x memory"
    if judged["memory_ratio"] > measures["max_memory_ratio"]:
        memory_ratio = f"**{memory_ratio}, over the limit**"
    repro = measures["repro"]
    disk = f"{repro['disk_ratio']:.2f}x ({repro['data_bytes'] / 1e6:,.0f} MB)"
    if repro["disk_ratio"] > measures["max_disk_ratio"]:
        disk = f"**{disk}, over the limit**"
    return [
        Row(
            f"`prepare` + `featurize` against a plain pandas script, {judged['rows']:,} rows "
            f"(limits {measures['max_time_ratio']:g}x time, {measures['max_memory_ratio']:g}x "
            "peak memory)",
            f"{time_ratio} ({duration(stages['seconds']['median'])} vs "
            f"{duration(plain['seconds']['median'])}), {memory_ratio} "
            f"({stages['peak_mib']['median']:,.0f} vs {plain['peak_mib']['median']:,.0f} MiB)",
            runs(stages["seconds"]),
        ),
        Row(
            f"Whole pipeline, `dvc repro`, {repro['rows']:,} rows "
            f"(`train.epochs={repro['epochs']}`)",
            f"{duration(repro['seconds'])}, peak {repro['peak_mib']:,.0f} MiB",
            "1",
        ),
        Row(
            f"Disk under `data/` after it, raw CSV included, against the CSV "
            f"(limit {measures['max_disk_ratio']:g}x)",
            disk,
            "1",
        ),
    ]


def tracking(measures: Record) -> list[Row]:
    """What W&B adds to a stage: offline, and online with a server that never answers."""
    added = measures["added_s"]
    rows = []
    for name, label, target in (
        ("offline", "W&B offline, added to a stage", measures["offline_target_s"]),
        (
            "silent_first",
            "W&B online, silent server, added to the first stage",
            measures["fallback_target_s"],
        ),
    ):
        figure = f"{added[name]:+.2f} s"
        if added[name] > target:
            figure = f"**{figure}, over the target**"
        rows.append(Row(f"{label} (target {target:g} s)", figure, runs(measures[name])))
    return rows


def torch(measures: Record) -> list[Row]:
    """The pytorch variant's training throughput against a bare loop, and its setup."""
    rows = []
    for name, figures in measures["throughput"].items():
        ratio = f"{figures['ratio']:.2f}x the bare loop's rows/s"
        if name == measures["judged"] and figures["ratio"] < measures["min_ratio"]:
            ratio = f"**{ratio}, under the target**"
        target = f" (target {measures['min_ratio']:g})" if name == measures["judged"] else ""
        rows.append(
            Row(f"pytorch `train`, {name} network, CPU{target}", ratio, runs(figures["variant"]))
        )
    setup = ", ".join(f"{kind} {duration(seconds)}" for kind, seconds in measures["setup"].items())
    rows.append(Row("pytorch `make setup`", setup, "1"))
    return rows


def project(measures: Record) -> list[Row]:
    """A generated project's own `make test` on a clean bake, and its default lock's size."""
    test, goal = measures["make_test"], measures["max_seconds"]
    figure = f"{duration(test['median'])}, {measures['counts'].get('passed', 0)} passed"
    if test["median"] > goal:
        figure = f"**{figure}, over the goal**"
    locks, most = measures["lock_packages"], measures["max_packages"]
    others = "; ".join(f"{answers}: {n}" for answers, n in locks.items() if answers != "default")
    entries = f"{locks['default']}"
    if locks["default"] > most:
        entries = f"**{entries}, over the goal**"
    return [
        Row(
            f"A generated project's own `make test`, clean bake, no byte-code yet "
            f"(goal {goal:g} s)",
            figure,
            runs(test),
        ),
        Row(
            f"`[[package]]` entries of the default bake's `uv.lock` (goal {most}; {others})",
            entries,
            "",
        ),
    ]


# The results files, in the order of the sections, and the rows each gives.
SECTIONS: dict[str, Callable[[Record], list[Row]]] = {
    "foundation": foundation,
    "install": install,
    "pipeline": pipeline,
    "runs": runs_ls,
    "overhead": overhead,
    "tracking": tracking,
    "tables": tables,
    "suite": suite,
    "size": size,
    "torch": torch,
    "project": project,
}


# Counted, not timed: the same on any machine, so left out of the machine sentence.
UNTIMED = ("size",)


def anchor(heading: str) -> str:
    """Return the anchor GitHub gives a heading: "Run records: `ls`" -> "run-records-ls"."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(docs: str) -> dict[str, str]:
    """Return each section's heading in the docs, by section name."""
    found = {}
    for name in SECTIONS:
        start, _ = markers(name)
        match = re.search(re.escape(start) + r"\n## (.+)", docs)
        if match:
            found[name] = match[1]
    return found


def link(heading: str | None, prefix: str) -> str:
    """Return a markdown link to a section: its heading up to the colon."""
    if heading is None:
        return "(no section yet)"
    return f"[{heading.split(':')[0].replace('`', '')}]({prefix}#{anchor(heading)})"


def machines(records: Mapping[str, Record]) -> str:
    """Return the sentence saying which machine, and on which dates, the figures were taken."""
    described = set()
    dates = set()
    for name, record in records.items():
        if name in UNTIMED:
            continue
        fields = dict(line.partition(": ")[::2] for line in record["machine"] if ": " in line)
        described.add(f"{fields.get('CPU')}, {fields.get('Memory')} of memory, {fields.get('OS')}")
        if "Date" in fields:
            dates.add(fields["Date"])
    where = described.pop() if len(described) == 1 else "several machines (see each section)"
    when = " to ".join(sorted({min(dates), max(dates)})) if dates else "unknown dates"
    return f"Measured on {where}; {when}."


def render(records: Mapping[str, Record], titles: Mapping[str, str], prefix: str) -> list[str]:
    """Return the table and the machine sentence, without markers or heading."""
    lines = ["| Measure | Median | Runs | Details |", "| --- | ---: | ---: | --- |"]
    for name, rows_of in SECTIONS.items():
        where = link(titles.get(name), prefix)
        if name not in records:
            lines.append(f"| `benchmarks/bench_{name}.py` | no results file yet | | {where} |")
            continue
        for entry in rows_of(records[name]["measures"]):
            lines.append(f"| {entry.measure} | {entry.median} | {entry.runs} | {where} |")
    text = "Runs: timed runs behind each median; the sections give min and max. " + (
        machines(records) if records else "Nothing measured yet: run `make bench`."
    )
    return [*lines, "", text]


def read_records(folder: Path) -> dict[str, Record]:
    """Return the results files present in `folder`, by section name."""
    found = {}
    for name in SECTIONS:
        path = folder / f"{name}.json"
        if path.is_file():
            found[name] = json.loads(path.read_text(encoding="utf-8"))
    return found


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of NAME.json")
    parser.add_argument("--output", type=Path, default=DOCS, help="the benchmarks page")
    parser.add_argument(
        "--readme",
        type=Path,
        default=README,
        help="the README whose summary markers get the table too (skipped without them)",
    )
    return parser.parse_args()


def main() -> int:
    """Read the results, write the table into the benchmarks page and the README."""
    args = parse_args()
    records = read_records(args.results)
    docs = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
    titles = headings(docs)
    section = "\n".join([START, "## At a glance", "", *render(records, titles, ""), END])
    print(section)
    write_section(args.output, section, NAME)
    if args.readme.exists() and START in args.readme.read_text(encoding="utf-8"):
        prefix = os.path.relpath(args.output.resolve(), args.readme.resolve().parent)
        write_section(args.readme, "\n".join([START, *render(records, titles, prefix), END]), NAME)
    else:
        print(f"note: {args.readme} has no {START} marker; left as it is", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
