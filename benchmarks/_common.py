"""Helpers shared by the benchmark scripts: commands, timing, machine, markdown.

Each script owns one section of docs/benchmarks.md, between the markers
`<!-- NAME:start -->` and `<!-- NAME:end -->`, and replaces only that section.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
HEADER = """\
# Benchmarks

Timings of the template, measured on the machine each section describes. Each
section belongs to one script in `benchmarks/`, which replaces it when it runs
again. Regenerate them all with `make bench`.

<!-- summary:start -->
<!-- summary:end -->
"""
OUTPUT_TAIL = 3000
# What a benchmark's commands in a baked project run with: W&B off (it would only add
# seconds per stage, and want an account) and a git identity for commits, DVC's included.
PROJECT_ENV = {
    "WANDB_MODE": "disabled",
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


@dataclass(frozen=True)
class Command:
    """A command line, the folder it runs in, and variables added to its environment."""

    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Tools:
    """The executables the benchmark runs."""

    uv: str
    cookiecutter: str
    make: str


def _cookiecutter_config() -> str:
    """A throw-away cookiecutter config, so bakes leave no replay files in the home folder."""
    home = Path(tempfile.mkdtemp(prefix="bench-cookiecutter-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    config = home / "config.yaml"
    config.write_text(f"cookiecutters_dir: {home}/templates\nreplay_dir: {home}/replay\n")
    return str(config)


COOKIECUTTER_CONFIG = _cookiecutter_config()


def environment() -> dict[str, str]:
    """Return the commands' environment: no Python downloads, outer venv or .pyc ban."""
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", COOKIECUTTER_CONFIG=COOKIECUTTER_CONFIG)
    # Start-up is measured as users see it from the second run on: byte-code cached.
    for name in ("VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    return env


def completed(command: Command) -> subprocess.CompletedProcess[str]:
    """Run a command to completion and return its outcome; exit on failure."""
    try:
        done = subprocess.run(
            command.argv,
            cwd=command.cwd,
            env=environment() | dict(command.env),
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as error:
        raise SystemExit(f"error: cannot run {command.argv[0]}: {error}") from error
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-OUTPUT_TAIL:]
        raise SystemExit(
            f"error: `{shlex.join(command.argv)}` failed with exit code "
            f"{done.returncode} in {command.cwd}:\n{output}"
        )
    return done


def run(command: Command) -> str:
    """Run a command to completion and return its stdout; exit on failure."""
    return completed(command).stdout


def timed(command: Command) -> float:
    """Run a command; return its wall time in seconds."""
    start = time.perf_counter()
    run(command)
    return time.perf_counter() - start


def say(script: str, message: str) -> None:
    """Print a progress message on stderr, so stdout holds only the section."""
    print(f"{script}: {message}", file=sys.stderr, flush=True)


def bake_command(cookiecutter: str, template: Path, out: Path, *answers: str) -> Command:
    """Return the command baking the template into `out`: default answers but `answers`."""
    return Command((cookiecutter, "--no-input", str(template), "-o", str(out), *answers), out)


def bake_project(cookiecutter: str, template: Path, out: Path, *answers: str) -> Path:
    """Bake the template into `out`; return the one project folder made."""
    out.mkdir()
    run(bake_command(cookiecutter, template, out, *answers))
    (project,) = out.iterdir()
    return project


def proc_field(path: str, key: str) -> str | None:
    """Return the value of the first `key: value` line of a /proc file, or None."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def memory() -> str:
    """Return the machine's total memory in GiB, from /proc/meminfo."""
    total = proc_field("/proc/meminfo", "MemTotal")  # e.g. "24684096 kB"
    if total is None:
        return "unknown"
    return f"{int(total.split()[0]) / 1024**2:.1f} GiB"


def uv_version(uv: str) -> str:
    """Return uv's name and version, e.g. "uv 0.13.9"."""
    return " ".join(run(Command((uv, "--version"), ROOT)).split()[:2])


def describe(versions: str) -> list[str]:
    """Describe the machine, then the `versions` measured, one markdown bullet each."""
    cpu = proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown"
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores",
        f"Memory: {memory()}",
        f"OS: {platform.system()} {platform.release()}",
        versions,
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d}",
    ]


def row(label: str, samples: list[float]) -> str:
    """Return one table row: the median, min and max of the samples."""
    stats = (statistics.median(samples), min(samples), max(samples))
    return f"| {label} | " + " | ".join(f"{value:.3f}" for value in stats) + " |"


def stats(samples: Sequence[float]) -> dict[str, object]:
    """Return the median, min and max of the samples, and the samples, for a results file."""
    return {
        "median": round(statistics.median(samples), 4),
        "min": round(min(samples), 4),
        "max": round(max(samples), 4),
        "samples": [round(sample, 4) for sample in samples],
    }


