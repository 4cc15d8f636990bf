"""Run folders as a collection: list, show, delete, and sync them with the DVC remote.

    python -m <package> runs ls|rm|push|pull [PREFIX] [--completed|--failed|...] [--last 3h]
    python -m <package> runs show ID | [PREFIX] --newest        (rm: --all --dry-run --force)

Filters read folder names (`<stage>_<UTC start>_<random>`) before any run.json, so listing
the last hours of ten thousand runs takes a fraction of a second. push and pull use DVC's
own filesystem for the default remote (`<remote>/runs/<id>/`) and move only missing files
(push: also resized ones), run.json last: a folder with a record is complete, and running
a stopped transfer again finishes it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, cast

from . import records
from .records import RECORD, UsageError, read_json
from .remote import Parser, RemoteError, check

STATUSES = ("running", "completed", "failed", "interrupted", "died")  # died: its process is gone
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
Filters = tuple[str | None, str | None, timedelta | None]  # PREFIX, status, --last
TEMPORARY = ".*.tmp"  # a file still being written (records.replacing): never synced


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
    """The runs in `runs_dir` matching every filter given, oldest first.

    Only the folders whose names pass `prefix` and `since` are read.
    """
    names = run_names(runs_dir, prefix, _cutoff(since))
    runs = [read_run(runs_dir / name) for name in names]
    return sorted((r for r in runs if status in (None, r.status)), key=lambda r: (r.started, r.id))


def run_names(runs_dir: Path, prefix: str | None = None, cutoff: str | None = None) -> list[str]:
    """The run folders in `runs_dir` whose ids start with `prefix`, started at `cutoff` or later.

    `cutoff` is a timestamp as in run ids, which sort in time order as text. Folders not
    named like runs (Hydra's .multirun/, a user's notes/) are left out.
    """
    try:
        with os.scandir(runs_dir) as entries:
            return [e.name for e in entries if _wanted(e.name, prefix, cutoff or "") and e.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def read_run(path: Path, record: dict[str, Any] | None = None) -> RunInfo:
    """Describe a run folder from its name and run.json (or `record`), in whatever state."""
    record = read_json(path / RECORD) if record is None else record
    match = records.RUN_ID.match(path.name)
    status, pid = str(record.get("status") or "unknown"), record.get("pid")
    if status == "running" and isinstance(pid, int) and record.get("host") == socket.gethostname():
        try:
            os.kill(pid, 0)  # signal 0 only asks whether the process exists
        except ProcessLookupError:
            status = "died"
        except OSError:  # it exists, as another user's
            pass
    named = datetime.strptime(match["stamp"], records.TIMESTAMP_FORMAT) if match else None
    metrics = record.get("metrics")
    metrics = metrics if isinstance(metrics, dict) else {}
    return RunInfo(
        id=path.name,
        stage=str(record.get("stage") or (match["stage"] if match else path.name)),
        status=status,
        started=_time(record.get("started")) or _time(named) or datetime.now(timezone.utc),
        duration_s=_number(record.get("duration_s")),
        metrics={str(k): float(v) for k, v in metrics.items() if _number(v) is not None},
        path=path,
    )


def main(root: Path, argv: list[str]) -> int:
    """Run `runs ls|show|rm|push|pull`: bad input exits with status 2, a failed transfer 1."""
    parser = Parser(prog="runs", description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    show = commands.add_parser("show", help="a run's record, metrics, config changes, provenance")
    show.add_argument("id", nargs="?", metavar="ID", help="a run id, or the start of one")
    show.add_argument("--newest", action="store_true", help="the newest run (whose id starts so)")
    for name in ("ls", "rm", "push", "pull"):
        sub = commands.add_parser(name, help=f"{name} runs (see the `runs` docstring)")
        sub.add_argument("prefix", nargs="?", metavar="PREFIX", help="start of the run ids")
        sub.add_argument("--last", metavar="TIME", help="started in the last 30m, 3h, 2d, 1w")
        for flag in [*STATUSES, *(["all", "dry-run", "force"] if name == "rm" else [])]:
            sub.add_argument(f"--{flag}", action="store_true")
    try:
        args = parser.parse_args(argv)
        runs = records.runs_dir(root)
        if args.command == "show":
            return _show(root, runs, args)
        filters = _filters(args)
        if args.command in ("push", "pull"):
            return _sync(root, runs, args.command, filters)
        return (_ls if args.command == "ls" else _rm)(runs, args, filters)
    except (UsageError, RemoteError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1


def _ls(runs: Path, args: argparse.Namespace, filters: Filters) -> int:
    found, total = find_runs(*filters, runs), len(run_names(runs))
    if not found:
        hint = f"{_plural(total, 'run')} in" if total else "run a stage first; none yet in"
        print(f"no runs match ({hint} {runs.name}/)")
    else:
        shown = f"{len(found):,} of " if any(filters) else ""
        print(f"{_table(found)}\n{shown}{_plural(total, 'run')} in {runs.name}/")
    return 0


def _show(root: Path, runs: Path, args: argparse.Namespace) -> int:
    prefix = records.check_name(args.id, "run id") if args.id else None
    newest = [run.id for run in find_runs(prefix, runs_dir=runs)] if args.newest else []
    names = newest or run_names(runs, prefix)
    if prefix is None and not args.newest:
        raise UsageError("show needs a run id, the start of one, or --newest; see `runs ls`")
    if not names:
        raise UsageError(
            f"no run {f'starting with {prefix!r} ' * bool(prefix)}in {runs}/; see `runs ls`"
        )
    if prefix not in names and len(names) > 1 and not args.newest:
        raise UsageError(f"'{prefix}' starts {len(names)} run ids; give more, or add --newest")
    run = read_run(runs / (prefix if prefix in names else names[-1]))
    record, provenance = read_json(run.path / RECORD), read_json(run.path / "provenance.json")
    rows = {"run": run.id, "folder": run.path, "stage": run.stage, "status": run.status}
    rows |= {"mode": record.get("mode"), "started": _local(run.started)}
    rows |= {"ended": _local(_time(record.get("ended"))), "duration": _duration(run.duration_s)}
    print(_lines({**rows, "error": record.get("error")}, "").lstrip())
    print("\nmetrics" + (_lines({k: f"{v:.6g}" for k, v in run.metrics.items()}) or ": none"))
    try:
        from omegaconf import OmegaConf

        from .pipeline import changed_keys, compose

        ran = cast(dict[str, Any], OmegaConf.to_container(OmegaConf.load(run.path / "config.yaml")))
        defaults = cast(dict[str, Any], OmegaConf.to_container(compose(root, []), resolve=True))
        found = [c for c in changed_keys(defaults, ran) if not c.startswith("stage:")]
        changes = "".join(f"\n  {change}" for change in found) or ": none"
    except Exception as error:  # no config.yaml, a broken conf/: the rest of `show` still helps
        changes = f": cannot compare ({type(error).__name__}: {error})"
    print("\nconfig, changes from the defaults in conf/" + changes)
    # Any key may be missing (older runs, a machine without git): each is looked up alone.
    git, python = _get(provenance, "git") or {}, _get(provenance, "python")
    dirty = {True: ", uncommitted changes", False: ", clean"}.get(_get(git, "dirty"), "")
    rows = {"git": f"{str(_get(git, 'commit') or 'no commit')[:12]}{dirty}" if git else None}
    rows |= {"python": _get(python, "version") or python, "host": _get(provenance, "hostname")}
    rows["gpus"] = ", ".join(str(_get(g, "name") or g) for g in _get(provenance, "gpus") or [])
    lock = _get(provenance, "uv_lock_sha256") or _get(provenance, "uv_lock", "sha256")
    rows |= {"seed": _get(provenance, "seed"), "uv.lock": lock and f"sha256 {str(lock)[:16]}"}
    print("\nprovenance" + (_lines(rows) if provenance else ": not recorded"))
    return 0


def _rm(runs: Path, args: argparse.Namespace, filters: Filters) -> int:
    if not any(filters) and not args.all:
        raise UsageError("rm needs a filter (PREFIX, a status flag or --last), or --all")
    found = find_runs(*filters, runs)
    live = [run for run in found if run.status == "running" and not filters[1]]
    found = [run for run in found if run not in live]
    if live:
        print(f"keeping {_plural(len(live), 'run')} still running (add --running to delete them)")
    if any(run.path.is_symlink() or run.path.resolve().parent != runs.resolve() for run in found):
        raise UsageError(f"a matching run is a link; rm deletes nothing outside {runs}/")
    count = _plural(len(found), "run")
    if not found or args.dry_run:
        print(_table(found) + f"\ndry run: {count} would be deleted" if found else "no runs match")
        return 0
    print(_table(found))
    if not args.force and not sys.stdin.isatty():
        raise UsageError(
            f"not deleting {count} without a terminal to ask; add --force or --dry-run"
        )
    if not args.force and input(f"Delete {count}? [y/N] ").strip().lower() not in ("y", "yes"):
        print("nothing deleted")
        return 0
    for run in found:
        shutil.rmtree(run.path)
    print(f"deleted {count} from {runs.name}/")
    return 0


def _sync(root: Path, runs: Path, verb: str, filters: Filters) -> int:
    from dvc.config import Config
    from dvc.fs import get_cloud_fs

    check(root)  # one clear line for a missing key, endpoint or bucket, before anything moves
    config = Config(dvc_dir=str(root / ".dvc"))
    cls, settings, path = get_cloud_fs(config, name=config["core"]["remote"])
    fs = cls(**settings)  # DVC's own filesystem for the remote, as `dvc push` uses it
    base, url = fs.join(path, "runs"), fs.unstrip_protocol(fs.join(path, "runs")) + "/"
    listed = _safely(fs.fs.find, base, detail=True)
    if not isinstance(listed, dict):  # DVC's local filesystem lists names without sizes
        listed = {name: fs.info(name) for name in listed}
    stored: dict[str, dict[tuple[str, ...], int]] = {}
    for name, info in listed.items():
        run_id, *parts = fs.relparts(name, base)
        stored.setdefault(run_id, {})[tuple(parts)] = int(info["size"])
    if verb == "push":
        here = {run.id: _files(run.path) for run in find_runs(*filters, runs)}
        todo = {
            r: [p for p, n in f.items() if stored.get(r, {}).get(p) != n] for r, f in here.items()
        }
    else:
        cutoff, status, here, todo = _cutoff(filters[2]), filters[1], {}, {}
        for run_id, files in stored.items():
            if not _wanted(run_id, filters[0], cutoff) or () in files:
                continue
            if status:  # read from the stored run.json, as `ls` reads the local one
                has_record = (RECORD,) in files
                record = _safely(fs.cat_file, fs.join(base, run_id, RECORD)) if has_record else b""
                if read_run(Path(run_id), read_json(record)).status != status:
                    continue
            # Never through a link or `..`: a file lands inside its own run folder, or nowhere.
            folder, targets = runs.resolve() / run_id, {p: runs.joinpath(run_id, *p) for p in files}
            inside = [p for p, target in targets.items() if target.resolve().is_relative_to(folder)]
            here[run_id], todo[run_id] = files, [p for p in inside if not targets[p].exists()]
    print(f"{verb}ing {_plural(len(todo), 'run')} {'to' if verb == 'push' else 'from'} {url}")
    moved = []
    for run_id in sorted(todo, key=lambda run_id: (run_id.rsplit("_", 2)[1], run_id)):
        paths = [p for p in todo[run_id] if not fnmatch(p[-1], TEMPORARY)]
        for parts in sorted(paths, key=lambda parts: (parts == (RECORD,), parts)):
            remote, local = fs.join(base, run_id, *parts), runs.joinpath(run_id, *parts)
            if verb == "push":
                _safely(fs.put_file, str(local), remote)
                continue
            with records.replacing(local) as temporary:  # never a half-written file
                _safely(fs.get_file, remote, str(temporary))
        moved.append([here[run_id][parts] for parts in paths])
        done = f"{_plural(len(moved[-1]), 'file')} ({sum(moved[-1]):,} B)"
        print(f"  {run_id}: {done if paths else 'up to date'}", flush=True)
    sent = [sizes for sizes in moved if sizes]
    total = f"{_plural(sum(map(len, sent)), 'file')}, {sum(map(sum, sent)):,} B"
    print(f"{verb}ed {_plural(len(sent), 'run')} ({total}); {len(moved) - len(sent)} up to date")
    return 0


def _files(folder: Path) -> dict[tuple[str, ...], int]:
    """A run folder's regular files (not links: they could point anywhere), with sizes."""
    files = [file for file in folder.rglob("*") if file.is_file() and not file.is_symlink()]
    return {file.relative_to(folder).parts: file.stat().st_size for file in files}


