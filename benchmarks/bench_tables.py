"""Time the table stages against a plain pandas script, and the whole pipeline on a big table.

Measured on the machine running this script, in one bake of the template
(`project_name="Bench Tables"`), installed by `make setup`, with a data set
`conf/data/big.yaml` (`data/raw/big.csv`, target `y`, regression) selected in
conf/config.yaml, `train.epochs` set to 2, and committed:

1. for tables of 10,000, 100,000 and 1,000,000 rows (20 float columns, a text
   column of six values, about 1% empty cells in each of them, a numeric target
   `y`; generated with a fixed seed and written as CSV), `stage=prepare` then
   `stage=featurize` as two processes (`python -m bench_tables stage=NAME
   data=big logger=none`): their wall times summed, and the larger of their peak
   memories; beside a plain pandas script, one process in the same interpreter,
   that does the same work: `pd.read_csv`, the test split, the validation split
   of the rest, parquet written for the three parts, and the same preprocessing
   fitted on the training rows and saved with joblib;
2. the whole pipeline on the 1,000,000-row table under `uv run --frozen dvc
   repro`: wall time, peak memory, and the bytes under `data/` (the raw CSV
   included) against the CSV's.

Peak memory is the `ru_maxrss` that `os.wait4` reports for each child process:
the largest resident set of that process and of the processes it waited for.
Prints a markdown section and writes it into docs/benchmarks.md between the
`<!-- tables:start -->` and `<!-- tables:end -->` markers, and the figures into
benchmarks/results/tables.json. Exits 1 when, at the largest table, the stages
take more than 1.5x the script's time or memory, or `data/` holds more than 1.5x
the CSV. --quick (the smoke run inside `make test`) measures 2,000 rows once,
runs the pipeline on them, and only reports the targets.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _common import (
    OUTPUT_TAIL,
    PROJECT_ENV,
    Command,
    Tools,
    bake_project,
    base_parser,
    describe,
    environment,
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

NAME = "tables"
TITLE = "Tables: prepare and featurize against plain pandas"
START, END = markers(NAME)
PROJECT_NAME = "Bench Tables"
PACKAGE = "bench_tables"
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000,)
REPRO_ROWS = 1_000_000
QUICK_REPRO_ROWS = 2_000
MAX_TIME_RATIO = 1.5
MAX_MEMORY_RATIO = 1.5
MAX_DISK_RATIO = 1.5
EPOCHS = 2
SEED = 42  # the tables' generator; the splits use the project's seed (42 too)
CONFIG = Path("conf") / "config.yaml"
DATA_CONFIG = Path("conf") / "data" / "big.yaml"
CSV = Path("data") / "raw" / "big.csv"
DATA_YAML = f"""\
# A generated table: 20 float columns, a text column, empty cells, a numeric target.
source: {CSV}
target: y
task: regression
test_size: 0.2
val_size: 0.2
limit: null
"""
# The defaults entry choosing the data set, and the `epochs:` line of the train section.
DATA_LINE = re.compile(r"^(  - data: )diabetes\b", re.MULTILINE)
EPOCHS_LINE = re.compile(r"^(  epochs: )(\d+)\b", re.MULTILINE)
STAGE_LINE = re.compile(r"Running stage '([\w-]+)':")
PIPELINE = ["prepare", "featurize", "train", "evaluate"]
STAGES = ("prepare", "featurize")  # what the baseline stands beside
# What `dvc repro` writes under data/, beside the raw CSV.
DATA_PARTS = ("raw", "interim", "processed")
# Runs in the project's interpreter: writes ROWS rows of the table to PATH as CSV.
GENERATE = """
import sys
import numpy as np, pandas as pd
rows, path, seed = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(seed)
x = rng.standard_normal((rows, 20))
frame = pd.DataFrame(x.round(4), columns=[f"x{i}" for i in range(1, 21)])
cities = np.array(["paris", "lyon", "lille", "nantes", "nice", "brest"], dtype=object)
frame["city"] = cities[rng.integers(0, len(cities), rows)]
frame["y"] = (x @ rng.standard_normal(20) + 0.5 * rng.standard_normal(rows)).round(4)
for column in frame.columns[:-1]:  # about 1% empty cells in every column but the target
    frame.loc[rng.random(rows) < 0.01, column] = None
