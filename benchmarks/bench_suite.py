"""Time the template's own test suite, tier by tier.

The tiers are the pytest markers of tests/ (pyproject.toml): `render` (bakes
and files, seconds), `quality` (linters, type checks, each Python's tests,
minutes) and `e2e` (installed projects run end to end, minutes). Each tier
runs on its own with the options `make test` uses:

    uv run --frozen pytest -n 2 --dist loadfile -m TIER

and its wall time and pytest's counts (passed, failed, skipped...) are kept.
The whole suite is the sum of the tiers. One run each by default, since the
suite takes minutes; --repeats gives medians of more, --tiers runs only some.

Writes the `<!-- suite:start -->` section of docs/benchmarks.md and
benchmarks/results/suite.json; exits 1 when a tier has a failure or an error,
when pytest collects no test for it (exit code 5), or ends in any other error.
--quick (the smoke run inside `make test`, which must not run the suite inside
itself) only collects the render tier: `pytest --collect-only -m render`.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from _common import (
    OUTPUT_TAIL,
    Command,
    base_parser,
    describe,
    environment,
    machine_section,
    markers,
    parse,
    run,
    say,
    stats,
    uv_version,
    write_results,
    write_section,
)

NAME = "suite"
TITLE = "Test suite: wall time by tier"
START, END = markers(NAME)
TARGET_S = 300  # `make test` within 5 minutes: reported beside the figures, not enforced
TIERS = ("render", "quality", "e2e")
MAKE_TEST = ("run", "--frozen", "pytest", "-n", "2", "--dist", "loadfile")
COLLECT = ("run", "--frozen", "pytest", "--collect-only", "-q")
QUICK_TIERS = ("render",)
NO_TESTS_COLLECTED = 5
# pytest's closing line, e.g. "==== 1 failed, 40 passed, 3 deselected in 61.20s (0:01:01) ====".
SUMMARY_LINE = re.compile(r"^=+ (?P<counts>.+?) in [\d.]+s(?: \([\d:]+\))? =+$")
COUNT = re.compile(r"(\d+) ([a-z]+)")
SINGULAR = {"errors": "error", "warnings": "warning"}
RAN = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
VERSIONS = (
    "import platform, pytest, xdist; "
    "print(platform.python_version(), pytest.__version__, xdist.__version__)"
)


@dataclass(frozen=True)
class TierRun:
    """One pytest run of a tier: its wall time, exit code and counts."""

    seconds: float
    exit_code: int
    counts: dict[str, int]
    output: str


def progress(message: str) -> None:
    """Say what is being measured, on stderr, so stdout holds only the section."""
    say("bench_suite", message)


def pytest_counts(output: str) -> dict[str, int]:
    """Return the counts of pytest's last summary line: {"passed": 40, "deselected": 3}.

    "no tests ran" gives no counts; plurals are made singular ("errors" -> "error").
    Raises ValueError when the output has no summary line.
    """
    for line in reversed(output.splitlines()):
        match = SUMMARY_LINE.match(line.strip())
        if match:
            return {
                SINGULAR.get(word, word): int(number)
                for number, word in COUNT.findall(match["counts"])
            }
    raise ValueError("pytest printed no summary line")


def ran(counts: Mapping[str, int]) -> int:
    """Return how many tests ran (passed, failed, errored, skipped or x-ed), or were collected."""
    return counts.get("collected", 0) + sum(counts.get(word, 0) for word in RAN)


def problems(tier: str, exit_code: int, counts: Mapping[str, int]) -> list[str]:
    """Return what went wrong with a tier's run, one sentence each; none when it passed.

    A --quick run only collects: its counts are {"collected": N}, and N tests suffice.
    """
    if exit_code == NO_TESTS_COLLECTED:
        return [f"`-m {tier}` collected no tests (pytest exit code 5)"]
    if "collected" in counts and exit_code == 0:
        return []
    found = [f"{counts[word]} {word}" for word in ("failed", "error") if counts.get(word, 0) > 0]
    if exit_code != 0 and not found:
        found.append(f"pytest ended with exit code {exit_code}")
    if exit_code == 0 and counts.get("passed", 0) == 0:
        found.append("no test passed")
    return [f"`-m {tier}`: {problem}" for problem in found]


def run_tier(uv: str, template: Path, tier: str, quick: bool = False) -> TierRun:
    """Run one tier's tests as `make test` would; return its time, exit code and counts.

    With `quick`, only collect them; the counts are then {"collected": N}.
    """
    argv = (uv, *(COLLECT if quick else MAKE_TEST), "--color=no", "-m", tier)
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv, cwd=template, env=environment(), capture_output=True, text=True, check=False
        )
    except OSError as error:
        raise SystemExit(f"error: cannot run {uv}: {error}") from error
    seconds = time.perf_counter() - start
    output = done.stdout + done.stderr
    if quick:
        return TierRun(seconds, done.returncode, {"collected": collected(done.stdout)}, output)
    try:
        counts = pytest_counts(done.stdout)
    except ValueError:
        counts = {}  # pytest stopped before its summary; the exit code says why
    return TierRun(seconds, done.returncode, counts, output)


def collected(output: str) -> int:
    """Return how many tests `pytest --collect-only -q` listed (one `path::name` line each)."""
    return sum("::" in line for line in output.splitlines())


def unmarked(uv: str, template: Path) -> int:
    """Return how many tests carry no tier marker, so that no tier runs them."""
    expression = " and ".join(f"not {tier}" for tier in TIERS)
    argv = (uv, *COLLECT, "-m", expression)
    done = subprocess.run(
        argv, cwd=template, env=environment(), capture_output=True, text=True, check=False
    )
    if done.returncode == NO_TESTS_COLLECTED:
        return 0
    if done.returncode != 0:
        raise SystemExit(f"error: `pytest --collect-only` failed:\n{done.stdout + done.stderr}")
    return collected(done.stdout)


def minutes(seconds: float) -> str:
    """Return a duration as "m:ss", e.g. 545.2 -> "9:05"."""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def total_median(results: Mapping[str, list[TierRun]]) -> float:
    """Return the sum of the tiers' median wall times."""
    return sum(
        statistics.median(tier_run.seconds for tier_run in runs) for runs in results.values()
    )


