"""Run folders as a collection: list, inspect, delete, and sync them with the DVC remote.

    python -m <package> runs ls [PREFIX] [--completed|--failed|...] [--last 3h]
    python -m <package> runs show ID | [PREFIX] --newest
    python -m <package> runs rm [PREFIX] [--completed|...] [--last 2d] [--all] [--dry-run] [--force]
    python -m <package> runs push|pull [PREFIX] [--completed|...] [--last 2d]

A run's id is `<stage>_<UTC start>_<random>`, so the filters look at folder
names first and read run.json only for the folders left: listing the last
hours of ten thousand runs takes a fraction of a second.

This module is the run model (RunInfo, find_runs and the rest), the output
formatting and the `runs` command line. Storing runs on the DVC remote and
moving them there and back is sync.py, imported only by `push` and `pull`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from .records import TIMESTAMP_FORMAT
from .remote import RemoteError

STATUSES = ("running", "completed", "failed", "interrupted")
# run.json says "running" but the process that wrote it is gone (killed, machine rebooted).
DIED = "died"
# No readable run.json: a run that is just starting, or a broken folder.
UNKNOWN = "unknown"
FLAGS = (*STATUSES, DIED)
RUN_ID = re.compile(r"^(?P<stage>\w+)_(?P<stamp>[0-9]{8}T[0-9]{6}Z)_[0-9a-f]{6}$", re.ASCII)
DURATION = re.compile(r"^([0-9]+)([smhdw])$", re.ASCII)
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
RECORD = "run.json"
EXIT_USAGE = 2
EXIT_FAILED = 1


class UsageError(ValueError):
    """A command line that cannot run; the message says what to type instead."""


@dataclass(frozen=True)
class RunInfo:
    """One run folder as its name and run.json describe it."""

    id: str
    stage: str
    status: str
    started: datetime
    duration_s: float | None
    metrics: dict[str, float]
    path: Path


@dataclass(frozen=True)
class Filters:
    """Which runs a command is about; None means no limit."""

    prefix: str | None = None
    status: str | None = None
    since: timedelta | None = None

    def any(self) -> bool:
        """Tell whether any filter was given."""
        return bool(self.prefix) or self.status is not None or self.since is not None


def parse_duration(text: str) -> timedelta:
    """Read `30m`, `3h`, `2d`, `1w` or `45s` as a timedelta."""
    match = DURATION.match(text.strip())
    seconds = int(match[1]) * UNIT_SECONDS[match[2]] if match else 0
    if not 0 < seconds < timedelta.max.total_seconds():
        raise ValueError(f"--last '{text}' is not a duration; use e.g. 30m, 3h, 2d")
    return timedelta(seconds=seconds)


def find_runs(
    prefix: str | None = None,
    status: str | None = None,
    since: timedelta | None = None,
    runs_dir: Path = Path("runs"),
) -> list[RunInfo]:
    """The runs in `runs_dir` matching every filter given, oldest first.

    `prefix` and `since` are checked on folder names, so only the folders that
    pass are opened. A run whose process died while running has status `died`.
    """
    if status is not None and status not in (*FLAGS, UNKNOWN):
        raise ValueError(f"status '{status}' is not one of {', '.join((*FLAGS, UNKNOWN))}")
    names = run_names(runs_dir, prefix, cutoff_stamp(since))
    runs = [read_run(runs_dir / name) for name in names]
    if status is not None:
        runs = [run for run in runs if run.status == status]
    return sorted(runs, key=lambda run: (run.started, run.id))


def run_names(runs_dir: Path, prefix: str | None = None, cutoff: str | None = None) -> list[str]:
    """Names of the run folders in `runs_dir` starting with `prefix`, started at `cutoff` or later.

    `cutoff` is a timestamp as in run ids; ids compare as text in time order.
    Folders not named like runs (Hydra's `.multirun/`, anything a user added) are skipped.
    """
    try:
        with os.scandir(runs_dir) as entries:
            names = []
            for entry in entries:
                if prefix and not entry.name.startswith(prefix):
                    continue
                if is_run_id(entry.name, cutoff) and entry.is_dir():
                    names.append(entry.name)
            return names
    except (FileNotFoundError, NotADirectoryError):
        return []


def is_run_id(name: str, cutoff: str | None = None) -> bool:
    """Whether `name` is a run id, of a run started at `cutoff` (a run id timestamp) or later."""
    match = RUN_ID.match(name)
    return match is not None and (cutoff is None or match["stamp"] >= cutoff)


def cutoff_stamp(since: timedelta | None) -> str | None:
    """The oldest start time `since` allows, formatted as in run ids (None: no limit)."""
    if since is None:
        return None
    try:
        return (datetime.now(timezone.utc) - since).strftime(TIMESTAMP_FORMAT)
    except OverflowError:
        return None


def read_run(path: Path) -> RunInfo:
    """Describe one run folder from its name and its run.json, whatever state that is in."""
    return describe_run(path, read_json(path / RECORD) or None)


def describe_run(path: Path, record: Mapping[str, Any] | None) -> RunInfo:
    """A RunInfo from a folder's name and its record (None: no readable run.json)."""
    match = RUN_ID.match(path.name)
    named_start = _stamp_time(match["stamp"]) if match else None
    fallback = named_start or datetime.fromtimestamp(0, timezone.utc)
    stage = match["stage"] if match else path.name
    if record is None:
        return RunInfo(path.name, stage, UNKNOWN, fallback, None, {}, path)
    status = record.get("status")
    status = status if isinstance(status, str) and status else UNKNOWN
    if status == "running" and not _process_alive(record):
        status = DIED
    return RunInfo(
        id=path.name,
        stage=str(record.get("stage") or stage),
        status=status,
        started=_parse_time(record.get("started")) or fallback,
        duration_s=_number(record.get("duration_s")),
        metrics=_metrics(record.get("metrics")),
        path=path,
    )


def json_object(data: str | bytes) -> dict[str, Any]:
    """The JSON object in `data`; {} when it is not JSON or not an object."""
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def check_name(text: str) -> str:
    """Return a run id or id prefix unchanged; refuse one that could leave the runs folder."""
    if not text or text.startswith(".") or any(bad in text for bad in ("/", "\\", "..", "\0")):
        raise UsageError(
            f"'{text}' is not a run id or the start of one (no '/', '..' or leading '.'); "
            "see the ids with `runs ls`"
        )
    return text


def configured_runs_dir(root: Path) -> Path:
    """The runs folder: `runtime.runs_dir` of conf/config.yaml (default `runs`), under root."""
    from omegaconf import OmegaConf

    try:
        value = OmegaConf.select(OmegaConf.load(root / "conf" / "config.yaml"), "runtime.runs_dir")
    except Exception:  # a broken conf/ must not hide the runs: fall back to the default
        value = None
    return root / (value if isinstance(value, str) and value else "runs")


# ---------------------------------------------------------------- formatting


def format_duration(seconds: float | None) -> str:
    """`4.2s`, `3m 12s`, `2h 05m`, `3d 04h`; `-` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600:02d}h"


def key_metric(metrics: Mapping[str, float]) -> str:
    """The run's first metric as `name=value` (4 significant digits), or `-`."""
    for name, value in metrics.items():
        return f"{name}={value:.4g}"
    return "-"


def local_time(moment: datetime) -> str:
    """A time in the machine's time zone, to the second."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def table(runs: Sequence[RunInfo]) -> str:
    """The runs as aligned columns under a header."""
    rows = [("ID", "STAGE", "STATUS", "STARTED", "DURATION", "KEY METRIC")]
    rows += [
        (
            run.id,
            run.stage,
            run.status,
            local_time(run.started),
            format_duration(run.duration_s),
            key_metric(run.metrics),
        )
        for run in runs
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def plural(count: int, noun: str) -> str:
    """`1 run`, `2 runs`."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def format_size(size: int) -> str:
    """A byte count for people: `512 B`, `12.4 kB`, `3.1 MB`."""
    value, unit = float(size), "B"
    for larger in ("kB", "MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1000, larger
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


# ---------------------------------------------------------------- commands


def ls_command(root: Path, runs_dir: Path, args: argparse.Namespace) -> int:
    """`ls`: a table of the matching runs, oldest first, and how many there are."""
    filters = _filters(args)
    runs = find_runs(filters.prefix, filters.status, filters.since, runs_dir)
    where = _shown(root, runs_dir)
    total = len(run_names(runs_dir))
    if not runs:
        if total == 0:
            print(f"no runs yet in {where}/: run a stage, e.g. `python -m {_package()} stage=NAME`")
        else:
            print(f"no runs match ({plural(total, 'run')} in {where}/)")
        return 0
    print(table(runs))
    counted = f"{len(runs):,} of {plural(total, 'run')}" if filters.any() else plural(total, "run")
    print(f"{counted} in {where}/")
    return 0


def show_command(root: Path, runs_dir: Path, args: argparse.Namespace) -> int:
    """`show`: one run's record, metrics, config changes from the defaults, provenance."""
    prefix = check_name(args.id) if args.id is not None else None
    where = _shown(root, runs_dir)
    if args.newest:
        run_id = _newest_run(runs_dir, prefix, where)
    elif prefix is None:
        raise UsageError("show needs a run id, the start of one, or --newest; see `runs ls`")
    else:
        run_id = _one_run(runs_dir, prefix, where)
    run = read_run(runs_dir / run_id)
    record = read_json(run.path / RECORD)
    lines = [f"run       {run.id}", f"folder    {_shown(root, run.path)}/"]
    lines += [f"stage     {run.stage}", f"status    {run.status}"]
    if record.get("mode"):
        lines.append(f"mode      {record['mode']}")
    lines.append(f"started   {local_time(run.started)}")
    ended = _parse_time(record.get("ended"))
    if ended is not None:
        lines.append(f"ended     {local_time(ended)}")
    lines.append(f"duration  {format_duration(run.duration_s)}")
    if record.get("error"):
        lines.append(f"error     {record['error']}")
    print("\n".join(lines))
    print("\nmetrics" + ("" if run.metrics else ": none"))
    width = max((len(name) for name in run.metrics), default=0) + 2
    for name, value in run.metrics.items():
        print(f"  {name.ljust(width)}{value:.6g}")
    print("\nconfig, changes from the defaults in conf/" + _config_changes(root, run.path))
    print("\nprovenance" + _provenance(run.path))
    return 0


def rm_command(root: Path, runs_dir: Path, args: argparse.Namespace) -> int:
    """`rm`: delete the matching run folders, after a confirmation."""
    filters = _filters(args)
    if not filters.any() and not args.all:
        raise UsageError(
            "rm needs a filter (PREFIX, a status flag or --last); to delete every run, add --all"
        )
    runs = find_runs(filters.prefix, filters.status, filters.since, runs_dir)
    live = {run.id for run in runs if run.status == "running" and filters.status is None}
    runs = [run for run in runs if run.id not in live]
    targets = [_deletable(runs_dir, run.id) for run in runs]
    if live:
        print(f"keeping {plural(len(live), 'run')} still running (add --running to delete them)")
    if not runs:
        print("no runs match; nothing deleted")
        return 0
    print(table(runs))
    count = plural(len(runs), "run")
    if args.dry_run:
        print(f"dry run: {count} would be deleted from {_shown(root, runs_dir)}/; nothing deleted")
        return 0
    if not args.force:
        if not sys.stdin.isatty():
            raise UsageError(
                f"not deleting {count} without confirmation: stdin is not a terminal; "
                "add --force (or --dry-run to only list them)"
            )
        if input(f"Delete {count}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 0
    for done, target in enumerate(targets):
        try:
            shutil.rmtree(target)
        except OSError as error:
            print(
                f"error: cannot delete {target} ({error.strerror or error}), after deleting "
                f"{plural(done, 'run')}; check its permissions and run rm again",
                file=sys.stderr,
            )
            return EXIT_FAILED
    print(f"deleted {count} from {_shown(root, runs_dir)}/")
    return 0


def push_command(root: Path, runs_dir: Path, args: argparse.Namespace) -> int:
    """`push`: upload run folders to the default DVC remote."""
    from .sync import open_store, push

    filters = _filters(args)
    runs = find_runs(filters.prefix, filters.status, filters.since, runs_dir)
    if not runs:
        print(f"no runs match in {_shown(root, runs_dir)}/; nothing to push")
        return 0
    store = open_store(root)
    print(f"pushing {plural(len(runs), 'run')} to {store.url}", flush=True)
    tally = _transfer("push", lambda: push(runs, store, filters.prefix or ""))
    print(f"pushed {tally.totals()} to {store.url}; {tally.unchanged:,} already up to date")
    return 0


def pull_command(root: Path, runs_dir: Path, args: argparse.Namespace) -> int:
    """`pull`: download run folders missing here from the default DVC remote."""
    from .sync import open_store, pull, remote_runs

    filters = _filters(args)
    store = open_store(root)
    runs = _transfer("pull", lambda: remote_runs(store, filters))
    if not runs:
        print(f"no runs match in {store.url}; nothing to pull")
        return 0
    print(f"pulling {plural(len(runs), 'run')} from {store.url}", flush=True)
    tally = _transfer("pull", lambda: pull(runs, store, runs_dir))
    where = _shown(root, runs_dir)
    print(f"pulled {tally.totals()} into {where}/; {tally.unchanged:,} already here")
    return 0


Command = Callable[[Path, Path, argparse.Namespace], int]
T = TypeVar("T")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other error here."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage and exiting."""
        raise UsageError(f"{message}; see `{self.prog} --help`")


def build_parser() -> argparse.ArgumentParser:
    """The `runs` command line: ls, show, rm, push, pull."""
    parser = _Parser(prog="runs", description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, command: Command, text: str, prefix: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(handler=command)
        if prefix:
            sub.add_argument("prefix", nargs="?", metavar="PREFIX", help="start of the run ids")
            for status in STATUSES:
                sub.add_argument(f"--{status}", action="store_true", help=f"only {status} runs")
            sub.add_argument(
                f"--{DIED}", action="store_true", help="only runs whose process died while running"
            )
            sub.add_argument("--last", metavar="TIME", help="started in the last 30m, 3h, 2d, 1w")
        return sub

    add("ls", ls_command, "list runs, oldest first")
    show = add("show", show_command, "one run: record, metrics, config changes, provenance", False)
    show.add_argument("id", nargs="?", metavar="ID", help="a run id, or the start of exactly one")
    show.add_argument(
        "--newest", action="store_true", help="the newest run (whose id starts with ID, if given)"
    )
    rm = add("rm", rm_command, "delete runs (asks first)")
    rm.add_argument("--all", action="store_true", help="allow deleting without a filter")
    rm.add_argument("--dry-run", action="store_true", help="list what would go, delete nothing")
    rm.add_argument("--force", action="store_true", help="do not ask")
    add("push", push_command, "upload runs to the default DVC remote, under runs/")
    add("pull", pull_command, "download runs missing here from the default DVC remote")
    return parser


def main(root: Path, argv: list[str]) -> int:
    """Run a `runs` command; bad input is one line on stderr and exit status 2."""
    try:
        args = build_parser().parse_args(argv)
        handler: Command = args.handler
        return handler(root, configured_runs_dir(root), args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except RemoteError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED


# ---------------------------------------------------------------- helpers


def _filters(args: argparse.Namespace) -> Filters:
    chosen = [status for status in FLAGS if getattr(args, status)]
    if len(chosen) > 1:
        flags = " and ".join(f"--{status}" for status in chosen)
        raise UsageError(f"{flags} cannot be combined; give at most one status flag")
    try:
        since = parse_duration(args.last) if args.last is not None else None
    except ValueError as error:
        raise UsageError(str(error)) from None
    prefix = check_name(args.prefix) if args.prefix is not None else None
    return Filters(prefix, chosen[0] if chosen else None, since)


def _transfer(verb: str, work: Callable[[], T]) -> T:
    """Run a push or pull step; a failure midway is one line saying that a re-run resumes."""
    try:
        return work()
    except (RemoteError, OSError) as error:
        raise RemoteError(
            f"{verb} stopped: {error}; run it again to finish (files already moved are kept)"
        ) from error


def _one_run(runs_dir: Path, text: str, where: str) -> str:
    """The id of the run named `text`, or of the only run whose id starts with it."""
    names = run_names(runs_dir, text)
    if text in names:
        return text
    if len(names) == 1:
        return names[0]
    if names:
        raise UsageError(
            f"'{text}' starts {len(names)} run ids; give more of the id, or add --newest"
        )
    raise UsageError(f"no run '{text}' in {where}/; see the ids with `runs ls`")


def _newest_run(runs_dir: Path, prefix: str | None, where: str) -> str:
    """The id of the run started last, among those whose id starts with `prefix`."""
    names = run_names(runs_dir, prefix)
    if not names:
        starting = f" starting with '{prefix}'" if prefix else ""
        raise UsageError(f"no run{starting} in {where}/; see the ids with `runs ls`")
    # Ids hold the start second; only runs started in that same second need their run.json.
    last = max(_id_stamp(name) for name in names)
    tied = [read_run(runs_dir / name) for name in names if _id_stamp(name) == last]
    return max(tied, key=lambda run: (run.started, run.id)).id


def _id_stamp(name: str) -> str:
    match = RUN_ID.match(name)
    return match["stamp"] if match else ""


def _deletable(runs_dir: Path, run_id: str) -> Path:
    """A run folder, checked to be a real folder directly inside the runs folder."""
    inside = runs_dir.resolve()
    path = runs_dir / run_id
    if path.is_symlink() or not path.is_dir() or path.resolve().parent != inside:
        raise UsageError(
            f"{path} is a link or not a folder directly inside {runs_dir}; rm deletes nothing "
            "outside the runs folder: remove it by hand, or narrow the filter"
        )
    return inside / run_id


def _config_changes(root: Path, run_path: Path) -> str:
    """Lines listing the config keys the run changed from the defaults, after a colon."""
    from omegaconf import OmegaConf

    from .pipeline import changed_keys, compose

    try:
        run_config = OmegaConf.to_container(OmegaConf.load(run_path / "config.yaml"))
    except (OSError, ValueError) as error:
        return f": no readable config.yaml ({type(error).__name__})"
    try:
        defaults = OmegaConf.to_container(compose(root), resolve=True)
    except Exception as error:  # Hydra has many error types; the rest of `show` still helps
        return f": cannot compose conf/ to compare ({type(error).__name__}: {error})"
    if not isinstance(run_config, dict) or not isinstance(defaults, dict):
        return ": config.yaml is not a mapping"
    changes = [
        change
        for change in changed_keys(_str_keys(defaults), _str_keys(run_config))
        if not change.startswith("stage:")
    ]
    return "".join(f"\n  {change}" for change in changes) or ": none (all defaults)"


def _provenance(run_path: Path) -> str:
    """Lines summing up the run's provenance.json, after a colon.

    Runs recorded before provenance.json existed have none, and any key may be
    missing, so every value is looked up with a fallback.
    """
    data = read_json(run_path / "provenance.json")
    if not data:
        return ": not recorded"
    git, python, cpu = _section(data, "git"), _section(data, "python"), _section(data, "cpu")
    rows = [("git", _git_summary(git, (run_path / "git.diff").is_file()))]
    gpus = data.get("gpus")
    gpu_names = [
        str(gpu.get("name", gpu)) if isinstance(gpu, dict) else str(gpu)
        for gpu in (gpus if isinstance(gpus, list) else [])
    ]
    count = cpu.get("count") or cpu.get("logical_cpus")
    cores = f", {count} cores" if count else ""
    lock = data.get("uv_lock_sha256")
    rows += [
        ("python", str(python.get("version") or "unknown")),
        ("host", str(data.get("hostname") or "unknown") + _suffix(data.get("platform"))),
        ("cpu", f"{cpu.get('model') or 'unknown'}{cores}"),
        ("gpus", ", ".join(gpu_names) or "none"),
        ("seed", str(data.get("seed", "unknown"))),
        ("uv.lock", f"sha256 {str(lock)[:16]}" if lock else "unknown"),
    ]
    return "".join(f"\n  {name.ljust(9)}{value}" for name, value in rows)


def _git_summary(git: Mapping[str, Any], diff_saved: bool) -> str:
    if git.get("available") is False:
        return f"unknown ({git.get('reason') or 'git was not available'})"
    commit = str(git["commit"])[:12] if git.get("commit") else "no commit yet"
    branch = f" on {git['branch']}" if git.get("branch") else ""
    if git.get("dirty") is True:
        return f"{commit}{branch}, uncommitted changes" + (
            " (saved in git.diff)" if diff_saved else ""
        )
    return f"{commit}{branch}" + (", clean" if git.get("dirty") is False else "")


def _suffix(value: object) -> str:
    return f" ({value})" if value else ""


def _section(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in a file; {} when it is missing, unreadable or not an object."""
    try:
        return json_object(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError: not UTF-8
        return {}


def _str_keys(data: dict[Any, Any]) -> dict[str, Any]:
    return {
        str(key): _str_keys(value) if isinstance(value, dict) else value
        for key, value in data.items()
    }


def _shown(root: Path, path: Path) -> str:
    """A path relative to the project root when it is inside it."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _package() -> str:
    return __name__.split(".")[0]


def _stamp_time(stamp: str) -> datetime | None:
    try:
        return datetime.strptime(stamp, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _parse_time(value: object) -> datetime | None:
    """An ISO-8601 time from run.json, as an aware datetime (UTC when no zone is given)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _metrics(value: object) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    numbers = {str(name): _number(number) for name, number in value.items()}
    return {name: number for name, number in numbers.items() if number is not None}


@functools.cache
def _hostname() -> str:
    return socket.gethostname()


def _process_alive(record: Mapping[str, Any]) -> bool:
    """Whether the process that wrote a "running" record may still run.

    Only a process on this machine can be checked; records without pid and host
    (written before they were recorded) are taken at their word.
    """
    pid, host = record.get("pid"), record.get("host")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or host != _hostname():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to another user
        return True
    return True
