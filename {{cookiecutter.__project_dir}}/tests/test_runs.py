"""`runs`: finding run folders fast, listing, showing, deleting safely, syncing to a remote."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import ROOT

from {{ cookiecutter.pkg_name }}.runtime.records import new_run_id
from {{ cookiecutter.pkg_name }}.runtime.runs import Filters, find_runs, main, parse_duration
from {{ cookiecutter.pkg_name }}.runtime.sync import DirStore, pull, push, remote_runs

NOW = datetime.now(timezone.utc)


def make_run(
    runs: Path,
    stage: str,
    started: datetime,
    status: str | None = "completed",
    metrics: dict[str, float] | None = None,
    **extra: object,
) -> str:
    """Write a run folder as the runtime would; status None leaves out run.json."""
    run_id = new_run_id(stage, started)
    folder = runs / run_id
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(f"stage: {stage}\nseed: 42\n", encoding="utf-8")
    (folder / "run.log").write_text(f"run {run_id} started\n", encoding="utf-8")
    (folder / "artifacts").mkdir()
    (folder / "artifacts" / "model.pkl").write_bytes(bytes(range(256)) * 4)
    if status is not None:
        record = {
            "id": run_id,
            "stage": stage,
            "status": status,
            "mode": "run",
            "started": started.isoformat(timespec="milliseconds"),
            "metrics": metrics or {},
            **extra,
        }
        if status != "running":
            record["ended"] = (started + timedelta(seconds=95)).isoformat(timespec="milliseconds")
            record["duration_s"] = 95.0
        (folder / "run.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return run_id


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A project root holding a runs folder with one run of each kind."""
    project = tmp_path / "project"
    runs = project / "runs"
    ids = {
        "old": make_run(runs, "prepare", NOW - timedelta(days=40), metrics={"rows": 442}),
        "failed": make_run(runs, "train", NOW - timedelta(hours=30), status="failed"),
        "train": make_run(
            runs, "train", NOW - timedelta(hours=2), metrics={"val_rmse": 53.21346, "epochs": 30}
        ),
        "no_record": make_run(runs, "evaluate", NOW - timedelta(hours=1), status=None),
        "died": make_run(
            runs,
            "train",
            NOW - timedelta(minutes=20),
            status="running",
            pid=dead_pid(),
            host=socket.gethostname(),
        ),
        "live": make_run(
            runs,
            "featurize",
            NOW - timedelta(minutes=5),
            status="running",
            pid=os.getpid(),
            host=socket.gethostname(),
        ),
    }
    (runs / ".multirun" / "2026-01-01_00-00-00").mkdir(parents=True)
    (runs / "notes").mkdir()
    (project / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
    return project


def ids_of(root: Path) -> dict[str, str]:
    """The ids the `root` fixture made, by kind."""
    return dict(json.loads((root / "ids.json").read_text(encoding="utf-8")))


def remaining(root: Path) -> set[str]:
    """Names of the folders left in the runs folder."""
    return {path.name for path in (root / "runs").iterdir()}


def test_find_runs_lists_run_folders_oldest_first_and_skips_the_rest(root: Path) -> None:
    ids = ids_of(root)
    runs = find_runs(runs_dir=root / "runs")
    assert [run.id for run in runs] == [
        ids[kind] for kind in ("old", "failed", "train", "no_record", "died", "live")
    ]
    by_id = {run.id: run for run in runs}
    assert by_id[ids["no_record"]].status == "unknown"
    assert by_id[ids["no_record"]].stage == "evaluate"
    assert by_id[ids["died"]].status == "died"
    assert by_id[ids["live"]].status == "running"
    assert by_id[ids["train"]].metrics == {"val_rmse": 53.21346, "epochs": 30.0}
    assert by_id[ids["train"]].duration_s == 95.0
    assert by_id[ids["train"]].path == root / "runs" / ids["train"]


def test_find_runs_filters_by_prefix_status_and_age(root: Path) -> None:
    ids = ids_of(root)
    runs_dir = root / "runs"
    assert {run.id for run in find_runs("train", runs_dir=runs_dir)} == {
        ids["failed"],
        ids["train"],
        ids["died"],
    }
    assert [run.id for run in find_runs(status="completed", runs_dir=runs_dir)] == [
        ids["old"],
        ids["train"],
    ]
    assert [run.id for run in find_runs(status="died", runs_dir=runs_dir)] == [ids["died"]]
    recent = find_runs(since=parse_duration("3h"), runs_dir=runs_dir)
    assert {run.id for run in recent} == {ids[k] for k in ("train", "no_record", "died", "live")}
    both = find_runs("train", "completed", timedelta(days=1), runs_dir)
    assert [run.id for run in both] == [ids["train"]]


def test_a_running_record_without_pid_and_host_stays_running(tmp_path: Path) -> None:
    run_id = make_run(tmp_path, "train", NOW, status="running")
    assert [run.status for run in find_runs(runs_dir=tmp_path)] == ["running"]
    assert find_runs(status="running", runs_dir=tmp_path)[0].id == run_id


def test_find_runs_in_a_missing_folder_finds_nothing(tmp_path: Path) -> None:
    assert find_runs(runs_dir=tmp_path / "nowhere") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("3h", timedelta(hours=3)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
    ],
)
def test_durations_are_read(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["3x", "", "h", "-1h", "1.5h", "0m", "3 days", "99999999999999w"])
def test_bad_durations_are_refused_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration; use e\.g\. 30m, 3h, 2d"):
        parse_duration(text)


