"""`runs`: finding run folders, listing, showing, deleting safely, syncing with a DVC remote.

Every run here is a folder the test writes itself, so nothing depends on the project's
stages, conf/ values or remote; push and pull go to a local-folder DVC remote, or meet a
remote they cannot use (no key, a closed port on 127.0.0.1: nothing leaves the machine).
Push and pull against S3 itself are tested by the template, against a real S3 server.
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
from my_project.runtime import provenance, runs
from my_project.runtime.records import TIMESTAMP_FORMAT, UsageError
from my_project.runtime.runs import find_runs

NOW = datetime.now(timezone.utc)


def main(root: Path, argv: list[str]) -> int:
    """`runs ARGV` as the command line runs it: its exit status (bad input: one line, 2)."""
    try:
        return runs.main(root, argv)
    except UsageError as error:  # as cli.main() tells it
        print(f"error: {error}", file=sys.stderr)
        return 2


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
    assert lines[-1] == "1 run in runs/"
    assert main(root, ["ls", "nosuchstage"]) == 0
    assert capsys.readouterr().out == "no runs match\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ls", "--last", "3x"], "--last '3x' is not a duration; use e.g. 30m, 3h, 2d"),
        (["ls", "--last", "99999999w"], "is not a duration"),
        (["ls", "--failed", "--completed"], "not allowed with argument --failed"),
        (["ls", "../elsewhere"], "must be a plain name"),
        (["rm", "a/b", "--force"], "must be a plain name"),
        (["rm", "--force"], "rm needs a filter"),
        (["pull", "--failed"], "pull picks runs by ID and --last, not by status"),
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
    (runs / run_id / "config.yaml").write_bytes(config)  # `show` and notebooks read it
    for argv in (["ls"], ["show", run_id], ["rm", "--unknown"]):
        assert main(root, argv) == 0, argv
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if run_id in line]
    assert [row[2:6:3] for row in rows[:2]] == [["running", "-"]] * 2  # no pid, no duration
    newest = find_runs(runs_dir=runs)[-1]  # what a notebook's table starts from
    assert (newest.id, newest.status, newest.duration_s) == (run_id, "running", None)


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
    rows = shown_rows(out)
    assert rows["metrics"] == "score=0.75"
    assert rows["overrides"].split() == overrides
    for key in ("git_commit", "python", "host", "uv_lock_sha256", "seed"):
        assert facts[key] is None or rows[key] == str(facts[key])
    assert rows["argv"].split() == ["python", *overrides]


def shown_rows(out: str) -> dict[str, str]:
    """The `name  value` rows that `runs show` prints below the run's table row."""
    return dict(line.split(maxsplit=1) for line in out.splitlines()[2:])