frame.to_csv(path, index=False)
"""
# The baseline: what prepare and featurize do, as one plain pandas script.
BASELINE = """
import sys
from pathlib import Path
import joblib, numpy as np, pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

source, out, seed = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
frame = pd.read_csv(source)
rest, test = train_test_split(frame, test_size=0.2, random_state=seed)
train, val = train_test_split(rest, test_size=0.2, random_state=seed)
for name, part in (("train", train), ("val", val), ("test", test)):
    part.to_parquet(out / f"split_{name}.parquet", index=False, compression="zstd")
numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
categories = make_pipeline(
    SimpleImputer(strategy="constant", fill_value="(missing)"),
    OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        max_categories=20,
        sparse_output=False,
        dtype=np.float32,
    ),
)
fitted = ColumnTransformer(
    [
        ("numbers", numbers, make_column_selector(dtype_include="number")),
        ("categories", categories, make_column_selector(dtype_exclude="number")),
    ],
    verbose_feature_names_out=False,
).fit(train.drop(columns=["y"]))
joblib.dump(fitted, out / "preprocessor.joblib")
"""
BASELINE_FILES = (
    "split_train.parquet",
    "split_val.parquet",
    "split_test.parquet",
    "preprocessor.joblib",
)
STAGE_FILES = (
    Path("data") / "interim" / "train.parquet",
    Path("data") / "interim" / "val.parquet",
    Path("data") / "interim" / "test.parquet",
    Path("data") / "processed" / "features.parquet",
    Path("models") / "preprocessor.joblib",
)
VERSIONS = (
    "import dvc, pandas, platform, pyarrow, sklearn; print(platform.python_version(), "
    "pandas.__version__, pyarrow.__version__, sklearn.__version__, dvc.__version__)"
)


@dataclass(frozen=True)
class Sample:
    """One measured run: wall time in seconds and peak memory in KiB."""

    seconds: float
    peak_kib: int

    @property
    def peak_mib(self) -> float:
        """Peak memory in MiB."""
        return self.peak_kib / 1024


@dataclass(frozen=True)
class Size:
    """One table size: the CSV's bytes and the runs of the stages and of the baseline."""

    rows: int
    csv_bytes: int
    ours: list[Sample]
    baseline: list[Sample]
    by_stage: dict[str, list[Sample]]  # prepare's and featurize's own runs

    def seconds(self, side: Sequence[Sample]) -> float:
        """The median wall time of one side."""
        return statistics.median(sample.seconds for sample in side)

    def peak(self, side: Sequence[Sample]) -> float:
        """The median peak memory of one side, in MiB."""
        return statistics.median(sample.peak_mib for sample in side)

    @property
    def time_ratio(self) -> float:
        """The stages' median wall time over the baseline's."""
        return self.seconds(self.ours) / self.seconds(self.baseline)

    @property
    def memory_ratio(self) -> float:
        """The stages' median peak memory over the baseline's."""
        return self.peak(self.ours) / self.peak(self.baseline)


@dataclass(frozen=True)
class Repro:
    """`dvc repro` of the whole pipeline: the run, the stages it ran, what it left in data/."""

    rows: int
    csv_bytes: int
    run: Sample
    stages: list[str]
    data_bytes: dict[str, int]  # by folder under data/
    cache_bytes: int  # .dvc/cache, outside data/

    @property
    def data_total(self) -> int:
        """Bytes of every file under data/."""
        return sum(self.data_bytes.values())

    @property
    def disk_ratio(self) -> float:
        """Bytes under data/ over the CSV's."""
        return self.data_total / self.csv_bytes


