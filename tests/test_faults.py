"""End-to-end tier: a run on a full or read-only disk says what happened, in one line, and
leaves a stage's outputs all new or all as they were.

Each case mounts a small tmpfs (over runs/, or over prepare's folder) or a read-only view of a
folder inside a user and mount namespace (`unshare`), so nothing fills the machine's own disk.
The mount ends with the namespace, so the script prints what the run left before it ends.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import require_ok, run, stage_run
from reliability import Recorder

pytestmark = pytest.mark.e2e
# Mounts a tmpfs over runs/ ($OPTIONS), fills $FILL bytes of it, runs the train stage with
# the arguments given, then prints its exit status and, for each run folder, its files and
# record (null where there is none) as one JSON object; then `runs rm --unknown --force`
# (folders without a record) and, on the last line, what runs/ holds after it.
SCRIPT = r"""
set -eu
mount -t tmpfs -o "$OPTIONS" tmpfs runs
[ "$FILL" = 0 ] || head -c "$FILL" /dev/urandom > runs/filler 2>/dev/null || true
set +e
"$PYTHON" -m "$PACKAGE" stage=train logger=none "$@"
status=$?
"$PYTHON" - "$status" <<'EOF'
import json, sys
from pathlib import Path
left = {}
for folder in sorted(p for p in Path("runs").iterdir() if p.is_dir()):
    found = folder / "run.json"
    record = json.loads(found.read_text()) if found.is_file() else None
    files = sorted(str(f.relative_to(folder)) for f in folder.rglob("*") if f.is_file())
    left[folder.name] = {"files": files, "record": record}