def test_show_of_several_matches_shows_the_newest_and_says_so(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ids_of(root)
    assert main(root, ["show", "beta"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "3 runs match; the newest:"
    assert lines[2].split()[0] == ids["died"]
    assert main(root, ["show", "beta", "--newest"]) == 0  # asked for: no note
    assert capsys.readouterr().out.splitlines()[1].split()[0] == ids["died"]
    assert main(root, ["show", "--failed"]) == 0  # filters as `ls` has them
    assert capsys.readouterr().out.splitlines()[1].split()[0] == ids["failed"]
    assert main(root, ["show", "nosuch"]) == 0
    assert capsys.readouterr().out == "no runs match\n"
    assert main(root, ["show", ids["no_record"]]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[:3] == [ids["no_record"], "gamma", "unknown"]
    assert set(shown_rows(out)) == {"folder"}  # no record, no provenance: nothing made up


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
    assert "kept 1 run still running (add --running to delete them)" in capsys.readouterr().out
    assert left(root) == {ids["live"], ".multirun", "notes"}


def test_rm_never_deletes_through_a_link(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data.csv").write_text("keep me\n", encoding="utf-8")
    link = root / "runs" / f"zeta_{NOW.strftime(TIMESTAMP_FORMAT)}_abcdef"
    link.symlink_to(outside, target_is_directory=True)
    before = left(root)
    assert main(root, ["rm", "zeta", "--force"]) == 0  # a link is not a run folder
    assert left(root) == before
    assert main(root, ["rm", "--all", "--force"]) == 0
    assert left(root) == {link.name, ids_of(root)["live"], ".multirun", "notes"}
    assert (outside / "data.csv").read_text(encoding="utf-8") == "keep me\n"


def test_ls_loads_neither_dvc_nor_botocore(root: Path) -> None:
    script = (
        "import sys; from pathlib import Path\n"
        "from my_project.runtime.runs import main\n"
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
    assert capsys.readouterr().out == "pushed 6 runs (17 files)\n"  # one line, not one per run
    stored = {run_id: snapshot(shelf / "runs" / run_id) for run_id in ids.values()}
    assert {
        k: {n: b for n, b in v.items() if not n.endswith(".tmp")} for k, v in before.items()
    } == stored
    assert main(root, ["push"]) == 0
    assert capsys.readouterr().out == "pushed 0 runs (0 files)\n"
    (runs / ids["recent"] / "run.log").write_text("a longer log than before\n", encoding="utf-8")
    assert main(root, ["push"]) == 0
    assert capsys.readouterr().out == "pushed 1 run (1 file)\n"
    assert (shelf / "runs" / ids["recent"] / "run.log").read_text() == "a longer log than before\n"
    stored = {run_id: snapshot(shelf / "runs" / run_id) for run_id in ids.values()}

    shutil.rmtree(runs)
    assert main(root, ["pull", "beta", "--last", "1d"]) == 0  # filters apply to the remote
    assert left(root) == {ids["recent"], ids["died"]}
    assert main(root, ["pull", ids["failed"]]) == 0
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
    command = [sys.executable, "-m", "my_project", "runs", "ls", "--all"]
    done = subprocess.run(
        command, cwd=root, stdout=write, stderr=subprocess.PIPE, text=True, timeout=120, check=False
    )
    os.close(write)
    assert (done.returncode, done.stderr) == (0, "")


def test_pull_fetches_what_is_missing_here_and_replaces_nothing(
    root: Path, shelf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids, runs, stored = ids_of(root), root / "runs", shelf / "runs"
    assert main(root, ["push"]) == 0
    # Since the push, the copy there changed (ended elsewhere) and a file went missing here.
    there = stored / ids["live"]
    record = json.loads((there / "run.json").read_text(encoding="utf-8"))
    (there / "run.json").write_text(json.dumps({**record, "status": "failed"}), encoding="utf-8")
    (there / "run.log").write_text("run started\nrun failed\n", encoding="utf-8")
    (runs / ids["live"] / "run.log").unlink()
    before = snapshot(runs / ids["live"])
    capsys.readouterr()
    assert main(root, ["pull"]) == 0
    assert capsys.readouterr().out == "pulled 1 run (1 file)\n"
    assert snapshot(runs / ids["live"]) == {**before, "run.log": b"run started\nrun failed\n"}
    assert find_runs(ids["live"], runs_dir=runs)[0].status == "running"  # the record here


@pytest.fixture
def b2(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A `b2` remote as `make use-b2` writes it, the default, its endpoint a closed loopback
    port; no key anywhere. Returns the endpoint."""
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    (root / ".dvc").mkdir()
    config = f"""[core]
    remote = b2
['remote "b2"']
    url = s3://lab-data-2026/project
    endpointurl = {endpoint}
    configpath = aws_config
    credentialpath = b2-credentials
"""
    (root / ".dvc" / "config").write_text(config, encoding="utf-8")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    # dvc-s3 sets these from the remote's paths when unset; set here, they are restored after.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(root / ".dvc" / "aws_config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(root / ".dvc" / "b2-credentials"))
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    return endpoint


@pytest.mark.parametrize("garbled", ["[core\n", "[core]\n    no_such_option = 1\n", ""])
def test_push_with_a_garbled_dvc_config_or_no_remote_is_one_line_and_status_2(
    root: Path, garbled: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / ".dvc").mkdir()
    (root / ".dvc" / "config").write_text(garbled, encoding="utf-8")
    for verb in ("push", "pull"):
        assert main(root, [verb]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: config file error: ")
        assert len(err.splitlines()) == 1, err
    assert "see `make use-b2`" in err


def test_push_and_pull_without_a_key_or_an_endpoint_name_the_remote_and_the_fix(
    root: Path, b2: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {run_id: snapshot(root / "runs" / run_id) for run_id in ids_of(root).values()}
    for verb in ("push", "pull"):
        assert main(root, [verb]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: remote 'b2' (s3://lab-data-2026/project/runs): ")
        assert "Unable to locate credentials; see `make b2-login` and `make use-b2`" in err
        assert len(err.splitlines()) == 1, err
    key = "[default]\naws_access_key_id = 0041a2b3c4d5e6f0000000001\n"
    key += "aws_secret_access_key = made-up-key-for-tests\n"  # pragma: allowlist secret
    (root / ".dvc" / "b2-credentials").write_text(key, encoding="utf-8")  # as make b2-login
    assert main(root, ["push"]) == 1
    err = capsys.readouterr().err
    assert f'Could not connect to the endpoint URL: "{b2}/' in err
    assert len(err.splitlines()) == 1, err
    assert {run_id: snapshot(root / "runs" / run_id) for run_id in ids_of(root).values()} == before


def test_rm_unknown_selects_folders_that_have_no_record(root: Path) -> None:
    ids = ids_of(root)
    assert main(root, ["rm", "--unknown", "--force"]) == 0
    assert left(root) == {*ids.values(), ".multirun", "notes"} - {ids["no_record"]}