def test_ls_prints_a_table_and_a_count(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = ids_of(root)
    assert main(root, ["ls"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "STAGE", "STATUS", "STARTED", "DURATION", "KEY", "METRIC"]
    train = next(line for line in lines if ids["train"] in line)
    assert train.split()[1:3] == ["train", "completed"]
    assert "1m 35s" in train
    assert "val_rmse=53.21" in train
    assert ids["died"] in next(line for line in lines if " died " in line)
    assert lines[-1] == "6 runs in runs/"
    assert ".multirun" not in out
    assert "notes" not in out


def test_ls_filters_and_counts_what_it_kept(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = ids_of(root)
    assert main(root, ["ls", "train", "--completed", "--last", "1d"]) == 0
    out = capsys.readouterr().out
    assert ids["train"] in out
    assert ids["failed"] not in out
    assert out.splitlines()[-1] == "1 of 6 runs in runs/"


@pytest.mark.parametrize(
    ("argv", "query"),
    [
        ([], {}),
        (["train"], {"prefix": "train"}),
        (["--failed"], {"status": "failed"}),
        (["--last", "1d"], {"since": timedelta(days=1)}),
    ],
)
def test_find_runs_returns_the_runs_that_ls_lists(
    root: Path, capsys: pytest.CaptureFixture[str], argv: list[str], query: dict[str, object]
) -> None:
    assert main(root, ["ls", *argv]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()[1:-1] if line}
    found = {run.id for run in find_runs(runs_dir=root / "runs", **query)}  # type: ignore[arg-type]
    assert listed == found


def test_ls_with_no_match_says_so_and_succeeds(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(root, ["ls", "nosuchstage"]) == 0
    assert capsys.readouterr().out == "no runs match (6 runs in runs/)\n"
    assert main(tmp_path / "empty", ["ls"]) == 0
    assert "no runs yet in runs/" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ls", "--last", "3x"], "error: --last '3x' is not a duration; use e.g. 30m, 3h, 2d"),
        (["ls", "--failed", "--completed"], "--completed and --failed cannot be combined"),
        (["ls", "../elsewhere"], "is not a run id or the start of one"),
        (["ls", ".multirun"], "is not a run id or the start of one"),
        (["show", "train_20990101T000000Z_abcdef"], "no run 'train_20990101T000000Z_abcdef'"),
        (["show", "../../etc"], "is not a run id or the start of one"),
        (["show"], "show needs a run id, the start of one, or --newest; see `runs ls`"),
        (["show", "train"], "'train' starts 3 run ids; give more of the id, or add --newest"),
        (["show", "deploy", "--newest"], "no run starting with 'deploy' in runs/"),
        (["rm", "--dry-run"], "rm needs a filter"),
        (["rm", "a/b", "--force"], "is not a run id or the start of one"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_status_2(
    root: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = remaining(root)
    assert main(root, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert remaining(root) == before


def test_show_prints_the_record_metrics_config_changes_and_provenance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from omegaconf import OmegaConf

    from {{ cookiecutter.pkg_name }}.runtime.params import compose

    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    run_id = make_run(tmp_path / "runs", "train", NOW, metrics={"val_rmse": 50.0})
    composed = compose(tmp_path, ["stage=train", "train.epochs=12"])
    config = OmegaConf.to_container(composed, resolve=True)
    (tmp_path / "runs" / run_id / "config.yaml").write_text(OmegaConf.to_yaml(config))
    git = {"commit": "0123456789abcdef", "branch": "main", "dirty": True}
    python = {"version": "3.11.7"}
    provenance = {"git": git, "python": python, "seed": 42, "uv_lock_sha256": "ab" * 32}
    (tmp_path / "runs" / run_id / "provenance.json").write_text(json.dumps(provenance))

    assert main(tmp_path, ["show", run_id[:-3]]) == 0  # a unique start of the id is enough
    out = capsys.readouterr().out
    assert f"run       {run_id}" in out
    assert "status    completed" in out
    assert "val_rmse  50" in out
    assert "train.epochs: 30 -> 12" in out
    assert "stage:" not in out
    assert "0123456789ab on main, uncommitted changes" in out
    assert "python   3.11.7" in out
    assert "uv.lock  sha256 abababababababab" in out


def test_show_newest_shows_the_run_started_last(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ids_of(root)
    assert main(root, ["show", "train", "--newest"]) == 0
    assert f"run       {ids['died']}\n" in capsys.readouterr().out
    assert main(root, ["show", "--newest"]) == 0
    assert f"run       {ids['live']}\n" in capsys.readouterr().out


def test_show_newest_orders_runs_of_the_same_second_by_their_recorded_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    second = NOW.replace(microsecond=0)
    later = make_run(tmp_path / "runs", "train", second + timedelta(milliseconds=900))
    make_run(tmp_path / "runs", "train", second + timedelta(milliseconds=100))
    assert main(tmp_path, ["show", "--newest"]) == 0
    assert f"run       {later}\n" in capsys.readouterr().out


def test_show_copes_with_a_folder_without_records(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(root, ["show", ids_of(root)["no_record"]]) == 0
    out = capsys.readouterr().out
    assert "status    unknown" in out
    assert "provenance: not recorded" in out


def test_rm_dry_run_lists_but_keeps_everything(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = remaining(root)
    assert main(root, ["rm", "train", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: 3 runs would be deleted" in out
    assert remaining(root) == before


def test_rm_force_deletes_only_the_matching_runs(root: Path) -> None:
    ids = ids_of(root)
    assert main(root, ["rm", "train", "--failed", "--force"]) == 0
    assert remaining(root) == {*ids.values(), ".multirun", "notes"} - {ids["failed"]}
    assert main(root, ["rm", "--last", "3h", "--force"]) == 0
    # The live run stays: a running process still writes to its folder.
    assert remaining(root) == {ids["old"], ids["live"], ".multirun", "notes"}


def test_rm_all_needs_saying_so_and_keeps_live_runs(root: Path) -> None:
    ids = ids_of(root)
    assert main(root, ["rm", "--all", "--force"]) == 0
    assert remaining(root) == {ids["live"], ".multirun", "notes"}


def test_rm_asks_first_and_refuses_without_a_terminal(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ids_of(root)
    before = remaining(root)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    assert main(root, ["rm", "train"]) == 2
    assert "stdin is not a terminal; add --force" in capsys.readouterr().err
    assert remaining(root) == before

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    assert main(root, ["rm", "train"]) == 0
    assert "Delete 3 runs? [y/N]" in capsys.readouterr().out
    assert remaining(root) == before
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert main(root, ["rm", "train"]) == 0
    assert not {ids["failed"], ids["train"], ids["died"]} & remaining(root)


def test_rm_never_deletes_through_a_link(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data.csv").write_text("keep me\n", encoding="utf-8")
    link = root / "runs" / new_run_id("train", NOW)
    link.symlink_to(outside, target_is_directory=True)
    before = remaining(root)
    assert main(root, ["rm", "train", "--force"]) == 2
    assert remaining(root) == before
    assert (outside / "data.csv").read_text(encoding="utf-8") == "keep me\n"


def test_ls_loads_neither_the_sync_module_nor_botocore(root: Path) -> None:
    script = """
import sys
from pathlib import Path
from {{ cookiecutter.pkg_name }}.runtime.runs import main

main(Path(sys.argv[1]), ["ls"])
print([name for name in sys.modules if name == "botocore" or name.endswith(".runtime.sync")])
"""
    ls = subprocess.run(
        [sys.executable, "-c", script, str(root)], capture_output=True, text=True, check=True
    )
    assert ls.stdout.splitlines()[-1] == "[]"
    # Imported first, sync.py loads runs.py itself: no import cycle either way round.
    sync_first = [sys.executable, "-c", "import {{ cookiecutter.pkg_name }}.runtime.sync"]
    subprocess.run(sync_first, check=True)


def write_dvc_config(root: Path, store: Path) -> None:
    """Make a local folder the project's default DVC remote."""
    (root / ".dvc").mkdir(parents=True, exist_ok=True)
    (root / ".dvc" / "config").write_text(
        f"[core]\n    remote = shelf\n['remote \"shelf\"']\n    url = {store}\n",
        encoding="utf-8",
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder, by relative path, with its bytes."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_push_then_pull_through_a_local_remote_restores_every_byte(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ids_of(root)
    store = tmp_path / "store"
    write_dvc_config(root, store)
    before = {run_id: snapshot(root / "runs" / run_id) for run_id in ids.values()}

    assert main(root, ["push"]) == 0
    out = capsys.readouterr().out
    assert "pushed 6 runs (23 files, " in out
    for run_id, files in before.items():
        assert snapshot(store / "runs" / run_id) == files
    assert main(root, ["push"]) == 0
    assert "pushed 0 runs (0 files, 0 B)" in capsys.readouterr().out

    shutil.rmtree(root / "runs")
    assert main(root, ["pull", "train", "--last", "1d"]) == 0
    assert remaining(root) == {ids["train"], ids["died"]}
    assert main(root, ["pull"]) == 0
    assert "pulled 4 runs" in capsys.readouterr().out
    assert {run_id: snapshot(root / "runs" / run_id) for run_id in ids.values()} == before
    assert not [path for path in (root / "runs").rglob(".*") if path.is_file()]


def test_push_resends_a_changed_file_and_pull_filters_by_status(tmp_path: Path) -> None:
    runs, store = tmp_path / "runs", DirStore(tmp_path / "store" / "runs")
    done = make_run(runs, "train", NOW, metrics={"val_rmse": 1.0})
    failed = make_run(runs, "train", NOW - timedelta(minutes=1), status="failed")
    push(find_runs(runs_dir=runs), store)
    (runs / done / "run.log").write_text("a longer log than before\n", encoding="utf-8")
    assert push(find_runs(runs_dir=runs), store).files == 1
    assert (store.base / done / "run.log").read_text() == "a longer log than before\n"

    here = tmp_path / "elsewhere"
    wanted = remote_runs(store, Filters(status="failed"))
    assert list(wanted) == [failed]
    pull(wanted, store, here)
    assert [path.name for path in here.iterdir()] == [failed]


def test_pull_ignores_stored_names_that_would_leave_the_runs_folder(tmp_path: Path) -> None:
    store = DirStore(tmp_path / "store" / "runs")
    run_id = make_run(store.base, "train", NOW)
    (store.base / "notes").mkdir()
    (store.base / "notes" / "x.txt").write_text("not a run\n", encoding="utf-8")
    found = remote_runs(store, Filters())
    assert list(found) == [run_id]
    found[run_id]["../../escaped.txt"] = 3
    escaping = {"y": 1}
    pull(found | {"../../x": escaping}, store, tmp_path / "runs")
    assert not (tmp_path / "escaped.txt").exists()
    assert [path.name for path in (tmp_path / "runs").iterdir()] == [run_id]