def tier_row(tier: str, runs: list[TierRun]) -> str:
    """One table row: the last run's counts, then the median, min and max wall time."""
    counts = runs[-1].counts
    failed = counts.get("failed", 0) + counts.get("error", 0)
    times = [tier_run.seconds for tier_run in runs]
    cells = [
        f"`{tier}`",
        str(ran(counts)),
        str(counts.get("passed", 0)),
        str(counts.get("skipped", 0)),
        str(failed),
        *(f"{value:.1f}" for value in (statistics.median(times), min(times), max(times))),
        minutes(statistics.median(times)),
    ]
    return "| " + " | ".join(cells) + " |"


def render(
    results: Mapping[str, list[TierRun]],
    repeats: int,
    untiered: int,
    found: list[str],
    machine: list[str],
    quick: bool = False,
) -> str:
    """Return the markdown section, markers included."""
    total = total_median(results)
    tests = sum(ran(runs[-1].counts) for runs in results.values())
    skipped = [tier for tier in TIERS if tier not in results]
    label = "Whole suite" if not skipped else "Tiers run"
    left_out = (
        f" Not run this time: {', '.join(f'`{tier}`' for tier in skipped)} "
        f"(`{'--quick' if quick else '--tiers'}`)."
        if skipped
        else ""
    )
    coverage = (
        "Every test carries a tier marker, so the tiers together run the whole suite."
        if untiered == 0
        else f"**{untiered} tests carry no tier marker**: no tier runs them, `make test` does."
    )
    passed = "Every tier collected." if quick else "Every tier passed."
    verdict = passed if not found else "**Failures:** " + "; ".join(found) + "."
    how = (
        f"with the options of `make test`: `uv {' '.join(MAKE_TEST)} -m TIER`"
        if not quick
        else f"collected only (`--quick`): `uv {' '.join(COLLECT)} -m TIER`, no test run"
    )
    repeat_text = (
        "one run each (the default: the suite takes minutes; `--repeats N` for medians)"
        if repeats == 1
        else f"medians of {repeats} runs each"
    )
    return "\n".join(
        [
            START,
            f"## {TITLE}",
            "",
            f"The template's own tests (`tests/`), one pytest session per tier, {how}. "
            f"Wall time in seconds, start-up, bakes and installs included; {repeat_text}. "
            "Counts are those of the last run. Regenerate with `make bench` "
            f"(`benchmarks/bench_suite.py`).{left_out}",
            "",
            "| Tier | Tests | Passed | Skipped | Failed | Median | Min | Max | m:ss |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *(tier_row(tier, runs) for tier, runs in results.items()),
            f"| {label} (sum of medians) | {tests} | | | | {total:.1f} | | | {minutes(total)} |",
            "",
            "`make test` runs all tiers in one session; the sum stands for it, a little above "
            "it, since each tier's session makes its own bakes and balances its own two "
            f"workers. {coverage} {verdict}",
            "",
            f"Target: `make test` within {TARGET_S // 60} minutes on 2 cores; the sum is "
            f"{'within' if total <= TARGET_S else 'OVER'} it. Not enforced: the suite is "
            "CPU-bound (real DVC, W&B, scikit-learn and pandas start-ups in about 20 installed "
            "projects), and meeting it on 2 cores would mean dropping end-to-end scenarios.",
            "",
            *machine_section(machine),
            END,
        ]
    )


