"""Install a baked project's locked packages with uv, then with pip, and compare.

Bakes the default project and exports its lock (`uv export --frozen
--no-hashes --no-emit-project`): every locked package, dev group included,
pinned to one version. Then, on the machine running this script, as medians
of N repeats, alternating:

1. `uv sync --frozen --no-install-project` into a fresh .venv, with a warm uv
   cache (the project's own package left out, as in the export);
2. the same with `--compile-bytecode`, since pip compiles byte-code as it
   installs and uv leaves that to the first import;
3. `python3 -m venv` and then, in that venv, `python -m pip install -r
   requirements.txt`, with pip's own cache warm.

One untimed run of each warms the caches first. Both use the same interpreter,
and pip reads no configuration (`--isolated`, `PIP_CONFIG_FILE=/dev/null`), so
it fetches from PyPI, as uv does from the lock. With --cold-repeats above zero
it also times both with an empty cache of their own (downloads from PyPI).

Writes the `<!-- install:start -->` section of docs/benchmarks.md and
benchmarks/results/install.json; exits 1 when the two venvs do not hold the
same packages at the same versions. --quick (the smoke run inside `make test`)
times one plain uv install and checks it against the export; byte-code
compiling and pip, which take minutes (pip needs PyPI too), are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from _common import (
    Command,
    bake_project,
    base_parser,
    describe,
    machine_section,
    markers,
    parse,
    row,
    run,
    say,
    stats,
    timed,
    uv_version,
    write_results,
    write_section,
)

NAME = "install"
TITLE = "Install: uv sync against pip, same packages"
START, END = markers(NAME)
EXPORT = ("export", "--frozen", "--format", "requirements.txt", "--no-hashes", "--no-emit-project")
UV_SYNC = ("sync", "--frozen", "--no-install-project")
COMPILE = "--compile-bytecode"
# pip seeds every `python -m venv`; uv makes venvs without them.
SEEDED = frozenset({"pip", "setuptools", "wheel"})
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;]+)\s*(?:;.*)?$")
INSTALLED = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
)
REAL_PYTHON = "import os, sys; print(os.path.realpath(sys.executable))"


@dataclass(frozen=True)
class Installs:
    """Wall times in seconds of the uv and pip installs, one sample per repeat."""

    uv: list[float]
    uv_compiled: list[float]
    venv: list[float]
    pip: list[float]

    @property
    def pip_ran(self) -> bool:
        """Whether pip (and uv compiling byte-code) was timed: not in a --quick run."""
        return bool(self.pip)

    @property
    def pip_total(self) -> list[float]:
        """`python -m venv` plus `pip install`, per repeat."""
        return [venv + pip for venv, pip in zip(self.venv, self.pip, strict=True)]

    @property
    def ratio(self) -> float:
        """Median time of venv plus pip over that of uv."""
        return statistics.median(self.pip_total) / statistics.median(self.uv)

    @property
    def ratio_compiled(self) -> float:
        """Median time of venv plus pip over that of uv compiling byte-code too."""
        return statistics.median(self.pip_total) / statistics.median(self.uv_compiled)


@dataclass(frozen=True)
class Results:
    """The warm installs, the cold ones (possibly none), and what was installed."""

    package: str
    pins: int
    installed: int
    pip_http_cache: int
    warm: Installs
    cold: Installs | None


def progress(message: str) -> None:
    """Say what is being measured, on stderr, so stdout holds only the section."""
    say("bench_install", message)


def normalized(name: str) -> str:
    """Return a distribution name in its normal form (PEP 503): "Foo_Bar" -> "foo-bar"."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(text: str) -> list[tuple[str, str]]:
    """Return the pins `uv export` wrote, in order: (normalized name, version).

    A name may come more than once, pinned to other versions for other
    environment markers. Exits when a requirement is not `name==version`.
    """
    pins = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(("#", " ")):
            continue  # comments, and the indented "# via" notes
        match = PIN.match(line)
        if match is None:
            raise SystemExit(f"error: `uv export` wrote a requirement that is not pinned: {line}")
        pins.append((normalized(match["name"]), match["version"]))
    return pins