def _safely(action: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one remote operation; its failure is one line saying that a re-run resumes."""
    try:
        return action(*args, **kwargs)
    except OSError as error:
        raise RemoteError(f"{error}; run it again to finish (what moved is kept)") from error


def _filters(args: argparse.Namespace) -> Filters:
    """PREFIX, the status flag and --last of a command line, checked."""
    chosen = [status for status in STATUSES if getattr(args, status)]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(f'--{s}' for s in chosen)} cannot be combined")
    last = args.last or "1s"
    if not (last[:-1].isdecimal() and 0 < int(last[:-1]) < 10**5 and last[-1] in UNITS):
        raise UsageError(f"--last '{args.last}' is not a duration; use e.g. 30m, 3h, 2d")
    since = timedelta(seconds=int(last[:-1]) * UNITS[last[-1]]) if args.last else None
    prefix = records.check_name(args.prefix, "run id prefix") if args.prefix else None
    return prefix, chosen[0] if chosen else None, since


def _cutoff(since: timedelta | None) -> str:
    """The earliest start `since` allows, as in run ids (which sort in time order as text)."""
    return (datetime.now(timezone.utc) - since).strftime(records.TIMESTAMP_FORMAT) if since else ""


def _wanted(name: str, prefix: str | None, cutoff: str) -> bool:
    match = records.RUN_ID.match(name)
    return match is not None and name.startswith(prefix or "") and match["stamp"] >= cutoff


def _table(runs: list[RunInfo]) -> str:
    rows = [("ID", "STAGE", "STATUS", "STARTED", "DURATION", "KEY METRIC")]
    for r in runs:
        metric = next((f"{name}={value:.4g}" for name, value in r.metrics.items()), "-")
        rows.append((r.id, r.stage, r.status, _local(r.started), _duration(r.duration_s), metric))
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    return "\n".join("  ".join(map(str.ljust, row, widths)).rstrip() for row in rows)


def _lines(rows: dict[str, object], indent: str = "  ") -> str:
    width = max(map(len, rows), default=0) + 2
    return "".join(f"\n{indent}{k.ljust(width)}{v}" for k, v in rows.items() if v not in (None, ""))


def _get(data: object, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _time(value: object) -> datetime | None:
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f}s" if seconds < 60 else str(timedelta(seconds=round(seconds)))


def _local(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
