"""Run folders as a collection: `runs ls|show|rm|push|pull [ID] [--failed...] [--last 3h]`.

Filters read folder names (`<stage>_<UTC start>_<random>`) before any run.json. push and pull
use DVC's filesystem for the default remote (`<remote>/runs/<id>/`) and move only missing
files (push: also resized ones), run.json last, so a stopped transfer run again finishes.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from . import records
from .records import RECORD, TIMESTAMP_FORMAT, UsageError, read_json
from .remote import Parser, check

STATUSES = ("running", "completed", "failed", "interrupted", "died", "unknown")  # died: no process
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
Filters = tuple[str | None, str | None, timedelta | None]  # PREFIX, status, --last
Files = dict[tuple[str, ...], int]  # a run's files (path parts inside its folder): their sizes


@dataclass(frozen=True)
class RunInfo:
    """One run folder as its name and run.json describe it (status `unknown`: no run.json)."""

    id: str
    stage: str
    status: str
    started: datetime
    duration_s: float | None
    metrics: dict[str, float]
    path: Path


def find_runs(
    prefix: str | None = None,
    status: str | None = None,
    since: timedelta | None = None,
    runs_dir: Path = Path("runs"),
) -> list[RunInfo]:
    """The runs in `runs_dir` matching every filter given, oldest first (by name, then run.json)."""
    runs = [read_run(runs_dir / name) for name in _names(runs_dir, prefix, since)]
    return [run for run in runs if status in (None, run.status)]


def read_run(path: Path, record: dict[str, Any] | None = None) -> RunInfo:
    """Describe a run folder from its name (a run id) and run.json (or `record`), in any state."""
    record = read_json(path / RECORD) if record is None else record
    status, pid = str(record.get("status") or "unknown"), record.get("pid")
    pid = pid if isinstance(pid, int) and 0 < pid < 2**31 else None  # a pid a process can have
    if status == "running" and pid and record.get("host") == socket.gethostname():
        try:
            os.kill(pid, 0)  # signal 0 only asks whether the process exists
        except ProcessLookupError:
            status = "died"
        except OSError:  # it exists, as another user's
            pass
    stage, stamp, _ = path.name.rsplit("_", 2)
    started = datetime.strptime(stamp, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
    took, metrics = record.get("duration_s"), record.get("metrics")
    took = float(took) if isinstance(took, int | float) and 0 <= took < 1e9 else None  # no NaN
    metrics = metrics if isinstance(metrics, dict) else {}
    metrics = {str(k): v for k, v in metrics.items() if isinstance(v, int | float)}
    return RunInfo(path.name, stage, status, started, took, metrics, path)


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
    runs, prefix = records.runs_dir(root), args.prefix and records.check_name(args.prefix)
    if args.command == "show":
        return _show(runs, prefix, args.newest)
    last = args.last or "1s"
    if not (last[:-1].isdecimal() and 0 < int(last[:-1]) < 10**5 and last[-1] in UNITS):
        raise UsageError(f"--last '{args.last}' is not a duration; use e.g. 30m, 3h, 2d")
    since = timedelta(seconds=int(last[:-1]) * UNITS[last[-1]]) if args.last else None
    filters: Filters = (prefix, args.status, since)
    if args.command in ("push", "pull"):
        check(root)  # one clear line for a missing key, endpoint or bucket, before anything moves
        return _sync(root, runs, args.command, filters)
    if args.command == "rm":
        return _rm(runs, filters, args.all, args.force and not args.dry_run)
    found, total = find_runs(*filters, runs), _plural(len(_names(runs, None, None)), "run")
    shown = f"{len(found):,} of " * any(filters) if found else "no runs match: "
    print(f"{_table(found)}\n" * bool(found) + f"{shown}{total} in {runs.name}/")
    return 0


def _show(runs: Path, prefix: str | None, newest: bool) -> int:
    if prefix is None and not newest:
        raise UsageError("show needs a run id, the start of one, or --newest; see `runs ls`")
    names = _names(runs, prefix, None)
    if not names:
        raise UsageError(f"no run {f'starting with {prefix!r} ' * bool(prefix)}in {runs}/")
    if prefix not in names and len(names) > 1 and not newest:
        raise UsageError(f"'{prefix}' starts {len(names)} run ids; give more, or add --newest")
    run = read_run(runs / (prefix if prefix in names else names[-1]))
    record, facts = read_json(run.path / RECORD), read_json(run.path / "provenance.json")
    overrides = [o for o in map(str, record.get("overrides") or []) if not o.startswith("stage=")]
    rows = {"folder": run.path, "mode": record.get("mode"), "error": record.get("error")}
    rows["metrics"] = "  ".join(f"{k}={_number(v, 6)}" for k, v in run.metrics.items())
    rows["overrides"] = " ".join(overrides)  # the command line's changes to conf/
    rows |= {k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in facts.items()}
    rows["argv"] = " ".join(map(str, facts.get("argv") or []))
    rows["untracked"] = len(facts.get("untracked") or []) or None  # paths: in provenance.json
    width = max(map(len, rows)) + 2
    kept = [f"{key.ljust(width)}{value}" for key, value in rows.items() if value not in (None, "")]
    print(_table([run]), *kept, sep="\n")
    return 0


def _rm(runs: Path, filters: Filters, every: bool, force: bool) -> int:
    if not any(filters) and not every:
        raise UsageError("rm needs a filter (PREFIX, a status flag or --last), or --all")
    found = find_runs(*filters, runs)
    if live := [run for run in found if run.status == "running" and not filters[1]]:
        print(f"keeping {_plural(len(live), 'run')} still running (add --running to delete them)")
    found = [run for run in found if run not in live]
    if any(run.path.is_symlink() for run in found):
        raise UsageError(f"a matching run is a link; rm deletes nothing outside {runs}/")
    count, table = _plural(len(found), "run"), _table(found)
    if not found or not force:  # without --force (or with --dry-run), a dry run
        print(f"{table}\n{count} would be deleted: add --force" if found else "no runs match")
        return 0
    for run in found:
        shutil.rmtree(run.path)
    print(f"{table}\ndeleted {count} from {runs.name}/")
    return 0


def _sync(root: Path, runs: Path, verb: str, filters: Filters) -> int:
    from dvc.config import Config
    from dvc.fs import get_cloud_fs

    config = Config(dvc_dir=str(root / ".dvc"))
    cls, settings, path = get_cloud_fs(config, name=config["core"]["remote"])
    fs = cls(**settings)  # DVC's own filesystem for the remote, as `dvc push` uses it
    base, (prefix, status, since) = fs.join(path, "runs"), filters
    stored: dict[str, Files] = {}  # run id: its files there
    for name, size in fs.du(base, total=False).items():  # one listing, with sizes
        run_id, *parts = fs.relparts(name, base)
        stored.setdefault(run_id, {})[tuple(parts)] = size
    where = fs.unstrip_protocol(base)
    if verb == "pull" and not stored:  # nothing pushed there yet: say where it looked
        own = fs.protocol == "local" and Path(base).resolve().is_relative_to(root.resolve())
        hint = " (a folder of this clone's own, which other clones cannot reach: `make use-b2`)"
        print(f"no runs on {where}/" + hint * own)
        return 0
    todo: dict[str, Files] = {}  # run id: the files to move, with their sizes
    for run in find_runs(*filters, runs) if verb == "push" else ():
        there = stored.get(run.id, {})
        todo[run.id] = {p: n for p, n in _files(run.path).items() if there.get(p) != n}
    for run_id in _names(runs, prefix, since, stored) if verb == "pull" else ():
        folder, files, mine = runs / run_id, stored[run_id], read_json(runs / run_id / RECORD)
        here = folder.exists() and not mine.get("ended")  # pulled while it was running?
        wanted = (RECORD,) in files and (status or here)
        theirs = read_json(fs.cat_file(fs.join(base, run_id, RECORD))) if wanted else {}
        if status and read_run(folder, theirs).status != status:  # as `ls` does
            continue
        # Missing files; and, for a run that ended there since it was pulled, its record and each
        # file that changed size. A local record that ended as late or later is never replaced.
        newer, have = str(theirs.get("ended") or "") > str(mine.get("ended") or ""), _files(folder)
        stale = [p for p, n in files.items() if newer and (p == (RECORD,) or have.get(p) != n)]
        inside = runs.resolve() / run_id  # never through a link or `..`: into its own folder only
        safe = [p for p in files if p and folder.joinpath(*p).resolve().is_relative_to(inside)]
        todo[run_id] = {p: files[p] for p in safe if p not in have or p in stale}
    print(f"{verb}ing {_plural(len(todo), 'run')}: {where}/")
    for run_id, files in todo.items():
        for parts in sorted(files, key=lambda parts: (parts == (RECORD,), parts)):  # record last
            remote, local = fs.join(base, run_id, *parts), runs.joinpath(run_id, *parts)
            if verb == "push":
                fs.put_file(str(local), remote)
                continue
            with records.replacing(local) as temporary:  # never a half-written file
                fs.get_file(remote, str(temporary))
        done = f"{_plural(len(files), 'file')} ({sum(files.values()):,} B)"
        print(f"  {run_id}: {done if files else 'up to date'}", flush=True)
    sent = [files for files in todo.values() if files]
    total = f"{_plural(sum(map(len, sent)), 'file')}, {sum(sum(f.values()) for f in sent):,} B"
    print(f"{verb}ed {_plural(len(sent), 'run')} ({total}); {len(todo) - len(sent)} up to date")
    return 0


def _files(folder: Path) -> Files:
    # A run folder's files, but no links and no temporary files of writes under way.
    found = [f for f in folder.rglob("*") if f.is_file() and not f.is_symlink()]
    return {f.relative_to(folder).parts: f.stat().st_size for f in found if not f.match(".*.tmp")}


def _names(runs: Path, prefix: str | None, since: timedelta | None, names: Any = None) -> list[str]:
    # Run folders, oldest first, by name alone (`<stage>_<UTC start>_<random>`; not .multirun/).
    if names is None:
        names = [e.name for e in os.scandir(runs) if e.is_dir()] if runs.is_dir() else []
    cutoff = (datetime.now(timezone.utc) - since).strftime(TIMESTAMP_FORMAT) if since else ""
    found = [m for m in map(records.RUN_ID.match, names) if m and m[0].startswith(prefix or "")]
    return [m[0] for m in sorted(found, key=lambda m: (m["stamp"], m[0])) if m["stamp"] >= cutoff]


def _table(runs: list[RunInfo]) -> str:
    rows = [("ID", "STAGE", "STATUS", "STARTED", "DURATION", "KEY METRIC")]
    for r in runs:
        d = r.duration_s
        took = "-" if d is None else f"{d:.1f}s" if d < 60 else str(timedelta(seconds=round(d)))
        started = r.started.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        metric = next((f"{name}={_number(value, 4)}" for name, value in r.metrics.items()), "-")
        rows.append((r.id, r.stage, r.status, started, took, metric))
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    return "\n".join("  ".join(map(str.ljust, row, widths)).rstrip() for row in rows)


def _number(value: float, digits: int) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}g}"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