def mismatches(
    pins: Iterable[tuple[str, str]], by_uv: Mapping[str, str], by_pip: Mapping[str, str]
) -> list[str]:
    """Return how the packages uv and pip installed differ, one sentence each.

    Both venvs must hold the same packages at the same versions, each a version
    the export pinned; the pip venv may also hold pip's own seed packages.
    """
    pinned = set(pins)
    uv_set = {normalized(name): version for name, version in by_uv.items()}
    pip_set = {normalized(name): version for name, version in by_pip.items()}
    found = []
    for name, version in sorted(uv_set.items()):
        if (name, version) not in pinned:
            found.append(f"uv installed {name} {version}, which the export does not pin")
        if name not in pip_set:
            found.append(f"uv installed {name} {version}, pip did not")
        elif pip_set[name] != version:
            found.append(f"uv installed {name} {version}, pip {pip_set[name]}")
    for name in sorted(pip_set.keys() - uv_set.keys() - SEEDED):
        found.append(f"pip installed {name} {pip_set[name]}, uv did not")
    return found


def runs(count: int) -> str:
    """Return "1 run" or "N runs"."""
    return f"{count} run" + ("" if count == 1 else "s")


def tree_size(folder: Path) -> int:
    """Return the bytes of the files under a folder (0 if there is none)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def pip_cache_text(http_bytes: int) -> str:
    """Say what pip's HTTP cache, where it keeps the wheels it downloads, held when warm."""
    if http_bytes >= 2**20:
        return f"pip's HTTP cache held {http_bytes / 2**20:.0f} MB after the warm-up."
    return (
        f"**pip's HTTP cache held {http_bytes / 2**10:.0f} kB after the warm-up:** the "
        "responses that reached it carried no caching headers (a proxy between this "
        "machine and PyPI can drop them), so its warm installs downloaded every wheel "
        "again, and only the wheels it built itself came from its cache. Where PyPI's "
        "headers reach pip, its warm installs reuse the wheels and take less time."
    )


def tool_version(output: str) -> str:
    """Return a tool's name and version from its `--version` line, e.g. "pip 23.2.1"."""
    return " ".join(output.split()[:2])


@dataclass(frozen=True)
class Installer:
    """The commands installing the exported packages with uv, and with pip."""

    uv: str
    python: str
    project: Path
    requirements: Path
    pip_venv: Path

    def uv_sync(self, cache: Path | None, *options: str) -> Command:
        """`uv sync` into the project's .venv, with the given cache or uv's own."""
        env = {} if cache is None else {"UV_CACHE_DIR": str(cache)}
        argv = (self.uv, *UV_SYNC, *options, "--python", self.python)
        return Command(argv, self.project, env)

    def make_venv(self) -> Command:
        """`python3 -m venv`: the venv pip installs into, pip seeded."""
        return Command((self.python, "-m", "venv", str(self.pip_venv)), self.project)

    def pip_cache_dir(self) -> Path:
        """The folder pip caches in, as the venv's pip reports it."""
        python = str(self.pip_venv / "bin" / "python")
        argv = (python, "-m", "pip", "--isolated", "cache", "dir")
        return Path(run(Command(argv, self.project, {"PIP_CONFIG_FILE": os.devnull})).strip())

    def pip_install(self, cache: Path | None) -> Command:
        """The venv's `pip install -r`, ignoring pip's configuration, with the given cache."""
        cache_args = () if cache is None else ("--cache-dir", str(cache))
        python = str(self.pip_venv / "bin" / "python")
        # --isolated leaves out the user's config and PIP_ variables; /dev/null, the other files.
        argv = (python, "-m", "pip", "--isolated", "install", "--disable-pip-version-check")
        argv += ("--quiet", *cache_args, "-r", str(self.requirements))
        return Command(argv, self.project, {"PIP_CONFIG_FILE": os.devnull})

    def time_uv(self, cache: Path | None = None, *options: str) -> float:
        """Time one `uv sync` from no .venv."""
        shutil.rmtree(self.project / ".venv", ignore_errors=True)
        return timed(self.uv_sync(cache, *options))

    def time_pip(self, cache: Path | None = None) -> tuple[float, float]:
        """Time one `python -m venv` and one `pip install -r` into that new venv."""
        shutil.rmtree(self.pip_venv, ignore_errors=True)
        return timed(self.make_venv()), timed(self.pip_install(cache))

    def times(self, repeats: int, cold_in: Path | None = None, full: bool = True) -> Installs:
        """Time `repeats` installs each way, alternating; with `cold_in`, empty caches there.

        Without `full`, only uv's plain install is timed.
        """
        samples = Installs([], [], [], [])
        for number in range(repeats):
            caches: list[Path | None] = [None, None, None]
            if cold_in is not None:
                caches = [cold_in / f"{kind}-{number}" for kind in ("uv", "uvc", "pip")]
            samples.uv.append(self.time_uv(caches[0]))
            if full:
                samples.uv_compiled.append(self.time_uv(caches[1], COMPILE))
                venv, pip = self.time_pip(caches[2])
                samples.venv.append(venv)
                samples.pip.append(pip)
            for cache in caches:  # hundreds of MB each: not kept for the next repeat
                if cache is not None:
                    shutil.rmtree(cache, ignore_errors=True)
        return samples