@dataclass(frozen=True)
class Results:
    """Everything measured."""

    sizes: list[Size]
    repro: Repro

    @property
    def judged(self) -> Size:
        """The size the time and memory targets are judged at: the largest."""
        return self.sizes[-1]

    def problems(self) -> list[str]:
        """Return the targets missed, one sentence each."""
        found = []
        size = self.judged
        if size.time_ratio > MAX_TIME_RATIO:
            found.append(
                f"prepare + featurize took {size.time_ratio:.2f}x the plain pandas script's "
                f"time at {size.rows:,} rows, over {MAX_TIME_RATIO}x"
            )
        if size.memory_ratio > MAX_MEMORY_RATIO:
            found.append(
                f"prepare + featurize peaked at {size.memory_ratio:.2f}x the plain pandas "
                f"script's memory at {size.rows:,} rows, over {MAX_MEMORY_RATIO}x"
            )
        if self.repro.disk_ratio > MAX_DISK_RATIO:
            found.append(
                f"data/ held {self.repro.disk_ratio:.2f}x the CSV's bytes after dvc repro "
                f"at {self.repro.rows:,} rows, over {MAX_DISK_RATIO}x"
            )
        return found


def progress(message: str) -> None:
    """Say what is being measured, on stderr, so stdout holds only the section."""
    say("bench_tables", message)


def in_project(project: Path, *argv: str) -> Command:
    """Return a command run in the project, with W&B off and a git identity."""
    return Command(argv, project, PROJECT_ENV)


