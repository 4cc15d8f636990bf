"""Run folders as a collection: `runs ls|show|rm|push|pull [ID] [--failed...] [--last 3h]`."""

import argparse
import os
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

from . import records
from .records import RECORD, TIMESTAMP_FORMAT, UsageError, read_json

STATUSES = ("running", "completed", "failed", "interrupted", "died", "unknown")  # died: no process
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
Text = str | None
Age = timedelta | None


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one-line UsageErrors (exit status 2)."""

    def error(self, message: str) -> NoReturn:  # argparse's own would print and exit
        raise UsageError(f"{message}; see `{self.prog} --help`")


class RunInfo(NamedTuple):
    """One run folder as its name and run.json describe it (status `unknown`: no run.json)."""

    id: str
    stage: str
    status: str
    started: datetime
    duration_s: float | None
    metrics: dict[str, float]
    path: Path


def find_runs(
    prefix: Text = None, status: Text = None, since: Age = None, runs_dir: Path = Path("runs")
) -> list[RunInfo]:
    """The runs in `runs_dir` matching every filter given, oldest first (by folder name)."""
    found, host = list[RunInfo](), os.uname().nodename
    here = [path.name for path in runs_dir.glob("*") if path.is_dir() and not path.is_symlink()]
    for path in (runs_dir / name for name in _names(here, prefix, since)):
        record = read_json(path / RECORD)
        state, pid = str(record.get("status") or "unknown"), record.get("pid")
        if state == "running" and isinstance(pid, int) and record.get("host") == host:
            try:
                os.kill(pid, 0)  # signal 0 only asks whether the process exists
            except (OSError, OverflowError) as error:  # PermissionError: another user's, alive
                state = "died" if isinstance(error, ProcessLookupError) else state
        stage, stamp, _ = path.name.rsplit("_", 2)
        started = datetime.strptime(stamp, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
        took, metrics = record.get("duration_s"), record.get("metrics")
        took = float(took) if isinstance(took, int | float) and 0 <= took < 1e9 else None  # no NaN
        metrics = {k: v for k, v in getattr(metrics, "items", list)() if isinstance(v, int | float)}
        found.append(RunInfo(path.name, stage, state, started, took, metrics, path))
    return [run for run in found if status in (None, run.status)]


def main(root: Path, argv: list[str]) -> int:
    """Run `runs ls|show|rm|push|pull`: bad input exits with status 2, a failed transfer 1."""
    parser = Parser(prog="runs", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("command", choices=("ls", "show", "rm", "push", "pull"))
    parser.add_argument("prefix", nargs="?", metavar="ID", help="a run id, or the start of one")
    parser.add_argument("--last", metavar="TIME", help="started in the last 30m, 3h, 2d, 1w")
    for flag in ("newest", "all", "dry-run", "force"):  # --newest: show; the others: rm
        parser.add_argument(f"--{flag}", action="store_true")
    only = parser.add_mutually_exclusive_group()
    for status in STATUSES:
        only.add_argument(f"--{status}", dest="status", action="store_const", const=status)
    args = parser.parse_args(argv)
    runs, prefix, last = records.runs_dir(root), args.prefix, args.last or "1s"
    if not (last[:-1].isdecimal() and 0 < int(last[:-1]) < 10**5 and last[-1] in UNITS):
        raise UsageError(f"--last '{args.last}' is not a duration; use e.g. 30m, 3h, 2d")
    since = timedelta(seconds=int(last[:-1]) * UNITS[last[-1]]) if args.last else None
    filters = (prefix and records.check_name(prefix), args.status, since)
    if args.command == "pull" and args.status:  # a status is in run.json, not in a name
        raise UsageError("pull picks runs by ID and --last, not by status")
    if args.command == "rm" and not (any(filters) or args.all):
        raise UsageError("rm needs a filter (PREFIX, a status flag or --last), or --all")
    found, done = find_runs(*filters, runs) if args.command != "pull" else [], f"in {runs.name}/"
    if args.command in ("push", "pull"):
        return _sync(root, runs, args.command, found, prefix, since)
    if args.command == "show" and found:  # the newest that matches
        run, many = found[-1], [f"{len(found):,} runs match; the newest:"] * (len(found) > 1)
        rec, facts = read_json(run.path / RECORD), read_json(run.path / "provenance.json")
        rows = {"folder": run.path, "error": rec.get("error"), "overrides": rec.get("overrides")}
        rows |= {"metrics": "  ".join(f"{k}={v:.6g}" for k, v in run.metrics.items())} | facts
        rows["untracked"] = len(facts.get("untracked") or []) or None  # a count
        shown = [(k, "  ".join(map(str, v)) if isinstance(v, list) else v) for k, v in rows.items()]
        kept = [f"{key:<15} {value}" for key, value in shown if value not in (None, "")]
        print(*many * (not args.newest), _table([run]), *kept, sep="\n")
        return 0
    if args.command == "rm":  # not a running run unless asked for (--running); links: not runs
        live = [run for run in found if run.status == "running" and not args.status]
        found, force = [run for run in found if run not in live], args.force and not args.dry_run
        for run in found if force else ():  # without --force (or with --dry-run), a dry run
            shutil.rmtree(run.path)
        done = "deleted" if force else "would be deleted: add --force"
        if live:
            print(f"kept {_plural(len(live), 'run')} still running (add --running to delete them)")
    print(f"{_table(found)}\n{_plural(len(found), 'run')} {done}" if found else "no runs match")
    return 0


def _sync(root: Path, runs: Path, verb: str, found: list[RunInfo], prefix: Text, since: Age) -> int:
    from botocore.exceptions import BotoCoreError
    from dvc.config import ConfigError
    from dvc.repo import Repo

    try:  # the default remote and DVC's filesystem for it, as `dvc push` has them
        remote = Repo(str(root), uninitialized=True).cloud.get_remote()
    except ConfigError as error:  # a garbled .dvc/config, no default remote
        raise UsageError(f"{str(error).split('. ')[0]}; see `make use-b2`") from error
    fs, base = remote.fs, remote.fs.join(remote.path, "runs")
    try:  # files by (run id, *path parts inside its folder): their sizes
        theirs = {tuple(fs.relparts(k, base)): n for k, n in fs.du(base, total=False).items()}
        if verb == "push":  # what is missing or resized there
            ours = {(run.id, *p): n for run in found for p, n in _files(run.path).items()}
            todo = {p: n for p, n in ours.items() if theirs.get(p) != n}
        else:  # what is missing here
            ids = set(_names({p[0] for p in theirs}, prefix, since))
            ours = {(i, *p): n for i in ids for p, n in _files(runs / i).items()}
            todo = {p: n for p, n in theirs.items() if p[0] in ids and p[1:] and p not in ours}
        for parts in sorted(todo, key=lambda p: (p[0], p[1:] == (RECORD,), p)):  # run.json last
            there, here = fs.join(base, *parts), runs.joinpath(*parts)
            if verb == "push":
                fs.put_file(str(here), there)
            elif here.resolve().is_relative_to(runs.resolve() / parts[0]):  # no link, no `..`
                with records.replacing(here) as temporary:  # never a half-written file
                    fs.get_file(there, str(temporary))
    except (BotoCoreError, OSError) as error:  # no key, bucket or endpoint; a transfer cut off
        where, fixes = fs.unstrip_protocol(base), "see `make b2-login` and `make use-b2`"
        print(f"error: remote '{remote.name}' ({where}): {error}; {fixes}", file=sys.stderr)
        return 1
    print(f"{verb}ed {_plural(len({p[0] for p in todo}), 'run')} ({_plural(len(todo), 'file')})")
    return 0


def _files(folder: Path) -> dict[tuple[str, ...], int]:  # no links, no temporary files
    found = [f for f in folder.rglob("*") if f.is_file() and not f.is_symlink()]
    return {f.relative_to(folder).parts: f.stat().st_size for f in found if not f.match(".*.tmp")}


def _names(names: Any, prefix: Text, since: Age) -> list[str]:  # the run ids, oldest first
    cutoff = (datetime.now(timezone.utc) - since).strftime(TIMESTAMP_FORMAT) if since else ""
    found = [m for m in map(records.RUN_ID.match, names) if m and m[0].startswith(prefix or "")]
    return [m[0] for m in sorted(found, key=lambda m: (m["stamp"], m[0])) if m["stamp"] >= cutoff]


def _table(runs: list[RunInfo]) -> str:
    rows = [("ID", "STAGE", "STATUS", "STARTED", "DURATION", "KEY METRIC")]
    for r in runs:
        d = r.duration_s
        took = "-" if d is None else f"{d:.1f}s" if d < 60 else str(timedelta(seconds=round(d)))
        metric = next((f"{name}={value:.4g}" for name, value in r.metrics.items()), "-")
        rows.append((r.id, r.stage, r.status, f"{r.started.astimezone():%F %T}", took, metric))
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    return "\n".join("  ".join(map(str.ljust, row, widths)).rstrip() for row in rows)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