def installed(python: Path) -> dict[str, str]:
    """Return the distributions installed for an interpreter: name to version."""
    return dict(json.loads(run(Command((str(python), "-c", INSTALLED), python.parent))))


def versions_line(uv: str, installer: Installer) -> str:
    """The Python, pip and uv versions, for the machine list."""
    python = run(Command((installer.python, "--version"), installer.project)).strip()
    pip_python = installer.pip_venv / "bin" / "python"
    if not pip_python.exists():  # a --quick run made no pip venv
        return f"{python}, {uv_version(uv)}"
    argv = (str(pip_python), "-m", "pip", "--version")
    pip = tool_version(run(Command(argv, installer.project)))
    return f"{python}, {pip} (the venv's own), {uv_version(uv)}"


def table(label: str, installs: Installs) -> list[str]:
    """The rows of one cache state: uv, uv compiling, venv, pip, and venv plus pip."""
    uv_row = row(f"{label}: `uv {' '.join(UV_SYNC)}`", installs.uv)
    if not installs.pip_ran:
        return [uv_row]
    return [
        uv_row,
        row(f"{label}: the same, `{COMPILE}`", installs.uv_compiled),
        row(f"{label}: `python3 -m venv`", installs.venv),
        row(f"{label}: `pip install -r requirements.txt`", installs.pip),
        row(f"{label}: venv and pip together", installs.pip_total),
    ]


QUICK_TEXT = (
    "A `--quick` smoke run: one plain uv install, without a warm-up, checked against the "
    "export; byte-code compiling, pip, the cold caches and the comparison left out."
)


def comparison(results: Results, cold_text: str) -> list[str]:
    """The paragraphs comparing pip with uv, and saying what pip's cache held."""
    warm = results.warm
    return [
        f"With warm caches, pip (venv included) took {warm.ratio:.1f}x uv's time, "
        f"{warm.ratio_compiled:.1f}x with byte-code compiled by both. "
        f"{cold_text} Both venvs held the same {results.installed} packages at the same "
        "versions (pip's venv also holds pip and setuptools). `make setup` also installs "
        "the project itself and the git hooks: see the foundation section.",
        "",
        pip_cache_text(results.pip_http_cache),
    ]


def render(results: Results, machine: list[str]) -> str:
    """Return the markdown section, markers included."""
    warm, cold = results.warm, results.cold
    cold_rows = [] if cold is None else table("Cold", cold)
    cold_text = (
        "Cold runs were not made (`--cold-repeats 0`)."
        if cold is None
        else f"Cold, each install with an empty cache of its own, so everything downloaded "
        f"from PyPI ({runs(len(cold.uv))}): pip took {cold.ratio:.1f}x uv's time, "
        f"{cold.ratio_compiled:.1f}x with byte-code compiled by both."
    )
    return "\n".join(
        [
            START,
            f"## {TITLE}",
            "",
            f"The default bake (`{results.package}`): its lock exported by "
            f"`uv {' '.join(EXPORT)}` ({results.pins} pinned requirements; "
            f"{results.installed} apply on this machine, dev group included), then "
            "installed into a fresh venv each time by uv and by pip, alternating, with the "
            "same interpreter. pip is the one `python3 -m venv` seeds, run as `python -m pip "
            "--isolated` with `PIP_CONFIG_FILE=/dev/null`: no configuration, PyPI only. uv "
            "installs from the lock, pip resolves the pinned requirements itself. Wall times "
            f"in seconds. Warm: {runs(len(warm.uv))} after one untimed install each. "
            "pip compiles byte-code as it installs; uv leaves it to the first import unless "
            f"given `{COMPILE}`. Regenerate with `make bench` (`benchmarks/bench_install.py`).",
            "",
            "| Measure | Median | Min | Max |",
            "| --- | ---: | ---: | ---: |",
            *table("Warm", warm),
            *cold_rows,
            "",
            *(comparison(results, cold_text) if warm.pip_ran else [QUICK_TEXT]),
            "",
            *machine_section(machine),
            END,
        ]
    )


