"""`runs`: finding run folders, listing, showing, deleting safely, syncing with a DVC remote.

Every run here is a folder the test writes itself, so nothing depends on the project's
stages, conf/ values or remote; push and pull go to a local-folder DVC remote.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import ROOT

from {{ cookiecutter.pkg_name }}.runtime import provenance
from {{ cookiecutter.pkg_name }}.runtime.cli import command
from {{ cookiecutter.pkg_name }}.runtime.notebook import runs_frame
from {{ cookiecutter.pkg_name }}.runtime.records import TIMESTAMP_FORMAT
from {{ cookiecutter.pkg_name }}.runtime.runs import find_runs

NOW = datetime.now(timezone.utc)


def main(root: Path, argv: list[str]) -> int:
    """`runs ARGV` as the command line runs it: its exit status."""
    return command(root, "runs", argv)


def make_run(
    runs: Path, stage: str, age: timedelta, status: str | None = "completed", **extra: object
) -> str:
    """Write a run folder as the runtime would; status None leaves out run.json."""
    started = NOW - age
    run_id = f"{stage}_{started.strftime(TIMESTAMP_FORMAT)}_{secrets.token_hex(3)}"
    folder = runs / run_id
    (folder / "artifacts").mkdir(parents=True)
    (folder / "run.log").write_text(f"run {run_id}\n", encoding="utf-8")
    (folder / "artifacts" / "model.bin").write_bytes(secrets.token_bytes(1000))
    if status is not None:
        record = {"id": run_id, "stage": stage, "status": status, "started": started.isoformat()}
        record |= {"duration_s": 95.0, "metrics": {}, **extra}
        (folder / "run.json").write_text(json.dumps(record), encoding="utf-8")
    return run_id


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A project root whose runs folder holds one run of each kind, and two other folders."""
    runs = tmp_path / "project" / "runs"
    here = {"pid": os.getpid(), "host": socket.gethostname()}
    ids = {
        "old": make_run(runs, "alpha", timedelta(days=40), metrics={"score": 0.5}),
        "failed": make_run(runs, "beta", timedelta(hours=30), "failed"),
        "recent": make_run(runs, "beta", timedelta(hours=2), metrics={"loss": 1.23456}),
        "no_record": make_run(runs, "gamma", timedelta(hours=1), None),
        "died": make_run(
            runs, "beta", timedelta(minutes=20), "running", pid=dead_pid(), host=here["host"]
        ),
        "live": make_run(runs, "delta", timedelta(minutes=5), "running", **here),
    }
    (runs / ".multirun" / "2026-01-01").mkdir(parents=True)
    (runs / "notes").mkdir()
    (runs.parent / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
    return runs.parent


def ids_of(root: Path) -> dict[str, str]:
    """The ids the `root` fixture made, by kind."""
    return dict(json.loads((root / "ids.json").read_text(encoding="utf-8")))


def left(root: Path) -> set[str]:
    """Names of the folders left in the runs folder."""
    return {path.name for path in (root / "runs").iterdir()}


def test_find_runs_returns_run_folders_oldest_first_with_their_status(root: Path) -> None:
    ids = ids_of(root)
    runs = find_runs(runs_dir=root / "runs")
    kinds = ("old", "failed", "recent", "no_record", "died", "live")
    assert [run.id for run in runs] == [ids[kind] for kind in kinds]
    status = {run.id: run.status for run in runs}
    assert [status[ids[kind]] for kind in kinds] == [
        "completed",
        "failed",
        "completed",
        "unknown",
        "died",
        "running",
    ]
    recent = runs[2]
    assert (recent.stage, recent.duration_s, recent.path) == (
        "beta",
        95.0,
        root / "runs" / ids["recent"],
    )
    assert recent.metrics == {"loss": 1.23456}


def test_find_runs_filters_by_prefix_status_and_age(root: Path) -> None:
    ids, runs = ids_of(root), root / "runs"
    assert {r.id for r in find_runs("beta", runs_dir=runs)} == {
        ids[k] for k in ("failed", "recent", "died")
    }
    assert [r.id for r in find_runs(status="died", runs_dir=runs)] == [ids["died"]]
    recent = {r.id for r in find_runs(since=timedelta(hours=3), runs_dir=runs)}
    assert recent == {ids[k] for k in ("recent", "no_record", "died", "live")}
    assert [r.id for r in find_runs("beta", "completed", timedelta(days=1), runs)] == [
        ids["recent"]
    ]
    assert find_runs(runs_dir=root / "nowhere") == []


def test_ls_prints_a_table_and_counts_what_it_kept(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ids_of(root)
    assert main(root, ["ls"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "STAGE", "STATUS", "STARTED", "DURATION", "KEY", "METRIC"]
    assert {line.split()[0] for line in lines[1:-1]} == set(ids.values())
    assert "loss=1.235" in next(line for line in lines if ids["recent"] in line)
    assert lines[-1] == "6 runs in runs/"
    assert main(root, ["ls", "beta", "--completed", "--last", "1d"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == [ids["recent"]]
    assert lines[-1] == "1 of 6 runs in runs/"
    assert main(root, ["ls", "nosuchstage"]) == 0
    assert capsys.readouterr().out == "no runs match: 6 runs in runs/\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ls", "--last", "3x"], "--last '3x' is not a duration; use e.g. 30m, 3h, 2d"),
        (["ls", "--last", "99999999w"], "is not a duration"),
        (["ls", "--failed", "--completed"], "not allowed with argument --failed"),
        (["ls", "../elsewhere"], "must be a plain name"),
        (["rm", "a/b", "--force"], "must be a plain name"),
        (["show"], "show needs a run id, the start of one, or --newest"),
        (["show", "beta"], "'beta' starts 3 run ids; give more, or add --newest"),
        (["show", "nosuch", "--newest"], "no run starting with 'nosuch'"),
        (["rm", "--force"], "rm needs a filter"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_status_2(
    root: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = left(root)
    assert main(root, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert len(err.splitlines()) == 1
    assert left(root) == before


@pytest.mark.parametrize(
    ("extra", "config"),
    [
        ({"pid": 10**20, "duration_s": -5}, b"a: [\n"),
        ({"duration_s": float("nan")}, b"\xff"),
        ({"duration_s": 1e308}, b""),
    ],
    ids=["huge-pid+truncated-config", "nan-duration+binary-config", "huge-duration"],
)
def test_one_corrupt_run_folder_breaks_no_listing(
    root: Path, extra: dict[str, float], config: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = root / "runs"
    run_id = make_run(runs, "omega", timedelta(0), "running", host=socket.gethostname(), **extra)
    (runs / run_id / "config.yaml").write_bytes(config)  # the notebook reads it
    for argv in (["ls"], ["show", run_id], ["rm", "--unknown"]):
        assert main(root, argv) == 0, argv
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if run_id in line]
    assert [row[2:6:3] for row in rows[:2]] == [["running", "-"]] * 2  # no pid, no duration
    assert list(runs_frame(root=root)["id"])[-1] == run_id


def test_show_prints_the_record_metrics_overrides_and_provenance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = ["stage=alpha", "model=ridge", "alpha.epochs=3"]
    run_id = make_run(tmp_path / "runs", "alpha", timedelta(0), metrics={"score": 0.75})
    record = json.loads((tmp_path / "runs" / run_id / "run.json").read_text(encoding="utf-8"))
    (tmp_path / "runs" / run_id / "run.json").write_text(
        json.dumps({**record, "overrides": overrides})
    )
    provenance.record(ROOT, tmp_path / "runs" / run_id, ["python", *overrides], 7)
    facts = json.loads((tmp_path / "runs" / run_id / "provenance.json").read_text())

    assert main(tmp_path, ["show", run_id[:-2]]) == 0  # a unique start of the id is enough
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[:3] == [run_id, "alpha", "completed"]  # as `ls` shows it
    assert "score  0.75" in out
    changed = out.split("changed from conf/ on the command line")[1].split("provenance")[0]
    assert changed.split() == overrides[1:]  # the stage is named above
    shown = out.split("\nprovenance")[1]
    for key in ("git_commit", "python", "host", "uv_lock_sha256", "seed"):
        assert facts[key] is None or (f"{key}" in shown and str(facts[key]) in shown)
    assert " ".join(["python", *overrides]) in shown


def test_show_newest_and_a_folder_without_records(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ids_of(root)
    assert main(root, ["show", "beta", "--newest"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[0] == ids["died"]
    assert main(root, ["show", ids["no_record"]]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[:3] == [ids["no_record"], "gamma", "unknown"]
    assert "provenance: not recorded" in out


def test_rm_lists_and_deletes_only_the_matching_stopped_runs_with_force(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids, before = ids_of(root), left(root)
    for argv in (["rm", "beta"], ["rm", "beta", "--dry-run", "--force"]):
        assert main(root, argv) == 0
        assert "3 runs would be deleted: add --force" in capsys.readouterr().out
        assert left(root) == before
    assert main(root, ["rm", "beta", "--failed", "--force"]) == 0
    assert left(root) == before - {ids["failed"]}
    assert main(root, ["rm", "--all", "--force"]) == 0
    assert "keeping 1 run still running" in capsys.readouterr().out
    assert left(root) == {ids["live"], ".multirun", "notes"}


def test_rm_never_deletes_through_a_link(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data.csv").write_text("keep me\n", encoding="utf-8")
    link = root / "runs" / f"zeta_{NOW.strftime(TIMESTAMP_FORMAT)}_abcdef"
    link.symlink_to(outside, target_is_directory=True)
    before = left(root)
    assert main(root, ["rm", "zeta", "--force"]) == 2
    assert left(root) == before
    assert (outside / "data.csv").read_text(encoding="utf-8") == "keep me\n"


def test_ls_loads_neither_dvc_nor_botocore(root: Path) -> None:
    script = (
        "import sys; from pathlib import Path\n"
        "from {{ cookiecutter.pkg_name }}.runtime.runs import main\n"
        "main(Path(sys.argv[1]), ['ls'])\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'dvc', 'botocore'}))\n"
    )
    ls = subprocess.run(
        [sys.executable, "-c", script, str(root)], capture_output=True, text=True, check=True
    )
    assert ls.stdout.splitlines()[-1] == "[]"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder, by relative path, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def shelf(root: Path, tmp_path: Path) -> Path:
    """A local folder made the project's default DVC remote."""
    (root / ".dvc").mkdir()
    config = f"[core]\n    remote = shelf\n['remote \"shelf\"']\n    url = {tmp_path / 'shelf'}\n"
    (root / ".dvc" / "config").write_text(config, encoding="utf-8")
    return tmp_path / "shelf"


def test_push_then_pull_restores_every_byte_and_moves_only_what_is_missing(
    root: Path, shelf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ids_of(root)
    runs = root / "runs"
    (runs / ids["recent"] / ".run.json.1234-abcd.tmp").write_text("half", encoding="utf-8")
    before = {run_id: snapshot(runs / run_id) for run_id in ids.values()}
    assert main(root, ["push"]) == 0
    out = capsys.readouterr().out
    assert f"  {ids['recent']}: 3 files (" in out  # one progress line per run
    assert "pushed 6 runs (17 files, " in out
    stored = {run_id: snapshot(shelf / "runs" / run_id) for run_id in ids.values()}
    assert {
        k: {n: b for n, b in v.items() if not n.endswith(".tmp")} for k, v in before.items()
    } == stored
    assert main(root, ["push"]) == 0
    assert "pushed 0 runs (0 files, 0 B); 6 up to date" in capsys.readouterr().out
    (runs / ids["recent"] / "run.log").write_text("a longer log than before\n", encoding="utf-8")
    assert main(root, ["push"]) == 0
    assert "pushed 1 run (1 file, " in capsys.readouterr().out
    assert (shelf / "runs" / ids["recent"] / "run.log").read_text() == "a longer log than before\n"
    stored = {run_id: snapshot(shelf / "runs" / run_id) for run_id in ids.values()}

    shutil.rmtree(runs)
    assert main(root, ["pull", "beta", "--last", "1d"]) == 0  # filters apply to the remote
    assert left(root) == {ids["recent"], ids["died"]}
    assert main(root, ["pull", "--failed"]) == 0
    assert left(root) == {ids["recent"], ids["died"], ids["failed"]}
    assert main(root, ["pull"]) == 0
    assert "pulled 3 runs" in capsys.readouterr().out
    assert {run_id: snapshot(runs / run_id) for run_id in ids.values()} == stored
    assert not [path for path in runs.rglob(".*") if path.is_file()]


def test_pull_writes_nothing_outside_the_runs_folder(
    root: Path, shelf: Path, tmp_path: Path
) -> None:
    runs, stored = root / "runs", shelf / "runs"
    run_id = make_run(stored, "alpha", timedelta(0))
    (stored / "notes").mkdir()
    (stored / "notes" / "x.txt").write_text("not a run\n", encoding="utf-8")
    (stored / f"beta_{NOW.strftime(TIMESTAMP_FORMAT)}_000000").write_text("a file, not a folder\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(runs)
    (runs / run_id).mkdir(parents=True)
    (runs / run_id / "artifacts").symlink_to(outside, target_is_directory=True)
    assert main(root, ["pull"]) == 0
    assert list(outside.iterdir()) == []
    assert sorted(path.name for path in runs.iterdir()) == [run_id]
    assert (runs / run_id / "run.json").is_file()


def test_a_listing_into_a_closed_pipe_ends_quietly(root: Path) -> None:
    # `runs ls | head -1`: the reader is gone before the listing is written.
    shutil.copytree(ROOT / "conf", root / "conf")
    read, write = os.pipe()
    os.close(read)
    command = [sys.executable, "-m", "{{ cookiecutter.pkg_name }}", "runs", "ls", "--all"]
    done = subprocess.run(
        command, cwd=root, stdout=write, stderr=subprocess.PIPE, text=True, timeout=120, check=False
    )
    os.close(write)
    assert (done.returncode, done.stderr) == (0, "")


def test_pull_refreshes_a_run_that_ended_there_and_keeps_one_that_ended_here(
    root: Path, shelf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids, runs, stored = ids_of(root), root / "runs", shelf / "runs"
    assert main(root, ["push"]) == 0
    # Pulled here while running there; since then it ended there, its log grew.
    there = stored / ids["live"]
    record = json.loads((there / "run.json").read_text(encoding="utf-8"))
    ended = {**record, "status": "completed", "ended": NOW.isoformat(), "pid": dead_pid()}
    (there / "run.json").write_text(json.dumps(ended), encoding="utf-8")
    (there / "run.log").write_text("run started\nrun completed\n", encoding="utf-8")
    # Ended here later than the copy there says: the local record is the newer one.
    here = runs / ids["died"]
    kept = {
        **json.loads((here / "run.json").read_text()),
        "status": "failed",
        "ended": NOW.isoformat(),
    }
    (here / "run.json").write_text(json.dumps(kept), encoding="utf-8")
    before = snapshot(here)
    assert main(root, ["pull"]) == 0
    assert f"  {ids['live']}: 2 files (" in capsys.readouterr().out
    assert snapshot(runs / ids["live"]) == snapshot(there)
    assert find_runs(ids["live"], runs_dir=runs)[0].status == "completed"
    assert snapshot(here) == before


def test_rm_unknown_selects_folders_that_have_no_record(root: Path) -> None:
    ids = ids_of(root)
    assert main(root, ["rm", "--unknown", "--force"]) == 0
    assert left(root) == {*ids.values(), ".multirun", "notes"} - {ids["no_record"]}
