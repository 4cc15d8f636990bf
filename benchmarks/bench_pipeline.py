"""Time a baked project's DVC pipeline: a no-op repro, and what a train change re-runs.

Measured on the machine running this script, in one bake of the template
(`project_name="Bench Pipeline"`), installed by `make setup`, committed, and
with its pipeline run once by `make repro` (params.yaml refreshed from conf/,
then `dvc repro`) and committed again:

1. `dvc repro` and `make repro` with nothing changed: median, min and max wall
   time of N repeats, each of which must say that everything is up to date and
   run no stage;
2. the stages a train-only parameter change re-runs, in order, two ways:
   `dvc exp run -S train.epochs=7`, then, with the workspace restored, an edit
   of `train.epochs` in conf/config.yaml followed by `make repro`.

Prints a markdown section and writes it into docs/benchmarks.md between the
`<!-- pipeline:start -->` and `<!-- pipeline:end -->` markers (appending it when
they are absent), leaving the rest of that file to other benchmark scripts,
and the figures into benchmarks/results/pipeline.json.
Exits 1 when the experiment re-runs anything but train and evaluate, or the
edit re-runs prepare or featurize, so it doubles as a check. --quick (the smoke
run inside `make test`) times one run of each and leaves out the experiment,
which tests/test_dvc.py runs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import (
    PROJECT_ENV,
    Command,
    Tools,
    bake_project,
    base_parser,
    completed,
    describe_project_machine,
    machine_section,
    markers,
    parse,
    row,
    run,
    say,
    stats,
    write_results,
    write_section,
)

NAME = "pipeline"
TITLE = "Pipeline: no-op repro, re-runs after a change"
START, END = markers(NAME)
PROJECT_NAME = "Bench Pipeline"
PACKAGE = "bench_pipeline"
UP_TO_DATE = "Data and pipelines are up to date"
STAGE_LINE = re.compile(r"Running stage '([\w-]+)':")
EXP_SET = "train.epochs=7"
CONFIG = Path("conf") / "config.yaml"
# The `epochs:` line of the train section, e.g. "  epochs: 30   # passes over...".
EPOCHS_LINE = re.compile(r"^(  epochs: )(\d+)\b", re.MULTILINE)
EXPECTED_EXP = ["train", "evaluate"]
EXPECTED_EDIT = ["params", "train", "evaluate"]
NEVER = ("prepare", "featurize")


@dataclass(frozen=True)
class Rerun:
    """The stages one change made DVC run, in order, and the command's wall time."""

    stages: list[str]
    seconds: float
    change: str = ""


@dataclass(frozen=True)
class Results:
    """Wall times in seconds of the no-op repro, and the stages each change re-ran."""

    package: str
    no_op: list[float]
    no_op_make: list[float]
    exp_run: Rerun | None  # None: left out (--quick)
    edit: Rerun

    def problems(self) -> list[str]:
        """Return what went wrong with the re-runs, one sentence each."""
        found = []
        if self.exp_run is not None and self.exp_run.stages != EXPECTED_EXP:
            found.append(
                f"`dvc exp run -S {EXP_SET}` ran {stage_list(self.exp_run.stages)}, "
                f"not exactly {stage_list(EXPECTED_EXP)}"
            )
        extra = [stage for stage in self.edit.stages if stage in NEVER]
        if extra:
            found.append(
                f"`make repro` after editing train.epochs in {CONFIG} ran {stage_list(extra)}, "
                "which do not read train params"
            )
        return found


def progress(message: str) -> None:
    """Say what is being measured, on stderr, so stdout holds only the section."""
    say("bench_pipeline", message)


def in_project(project: Path, *argv: str) -> Command:
    """Return a command run in the project, with W&B off and a git identity."""
    return Command(argv, project, PROJECT_ENV)


def dvc(uv: str, project: Path, *args: str) -> Command:
    """Return a DVC command run in the project's locked environment."""
    return in_project(project, uv, "run", "--frozen", "dvc", *args)


def output_of(command: Command) -> tuple[float, str]:
    """Run a command; return its wall time in seconds and its stdout and stderr."""
    start = time.perf_counter()
    done = completed(command)
    return time.perf_counter() - start, done.stdout + done.stderr