def measures(results: Results) -> dict[str, object]:
    """The figures of the results file."""

    def figures(installs: Installs) -> dict[str, object]:
        if not installs.pip_ran:
            return {"uv": stats(installs.uv)}
        return {
            "uv": stats(installs.uv),
            "uv_compiled": stats(installs.uv_compiled),
            "venv": stats(installs.venv),
            "pip": stats(installs.pip),
            "pip_total": stats(installs.pip_total),
            "ratio": round(installs.ratio, 3),
            "ratio_compiled": round(installs.ratio_compiled, 3),
        }

    found: dict[str, object] = {
        "package": results.package,
        "pins": results.pins,
        "installed": results.installed,
        "pip_http_cache_bytes": results.pip_http_cache,
        "warm": figures(results.warm),
    }
    if results.cold is not None:
        found["cold"] = figures(results.cold)
    return found


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = base_parser(__doc__, repeats=3)
    parser.add_argument(
        "--cold-repeats",
        type=int,
        default=1,
        help="runs with empty caches, downloading everything (0: none; default 1)",
    )
    parser.add_argument(
        "--python", default="python3", help="interpreter both venvs use (default python3)"
    )
    args = parse(parser)
    if args.cold_repeats < 0:
        parser.error("--cold-repeats cannot be negative")
    return args


def measure(args: argparse.Namespace) -> tuple[Results, list[str]]:
    """Run every measure in a scratch folder; return the results and the machine."""
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        work = Path(tmp)
        progress("baking the default project and exporting its lock")
        project = bake_project(args.cookiecutter, args.template.resolve(), work / "project")
        exported = run(Command((args.uv, *EXPORT), project))
        pins = requirements(exported)
        (work / "requirements.txt").write_text(exported, encoding="utf-8")
        # The interpreter itself, not a shim or a venv's link, so uv and venv start equal.
        python = run(Command((args.python, "-c", REAL_PYTHON), work)).strip()
        installer = Installer(args.uv, python, project, work / "requirements.txt", work / "venv")
        http_cache = 0
        if not args.quick:
            progress("warming the caches: one install each")
            installer.time_uv()
            installer.time_pip()
            pip_cache = installer.pip_cache_dir()
            http_cache = sum(tree_size(pip_cache / name) for name in ("http", "http-v2"))
        progress(f"timing {runs(args.repeats)} of each install, warm caches")
        warm = installer.times(args.repeats, full=not args.quick)
        by_uv = installed(project / ".venv" / "bin" / "python")
        # Without pip (--quick), uv's venv is checked against the export alone.
        by_pip = installed(installer.pip_venv / "bin" / "python") if warm.pip_ran else by_uv
        problems = mismatches(pins, by_uv, by_pip)
        if problems:
            listed = "\n".join(problems)
            raise SystemExit(f"error: uv and pip installed different packages:\n{listed}")
        cold = None
        if args.cold_repeats and not args.quick:
            progress(f"timing {runs(args.cold_repeats)} of each install, empty caches")
            cold = installer.times(args.cold_repeats, cold_in=work)
        machine = describe(versions_line(args.uv, installer))
    return Results(project.name, len(pins), len(by_uv), http_cache, warm, cold), machine


def main() -> int:
    """Measure, print the section, and update the docs and the results file."""
    args = parse_args()
    results, machine = measure(args)
    section = render(results, machine)
    print(section)
    write_section(args.output, section, NAME)
    write_results(args.results, NAME, TITLE, machine, measures(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