def write_results(
    folder: Path, name: str, title: str, machine: list[str], measures: Mapping[str, object]
) -> Path:
    """Write a script's figures to `folder/NAME.json`, which benchmarks/summary.py reads."""
    record = {"name": name, "title": title, "machine": machine, "measures": measures}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def markers(name: str) -> tuple[str, str]:
    """Return the start and end markers of a script's section."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_section(path: Path, section: str, name: str) -> None:
    """Put the section in `path` between its markers, replacing any earlier one.

    Without the markers, the section goes at the end (after HEADER in a new file).
    """
    start_marker, end_marker = markers(name)
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    before, start, rest = text.partition(start_marker)
    if start:
        _, end, after = rest.partition(end_marker)
        if not end:
            raise SystemExit(f"error: {path} has {start_marker} but no {end_marker}")
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """Return an argparse type accepting only positive numbers of `kind`."""

    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} is not positive")
        return value

    return parse


def executable(text: str) -> str:
    """Return a command name as given, or a path made absolute (commands run elsewhere)."""
    return os.path.abspath(text) if os.sep in text else text


def base_parser(doc: str | None, repeats: int = 5) -> argparse.ArgumentParser:
    """A parser with the options every benchmark takes: template, repeats, tools, output, quick."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--template", type=Path, default=ROOT, help="template folder")
    parser.add_argument(
        "--repeats",
        type=positive(int),
        help=f"timed runs (default {repeats}; 1 with --quick)",
    )
    parser.add_argument(
        "--uv", type=executable, default=shutil.which("uv") or "uv", help="uv executable"
    )
    parser.add_argument(
        "--cookiecutter",
        type=executable,
        default=shutil.which("cookiecutter") or "cookiecutter",
        help="cookiecutter executable",
    )
    parser.add_argument(
        "--output", type=Path, help="markdown file holding the section (default docs/benchmarks.md)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="folder of the machine-readable results (NAME.json) the summary is built from "
        "(default benchmarks/results)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (`make test` runs one per script): one repeat, tiny sizes, timing "
        "targets reported but not enforced; writes to a temporary folder, never to the docs",
    )
    parser.set_defaults(default_repeats=repeats)
    return parser


def parse(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the command line; refuse a --template that is not a cookiecutter template.

    With --quick, --output and --results default to a new temporary folder and may not
    name the committed page or results, so a smoke run's figures never replace real ones.
    """
    args = parser.parse_args()
    if not (args.template / "cookiecutter.json").is_file():
        parser.error(f"{args.template} is not a cookiecutter template")
    if args.repeats is None:
        args.repeats = 1 if args.quick else args.default_repeats
    if not args.quick:
        args.output = args.output or DOCS
        args.results = args.results or RESULTS
        return args
    for given, kept in ((args.output, DOCS), (args.results, RESULTS)):
        if given is not None and given.resolve() == kept.resolve():
            parser.error(f"--quick never writes to {kept}; give another --output and --results")
    if args.output is None or args.results is None:
        scratch = Path(tempfile.mkdtemp(prefix="bench-quick-"))
        args.output = args.output or scratch / "benchmarks.md"
        args.results = args.results or scratch / "results"
    print(f"quick run: section in {args.output}, results in {args.results}", file=sys.stderr)
    return args


def missed(problem: str, quick: bool) -> int:
    """Report a missed timing target; return the exit status: 1, or 0 in a --quick run.

    A smoke run times one repeat on a machine busy with other tests: its figures show
    that the benchmark works, not how fast the template is.
    """
    if quick:
        print(f"note: {problem} (not enforced with --quick)", file=sys.stderr)
        return 0
    print(f"error: {problem}", file=sys.stderr)
    return 1


# Versions read from the project's own interpreter: the tools as that project runs them.
PROJECT_VERSIONS = (
    "import dvc, hydra, platform; "
    "print(platform.python_version(), hydra.__version__, dvc.__version__)"
)


def describe_project_machine(uv: str, python: str, with_dvc: bool = False) -> list[str]:
    """Describe the machine and the versions a baked project runs with."""
    python_version, hydra_version, dvc_version = run(
        Command((python, "-c", PROJECT_VERSIONS), ROOT)
    ).split()
    tools = f"Python {python_version}, " + (f"dvc {dvc_version}, " if with_dvc else "")
    return describe(f"{tools}hydra-core {hydra_version}, {uv_version(uv)}")


def machine_section(machine: list[str]) -> list[str]:
    """The closing "Machine:" list of a benchmark section."""
    return ["Machine:", "", *(f"- {line}" for line in machine)]