def stages_run(output: str) -> list[str]:
    """Return the stages DVC ran, in order, from its `Running stage 'NAME':` lines."""
    return STAGE_LINE.findall(output)


def stage_list(stages: list[str]) -> str:
    """Return stage names as markdown, in order: "train, evaluate" or "none"."""
    return ", ".join(f"`{stage}`" for stage in stages) or "none"


def commit(project: Path, message: str) -> None:
    """Commit everything in the project, without the git hooks."""
    run(in_project(project, "git", "add", "-A"))
    run(in_project(project, "git", "commit", "--no-verify", "-m", message))


def make_repro(tools: Tools, project: Path) -> Command:
    """`make repro`: params.yaml refreshed from conf/, then `dvc repro`."""
    return in_project(project, tools.make, "repro", f"UV={tools.uv}")


def prepare_project(tools: Tools, template: Path, work: Path) -> Path:
    """Bake, install and commit the project; run its pipeline once and commit that."""
    answer = f"project_name={PROJECT_NAME}"
    project = bake_project(tools.cookiecutter, template, work / "project", answer)
    if project.name != PACKAGE:
        raise SystemExit(f"error: the bake made {project.name}, not {PACKAGE}")
    run(in_project(project, tools.make, "setup", f"UV={tools.uv}"))
    commit(project, "start")
    run(make_repro(tools, project))
    commit(project, "repro")
    return project


def no_op_times(command: Command, repeats: int) -> list[float]:
    """Time a repro command with nothing changed; exit unless it ran nothing."""
    samples = []
    for _ in range(repeats):
        seconds, output = output_of(command)
        if UP_TO_DATE not in output or stages_run(output):
            raise SystemExit(
                f"error: `{' '.join(command.argv)}` with nothing changed did not say "
                f"{UP_TO_DATE!r}, or ran {stage_list(stages_run(output))}:\n{output.strip()}"
            )
        samples.append(seconds)
    return samples


def exp_run(uv: str, project: Path) -> Rerun:
    """Run an experiment changing a train param; return the stages it ran."""
    seconds, output = output_of(dvc(uv, project, "exp", "run", "-S", EXP_SET))
    return Rerun(stages_run(output), seconds)


def restore(uv: str, project: Path) -> None:
    """Undo the experiment's changes: tracked files and the DVC outputs they point at."""
    if run(in_project(project, "git", "status", "--porcelain", "--untracked-files=no")):
        run(in_project(project, "git", "checkout", "--", "."))
        run(in_project(project, uv, "run", "--frozen", "dvc", "checkout"))


