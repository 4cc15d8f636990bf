"""Run folders, atomic files, logging: the runtime's promises."""

from __future__ import annotations

import json
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from {{ cookiecutter.pkg_name }}.runtime.logs import configure_logging
from {{ cookiecutter.pkg_name }}.runtime.records import (
    append_json_line,
    create_run_dir,
    new_run_id,
    write_json_atomic,
)

RUN_ID = re.compile(r"^train_\d{8}T\d{6}Z_[0-9a-f]{6}$")


def _make_run_dir(runs_dir: str) -> str:
    return create_run_dir(Path(runs_dir), "train")[0]


def test_run_ids_name_the_stage_and_utc_time() -> None:
    assert RUN_ID.match(new_run_id("train"))


def test_sixteen_runs_started_together_get_sixteen_folders(tmp_path: Path) -> None:
    with ProcessPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(_make_run_dir, [str(tmp_path)] * 16))
    assert len(set(ids)) == 16
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(ids)


def test_json_is_replaced_whole_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    write_json_atomic(target, {"status": "running"})
    write_json_atomic(target, {"status": "completed"})
    assert json.loads(target.read_text()) == {"status": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_json_lines_append(tmp_path: Path) -> None:
    target = tmp_path / "metrics.jsonl"
    append_json_line(target, {"step": 1})
    append_json_line(target, {"step": 2})
    assert [json.loads(line)["step"] for line in target.read_text().splitlines()] == [1, 2]


def test_logs_go_to_the_console_and_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = configure_logging(tmp_path / "run.log", "INFO")
    log.info("hello from the test")
    assert "hello from the test" in (tmp_path / "run.log").read_text()
    assert "hello from the test" in capsys.readouterr().err


def test_a_bad_log_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"runtime\.log_level 'LOUD'"):
        configure_logging(None, "LOUD")