def watched(command: Command) -> tuple[Sample, str]:
    """Run a command; return its wall time and peak memory, and its output. Exit on failure.

    The output goes to a file, not a pipe, so that `os.wait4` can wait for the process
    (and read its resource usage) without anyone draining a pipe.
    """
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        try:
            process = subprocess.Popen(
                command.argv,
                cwd=command.cwd,
                env=environment() | dict(command.env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        except OSError as error:
            raise SystemExit(f"error: cannot run {command.argv[0]}: {error}") from error
        with process:
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - start
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
        log.seek(0)
        output = log.read().decode(errors="replace")
    if process.returncode != 0:
        shown = " ".join("<script>" if "\n" in arg else arg for arg in command.argv)
        raise SystemExit(
            f"error: `{shown}` failed with exit code {process.returncode} "
            f"in {command.cwd}:\n{output.strip()[-OUTPUT_TAIL:]}"
        )
    return Sample(seconds, usage.ru_maxrss), output  # ru_maxrss: KiB on Linux


def require(paths: Sequence[Path], after: str) -> None:
    """Exit unless every file is there: a run that wrote nothing would time nothing."""
    absent = [str(path) for path in paths if not path.is_file()]
    if absent:
        raise SystemExit(f"error: {after} did not write {', '.join(absent)}")


def clear_outputs(project: Path) -> None:
    """Remove the stages' outputs, so each run writes them anew."""
    for path in STAGE_FILES:
        (project / path).unlink(missing_ok=True)


def prepare_project(tools: Tools, template: Path, work: Path) -> Path:
    """Bake and install the project, add the data set, select it, set the epochs; commit."""
    answer = f"project_name={PROJECT_NAME}"
    project = bake_project(tools.cookiecutter, template, work / "project", answer)
    if project.name != PACKAGE:
        raise SystemExit(f"error: the bake made {project.name}, not {PACKAGE}")
    run(in_project(project, tools.make, "setup", f"UV={tools.uv}"))
    (project / DATA_CONFIG).write_text(DATA_YAML, encoding="utf-8")
    config = project / CONFIG
    text = config.read_text(encoding="utf-8")
    for pattern, replacement in ((DATA_LINE, r"\g<1>big"), (EPOCHS_LINE, rf"\g<1>{EPOCHS}")):
        text, count = pattern.subn(replacement, text)
        if count != 1:
            raise SystemExit(f"error: {CONFIG} has {count} lines matching {pattern.pattern!r}")
    config.write_text(text, encoding="utf-8")
    run(in_project(project, str(project / ".venv" / "bin" / "python"), "-m", PACKAGE, "params"))
    run(in_project(project, "git", "add", "-A"))
    run(in_project(project, "git", "commit", "-q", "--no-verify", "-m", "start"))
    return project


def generate(python: str, rows: int, path: Path) -> int:
    """Write the table of `rows` rows as CSV; return its bytes."""
    run(Command((python, "-c", GENERATE, str(rows), str(path), str(SEED)), path.parent))
    return path.stat().st_size


def stages(project: Path) -> dict[str, Sample]:
    """Run prepare then featurize; return each one's figures."""
    python = str(project / ".venv" / "bin" / "python")
    samples = {}
    for stage in STAGES:
        argv = (python, "-m", PACKAGE, f"stage={stage}", "data=big", "logger=none")
        samples[stage] = watched(in_project(project, *argv))[0]
    require([project / path for path in STAGE_FILES], "prepare and featurize")
    return samples


def together(samples: dict[str, Sample]) -> Sample:
    """The stages as one: their wall times summed, the larger of their peak memories."""
    runs = samples.values()
    return Sample(sum(s.seconds for s in runs), max(s.peak_kib for s in runs))


def baseline(python: str, csv: Path, out: Path) -> Sample:
    """Run the plain pandas script on the CSV, writing into `out`; return its figures."""
    for name in BASELINE_FILES:
        (out / name).unlink(missing_ok=True)
    sample, _ = watched(Command((python, "-c", BASELINE, str(csv), str(out), "42"), out))
    require([out / name for name in BASELINE_FILES], "the baseline script")
    return sample


def measure_size(project: Path, tables: Path, rows: int, repeats: int) -> Size:
    """Generate a table of `rows` rows; time the stages and the baseline on it, alternately."""
    python = str(project / ".venv" / "bin" / "python")
    progress(f"{rows:,} rows: writing the CSV")
    csv_bytes = generate(python, rows, tables / f"rows-{rows}.csv")
    shutil.copyfile(tables / f"rows-{rows}.csv", project / CSV)
    out = tables / "baseline"
    out.mkdir(exist_ok=True)
    ours, plain = [], []
    by_stage: dict[str, list[Sample]] = {stage: [] for stage in STAGES}
    for repeat in range(1, repeats + 1):
        progress(f"{rows:,} rows: prepare + featurize and the baseline, run {repeat}/{repeats}")
        clear_outputs(project)
        samples = stages(project)
        for stage, sample in samples.items():
            by_stage[stage].append(sample)
        ours.append(together(samples))
        plain.append(baseline(python, project / CSV, out))
    return Size(rows, csv_bytes, ours, plain, by_stage)


def tree_bytes(folder: Path) -> int:
    """Bytes of the regular files under a folder, links not followed."""
    total = 0
    for parent, _, files in os.walk(folder):
        for name in files:
            status = os.lstat(os.path.join(parent, name))
            total += status.st_size if stat.S_ISREG(status.st_mode) else 0
    return total


def measure_repro(tools: Tools, project: Path, tables: Path, rows: int) -> Repro:
    """Run the whole pipeline under `dvc repro` on a table of `rows` rows."""
    python = str(project / ".venv" / "bin" / "python")
    source = tables / f"rows-{rows}.csv"
    if not source.is_file():
        progress(f"{rows:,} rows: writing the CSV")
        generate(python, rows, source)
    shutil.copyfile(source, project / CSV)
    clear_outputs(project)  # data/ then holds only the CSV and what dvc repro writes
    run(in_project(project, python, "-m", PACKAGE, "params"))
    progress(f"{rows:,} rows: uv run --frozen dvc repro (train.epochs={EPOCHS})")
    sample, output = watched(in_project(project, tools.uv, "run", "--frozen", "dvc", "repro"))
    ran = STAGE_LINE.findall(output)
    if [stage for stage in ran if stage in PIPELINE] != PIPELINE:
        raise SystemExit(
            f"error: dvc repro ran {', '.join(ran) or 'no stage'}, not every stage of "
            f"{', '.join(PIPELINE)}:\n{output.strip()[-OUTPUT_TAIL:]}"
        )
    data = project / "data"
    parts = {part: tree_bytes(data / part) for part in DATA_PARTS}
    parts["other"] = tree_bytes(data) - sum(parts.values())  # .gitkeep, DVC's .gitignore
    cache = tree_bytes(project / ".dvc" / "cache")
    return Repro(rows, (project / CSV).stat().st_size, sample, ran, parts, cache)


def mb(count: int) -> str:
    """Bytes as MB (10^6), one decimal."""
    return f"{count / 1e6:,.1f}"


def verdict(ratio: float, limit: float) -> str:
    """Return "within" or "**OVER**" the limit."""
    return "within" if ratio <= limit else "**OVER**"


def size_row(size: Size) -> str:
    """One row of the sizes table."""
    cells = (
        f"{size.rows:,}",
        mb(size.csv_bytes),
        f"{size.seconds(size.ours):.2f}",
        f"{size.seconds(size.baseline):.2f}",
        f"{size.time_ratio:.2f}x",
        f"{size.peak(size.ours):,.0f}",
        f"{size.peak(size.baseline):,.0f}",
        f"{size.memory_ratio:.2f}x",
    )
    return "| " + " | ".join(cells) + " |"


def render(results: Results, repeats: int, machine: list[str]) -> str:
    """Return the markdown section, markers included."""
    judged, repro = results.judged, results.repro
    parts = ", ".join(
        f"`{part}/` {mb(count)}" if part in DATA_PARTS else f"{part} {mb(count)}"
        for part, count in repro.data_bytes.items()
    )
    split = ", ".join(
        f"{stage} {statistics.median(s.seconds for s in runs):.2f} s "
        f"({statistics.median(s.peak_mib for s in runs):,.0f} MiB)"
        for stage, runs in judged.by_stage.items()
    )
    problems = results.problems()
    outcome = "Every target holds." if not problems else "**Missed:** " + "; ".join(problems) + "."
    return "\n".join(
        [
            START,
            f"## {TITLE}",
            "",
            f'A bake with `project_name="{PROJECT_NAME}"` (`{PACKAGE}`), set up, with a data set '
            f"`{DATA_CONFIG}` reading `{CSV}` (target `y`, regression) selected in `{CONFIG}` "
            f"and `train.epochs` set to {EPOCHS} there, committed. W&B off "
            "(`WANDB_MODE=disabled`). The tables: 20 float columns (4 decimals), a text column "
            "of six values, about 1% empty cells in each of them, a numeric target `y`; "
            f"generated with seed {SEED}. Regenerate with `make bench` "
            "(`benchmarks/bench_tables.py`).",
            "",
            "`stage=prepare` then `stage=featurize` (`python -m "
            f"{PACKAGE} stage=NAME data=big logger=none`, two processes: wall times summed, "
            "each start-up included; peak memory the larger of the two) against a plain pandas "
            "script, one process in the project's interpreter, doing the same work: "
            "`pd.read_csv`, the test split and the validation split of the rest, parquet (zstd) "
            "written for the three parts, and the same preprocessing fitted on the training rows "
            "(median imputing and scaling of the numbers, one-hot text) and saved with joblib "
            "(`train` applies it; the stage also writes its feature list). Median of "
            f"{repeats} run{'s' * (repeats != 1)} of each, alternating; peak memory is the "
            "`ru_maxrss` of `os.wait4`:",
            "",
            "| Rows | CSV (MB) | Stages (s) | Baseline (s) | Ratio | Stages peak (MiB) "
            "| Baseline peak (MiB) | Ratio |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *(size_row(size) for size in results.sizes),
            "",
            f"Targets at {judged.rows:,} rows: time at most {MAX_TIME_RATIO}x the script's, "
            f"{verdict(judged.time_ratio, MAX_TIME_RATIO)} ({judged.time_ratio:.2f}x); peak "
            f"memory at most {MAX_MEMORY_RATIO}x, "
            f"{verdict(judged.memory_ratio, MAX_MEMORY_RATIO)} ({judged.memory_ratio:.2f}x). "
            f"Stage by stage at {judged.rows:,} rows: {split}. On small tables the stages' "
            "two start-ups (Hydra, the runtime's run record) weigh most.",
            "",
            f"The whole pipeline on the {repro.rows:,}-row table: `python -m {PACKAGE} params`, "
            f"then `uv run --frozen dvc repro` (timed; it ran {', '.join(repro.stages)}; "
            f"`train.epochs={EPOCHS}`), one run. Peak memory is that of the largest process "
            "(the stages run as children of DVC, which waits for them). Disk is the bytes of "
            "the files under `data/`, the raw CSV included:",
            "",
            "| Measure | Value |",
            "| --- | ---: |",
            f"| `dvc repro`, wall time (s) | {repro.run.seconds:.1f} |",
            f"| `dvc repro`, peak memory (MiB) | {repro.run.peak_mib:,.0f} |",
            f"| Under `data/` (MB) | {mb(repro.data_total)} ({parts}) |",
            f"| Against the CSV's {mb(repro.csv_bytes)} MB (target at most {MAX_DISK_RATIO}x) "
            f"| {repro.disk_ratio:.2f}x, {verdict(repro.disk_ratio, MAX_DISK_RATIO)} |",
            f"| DVC's cache, `.dvc/cache`, outside `data/` (MB) | {mb(repro.cache_bytes)} |",
            "",
            "The cache holds DVC's own copy of each output (`data/interim`, `data/processed`, "
            "the models), reflinked where the file system allows it and copied where not. "
            f"{outcome}",
            "",
            *machine_section(machine),
            END,
        ]
    )


def sample_stats(samples: Sequence[Sample]) -> dict[str, object]:
    """Wall times and peak memories (MiB) of a side, for the results file."""
    return {
        "seconds": stats([sample.seconds for sample in samples]),
        "peak_mib": stats([sample.peak_mib for sample in samples]),
    }


def measures(results: Results) -> dict[str, object]:
    """The figures of the results file."""
    repro = results.repro
    return {
        "package": PACKAGE,
        "sizes": [
            {
                "rows": size.rows,
                "csv_bytes": size.csv_bytes,
                "stages": sample_stats(size.ours),
                **{stage: sample_stats(runs) for stage, runs in size.by_stage.items()},
                "baseline": sample_stats(size.baseline),
                "time_ratio": round(size.time_ratio, 4),
                "memory_ratio": round(size.memory_ratio, 4),
            }
            for size in results.sizes
        ],
        "judged_rows": results.judged.rows,
        "max_time_ratio": MAX_TIME_RATIO,
        "max_memory_ratio": MAX_MEMORY_RATIO,
        "repro": {
            "rows": repro.rows,
            "epochs": EPOCHS,
            "stages": repro.stages,
            "seconds": round(repro.run.seconds, 4),
            "peak_mib": round(repro.run.peak_mib, 1),
            "csv_bytes": repro.csv_bytes,
            "data_bytes": repro.data_total,
            "data_parts": repro.data_bytes,
            "disk_ratio": round(repro.disk_ratio, 4),
            "cache_bytes": repro.cache_bytes,
        },
        "max_disk_ratio": MAX_DISK_RATIO,
        "problems": results.problems(),
    }


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    return parse(base_parser(__doc__, repeats=3))


def measure(tools: Tools, template: Path, repeats: int, quick: bool) -> tuple[Results, list[str]]:
    """Run every measure in a scratch folder; return the results and the machine."""
    sizes, repro_rows = (QUICK_SIZES, QUICK_REPRO_ROWS) if quick else (SIZES, REPRO_ROWS)
    with tempfile.TemporaryDirectory(prefix="bench-tables-") as tmp:
        work = Path(tmp)
        progress("baking and setting up a project")
        project = prepare_project(tools, template, work)
        tables = work / "tables"
        tables.mkdir()
        measured = [measure_size(project, tables, rows, repeats) for rows in sizes]
        repro = measure_repro(tools, project, tables, repro_rows)
        python = str(project / ".venv" / "bin" / "python")
        versions = run(Command((python, "-c", VERSIONS), project)).split()
    python_version, pandas, pyarrow, sklearn, dvc = versions
    machine = describe(
        f"Python {python_version}, pandas {pandas}, pyarrow {pyarrow}, scikit-learn {sklearn}, "
        f"dvc {dvc}, {uv_version(tools.uv)}"
    )
    return Results(measured, repro), machine


def main() -> int:
    """Measure, print the section, update the docs; 1 if a target is missed."""
    args = parse_args()
    tools = Tools(args.uv, args.cookiecutter, shutil.which("make") or "make")
    results, machine = measure(tools, args.template.resolve(), args.repeats, args.quick)
    section = render(results, args.repeats, machine)
    print(section)
    write_section(args.output, section, NAME)
    write_results(args.results, NAME, TITLE, machine, measures(results))
    status = 0
    for problem in results.problems():
        status = max(status, missed(problem, args.quick))
    return status


if __name__ == "__main__":
    sys.exit(main())