def edit_and_repro(tools: Tools, project: Path) -> Rerun:
    """Change train.epochs in the main config, run `make repro`; return the stages it ran."""
    config = project / CONFIG
    text = config.read_text(encoding="utf-8")
    matches = EPOCHS_LINE.findall(text)
    if len(matches) != 1:
        raise SystemExit(f"error: {CONFIG} has {len(matches)} lines `  epochs: N`, not one")
    ((_, epochs),) = matches
    edited = str(int(epochs) // 2 or 2)  # another value, whatever the config holds
    config.write_text(EPOCHS_LINE.sub(rf"\g<1>{edited}", text), encoding="utf-8")
    seconds, output = output_of(make_repro(tools, project))
    return Rerun(stages_run(output), seconds, f"`epochs: {epochs}` edited to `epochs: {edited}`")


def rerun_row(change: str, rerun: Rerun | None, expected: list[str]) -> str:
    """Return one table row: the stages a change re-ran, those expected, and its time."""
    if rerun is None:
        return f"| {change} | not run (`--quick`) | {stage_list(expected)} | |"
    cells = (change, stage_list(rerun.stages), stage_list(expected), f"{rerun.seconds:.1f}")
    return "| " + " | ".join(cells) + " |"


def render(results: Results, machine: list[str]) -> str:
    """Return the markdown section, markers included."""
    problems = results.problems()
    verdict = (
        "Neither runs `prepare` or `featurize`, which do not read train params."
        if not problems
        else "**Unexpected:** " + "; ".join(problems) + "."
    )
    return "\n".join(
        [
            START,
            f"## {TITLE}",
            "",
            f'A bake with `project_name="{PROJECT_NAME}"` (`{results.package}`), set up, '
            "committed, its pipeline run once by `make repro` and committed. "
            "W&B off (`WANDB_MODE=disabled`). Regenerate with `make bench` "
            "(`benchmarks/bench_pipeline.py`).",
            "",
            f"`dvc repro` and `make repro` with nothing changed, wall time in seconds over "
            f'{len(results.no_op)} repeats, each saying "{UP_TO_DATE}" and running no stage; '
            "`make repro` refreshes params.yaml from `conf/` first (one more Python start-up):",
            "",
            "| Measure | Median | Min | Max |",
            "| --- | ---: | ---: | ---: |",
            row("`uv run --frozen dvc repro`, nothing changed", results.no_op),
            row("`make repro`, nothing changed", results.no_op_make),
            "",
            "Stages re-run after a change to a train-only parameter, in DVC's order, "
            "and the command's wall time in seconds (one run each):",
            "",
            "| Change | Stages run | Expected | Seconds |",
            "| --- | --- | --- | ---: |",
            rerun_row(f"`dvc exp run -S {EXP_SET}`", results.exp_run, EXPECTED_EXP),
            rerun_row(
                f"{results.edit.change} in `{CONFIG}`, then `make repro`",
                results.edit,
                EXPECTED_EDIT,
            ),
            "",
            "`params` is not a user stage: it rewrites params.yaml from `conf/`, so DVC runs "
            "it whenever `conf/` changes (`make repro` refreshes params.yaml before DVC reads "
            "it); `dvc exp run -S` composes params.yaml itself, so it does not run there. The "
            "edit runs after the experiment's changes are undone (`git checkout -- .`). "
            f"{verdict}",
            "",
            *machine_section(machine),
            END,
        ]
    )


def measures(results: Results) -> dict[str, object]:
    """The figures of the results file."""
    return {
        "package": results.package,
        "no_op": stats(results.no_op),
        "no_op_make": stats(results.no_op_make),
        "exp_run": None
        if results.exp_run is None
        else {
            "command": f"dvc exp run -S {EXP_SET}",
            "stages": results.exp_run.stages,
            "expected": EXPECTED_EXP,
            "seconds": round(results.exp_run.seconds, 4),
        },
        "edit": {
            "command": "make repro",
            "edited": f"`train.epochs` in `{CONFIG}`",
            "stages": results.edit.stages,
            "expected": EXPECTED_EDIT,
            "seconds": round(results.edit.seconds, 4),
        },
        "problems": results.problems(),
    }


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = base_parser(__doc__)
    return parse(parser)


def measure(tools: Tools, template: Path, repeats: int, quick: bool) -> tuple[Results, list[str]]:
    """Run every measure in a scratch folder; return the results and the machine."""
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        progress("baking, setting up and running the pipeline once")
        project = prepare_project(tools, template, Path(tmp))
        progress(f"running a no-op dvc repro and make repro {repeats} times each")
        no_op = no_op_times(dvc(tools.uv, project, "repro"), repeats)
        no_op_make = no_op_times(make_repro(tools, project), repeats)
        experiment = None
        if not quick:
            progress(f"running dvc exp run -S {EXP_SET}")
            experiment = exp_run(tools.uv, project)
            restore(tools.uv, project)
        progress(f"editing {CONFIG} and running make repro")
        edit = edit_and_repro(tools, project)
        machine = describe_project_machine(
            tools.uv, str(project / ".venv" / "bin" / "python"), with_dvc=True
        )
    return Results(project.name, no_op, no_op_make, experiment, edit), machine


def main() -> int:
    """Measure, print the section, update the docs, and check the re-runs."""
    args = parse_args()
    tools = Tools(args.uv, args.cookiecutter, shutil.which("make") or "make")
    results, machine = measure(tools, args.template.resolve(), args.repeats, args.quick)
    section = render(results, machine)
    print(section)
    write_section(args.output, section, NAME)
    write_results(args.results, NAME, TITLE, machine, measures(results))
    problems = results.problems()
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