def measures(
    results: Mapping[str, list[TierRun]], untiered: int, found: list[str]
) -> dict[str, object]:
    """The figures of the results file."""
    return {
        "tiers": {
            tier: {
                "seconds": stats([tier_run.seconds for tier_run in runs]),
                "counts": runs[-1].counts,
                "exit_codes": [tier_run.exit_code for tier_run in runs],
            }
            for tier, runs in results.items()
        },
        "total_median": round(total_median(results), 4),
        "not_run": [tier for tier in TIERS if tier not in results],
        "untiered": untiered,
        "problems": found,
    }


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = base_parser(__doc__, repeats=1)
    parser.add_argument(
        "--tiers",
        nargs="+",
        choices=TIERS,
        default=list(TIERS),
        help="the tiers to run (default: all, in this order)",
    )
    return parse(parser)


def main() -> int:
    """Run the tiers, print the section, update the docs and results; 1 on any failure."""
    args = parse_args()
    template = args.template.resolve()
    chosen = QUICK_TIERS if args.quick else args.tiers  # the suite must not run inside itself
    tiers = [tier for tier in TIERS if tier in chosen]
    results: dict[str, list[TierRun]] = {tier: [] for tier in tiers}
    found: list[str] = []
    for number in range(1, args.repeats + 1):
        for tier in tiers:
            progress(f"run {number} of {args.repeats}: pytest -m {tier}")
            tier_run = run_tier(args.uv, template, tier, args.quick)
            results[tier].append(tier_run)
            progress(f"pytest -m {tier}: {tier_run.seconds:.1f} s, {tier_run.counts}")
            tier_problems = problems(tier, tier_run.exit_code, tier_run.counts)
            if tier_problems:
                print(tier_run.output[-OUTPUT_TAIL:], file=sys.stderr)
            found.extend(problem for problem in tier_problems if problem not in found)
    progress("counting the tests no tier runs")
    untiered = unmarked(args.uv, template)
    versions = Command((args.uv, "run", "--frozen", "python", "-c", VERSIONS), template)
    python, pytest, xdist = run(versions).split()
    machine = describe(
        f"Python {python}, pytest {pytest}, pytest-xdist {xdist}, {uv_version(args.uv)}"
    )
    section = render(results, args.repeats, untiered, found, machine, args.quick)
    print(section)
    write_section(args.output, section, NAME)
    write_results(args.results, NAME, TITLE, machine, measures(results, untiered, found))
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