print(json.dumps({"exit": int(sys.argv[1]), "left": left}))
EOF
"$PYTHON" -m "$PACKAGE" runs rm --unknown --force >&2
ls runs | "$PYTHON" -c 'import json, sys; print(json.dumps(sys.stdin.read().split()))'
"""
CASES = {
    "the disk is full before the run starts": ("size=400k", 409600, [], 1),
    "the disk fills up during training": ("size=400k", 200000, ["train.epochs=3000"], 1),
    "runs/ is on a read-only file system": ("ro,size=400k", 0, [], 2),
}


@pytest.fixture(scope="module")
def project(prepared: Path) -> Path:
    """The shared installed project, its data prepared and featurized."""
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux's unshare to mount a small file system")
    probe = run(["unshare", "--user", "--map-root-user", "--mount", "true"], cwd=prepared)
    if probe.returncode != 0:
        pytest.skip(f"this machine allows no user namespaces: {probe.stderr.strip()}")
    return prepared


@pytest.mark.parametrize("case", CASES)
def test_a_full_or_read_only_disk_is_told_in_one_line(
    project: Path, case: str, reliability: Recorder
) -> None:
    options, fill, args, code = CASES[case]
    command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", SCRIPT, "sh", *args]
    env = {"OPTIONS": options, "FILL": str(fill), "PYTHON": str(project / ".venv/bin/python")}
    result = run(command, cwd=project, env={**env, "PACKAGE": project.name})
    assert result.returncode == 0, result.stderr
    *_, line, remaining = result.stdout.splitlines()
    outcome, remaining = json.loads(line), set(json.loads(remaining))
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line or "error:" in line]
    assert outcome["exit"] == code, result.stderr
    assert "Traceback" not in result.stderr
    assert "Logging error" not in result.stderr
    assert errors, result.stderr
    records = [left["record"] for left in outcome["left"].values() if left["record"]]
    if case == "the disk fills up during training":  # the reserved room holds the last record
        assert [r["status"] for r in records] == ["failed"]
        assert "No space left on device" in records[0]["error"]
    # `runs rm --unknown` takes the folders without a record, and only those.
    unknown = {name for name, left in outcome["left"].items() if left["record"] is None}
    assert remaining == set(outcome["left"]) - unknown | ({"filler"} if fill else set())
    # Half-written files: temporary files left behind by an atomic write.
    lost = sum(f.endswith(".tmp") for left in outcome["left"].values() for f in left["files"])
    reliability.record(
        "Storage (disk)",
        case,
        f"exit {code}: {errors[0].split(' | ')[-1][:90]}"
        + (f"; run recorded as {records[0]['status']}" if records else "; no run recorded"),
        lost,
    )
    assert lost == 0


# A stage's outputs are replaced as a set: all new, or all as they were. These runs use a
# `root` of their own (copies of the shared project's data), so the project stays as it is.
# PREPARE mounts a tmpfs of $SIZE over $ROOT/data/interim, copies $OLD's files into it, runs
# prepare with the arguments given, then prints its exit status and the folder's files (and
# their sha256) as one JSON object.
PREPARE = r"""
set -eu
mount -t tmpfs -o "size=$SIZE" tmpfs "$ROOT/data/interim"
cp -a "$OLD/." "$ROOT/data/interim"
set +e
"$PYTHON" -m "$PACKAGE" stage=prepare logger=none "root=$ROOT" "$@"
"$PYTHON" - $? "$ROOT/data/interim" <<'EOF'
import hashlib, json, sys
from pathlib import Path
files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in Path(sys.argv[2]).iterdir()}
print(json.dumps({"exit": int(sys.argv[1]), "files": files}))
EOF
"""
# Room beside the old tables for breast_cancer's train.parquet (about 92 KiB), not for val's too.
ROOM = 112 * 1024
# EVALUATE makes $FIGURES read-only (a bind mount of itself) and runs evaluate: even root
# cannot write there, as it could in a folder without write permission.
EVALUATE = r"""
set -eu
mount --bind "$FIGURES" "$FIGURES"
mount -o remount,ro,bind "$FIGURES"
exec "$PYTHON" -m "$PACKAGE" stage=evaluate logger=none "root=$ROOT"
"""


def digests(folder: Path) -> dict[str, str]:
    """Each file under `folder` (its relative path) and its sha256."""
    files = (path for path in folder.rglob("*") if path.is_file())
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def changed(before: dict[str, str], after: dict[str, str]) -> int:
    """How many files are new, gone or different."""
    return sum(before.get(name) != after.get(name) for name in before.keys() | after.keys())


def namespaced(
    project: Path, script: str, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """Run `script` (sh) as root of a new user and mount namespace, in `project`."""
    command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", *args]
    python = str(project / ".venv/bin/python")
    return run(command, cwd=project, env={"PYTHON": python, "PACKAGE": project.name, **env})


@pytest.mark.parametrize("old", [True, False], ids=["over old tables", "into an empty folder"])
def test_prepare_on_a_full_disk_leaves_its_tables_as_they_were(
    project: Path, tmp_path: Path, old: bool, reliability: Recorder
) -> None:
    root, kept = tmp_path / "root", tmp_path / "old"
    (root / "data/interim").mkdir(parents=True)
    kept.mkdir()
    if old:  # the shared project's tables (diabetes): smaller than breast_cancer's
        for table in ("train", "val", "test"):
            shutil.copyfile(project / f"data/interim/{table}.parquet", kept / f"{table}.parquet")
    size = ROOM + sum(-(-path.stat().st_size // 4096) * 4096 for path in kept.iterdir())
    env = {"ROOT": str(root), "OLD": str(kept), "SIZE": str(size)}
    result = namespaced(project, PREPARE, env, "data=breast_cancer")
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert outcome["exit"] == 1, result.stderr
    assert errors, result.stderr
    assert "No space left on device" in errors[0], result.stderr
    # No temporary file left, and the old tables byte for byte (or none, as before).
    lost = changed(digests(kept), outcome["files"])
    reliability.record(
        "Storage (disk)",
        "the disk fills up while prepare writes train, val and test"
        + (" over old ones" if old else ""),
        f"exit 1: {errors[0].split(' | ')[-1][:90]}; "
        + ("the three old tables kept" if old else "no table written"),
        lost,
    )
    assert lost == 0


def test_evaluate_with_figures_dir_read_only_leaves_its_outputs_as_they_were(
    project: Path, tmp_path: Path, reliability: Recorder
) -> None:
    root = tmp_path / "root"
    shutil.copytree(project / "data/interim", root / "data/interim")
    (root / "models").mkdir()
    shutil.copyfile(project / "models/preprocessor.joblib", root / "models/preprocessor.joblib")
    args = ("logger=none", f"root={root}", f"train.curve_csv={tmp_path / 'curve.csv'}")
    for stage in ("stage=train", "stage=evaluate"):  # the outputs of an earlier model
        require_ok(stage_run(project, stage, "train.epochs=2", *args))
    before, old_model = digests(root / "reports"), digests(root / "models")
    require_ok(stage_run(project, "stage=train", *args))
    assert digests(root / "models") != old_model  # evaluate would write other metrics
    env = {"ROOT": str(root), "FIGURES": str(root / "reports/figures")}
    result = namespaced(project, EVALUATE, env)
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert result.returncode == 1, result.stderr
    assert errors, result.stderr
    assert "Read-only file system" in errors[0], result.stderr
    assert "Traceback" not in result.stderr  # one line: a closed disk is not a bug
    # metrics.json, the plot data and the figures: as they were, no temporary file left.
    lost = changed(before, digests(root / "reports"))
    reliability.record(
        "Storage (disk)",
        "evaluate.figures_dir is on a read-only file system",
        f"exit 1: {errors[0].split(' | ')[-1][:90]}; metrics, plot data and figures kept",
        lost,
    )
    assert lost == 0
