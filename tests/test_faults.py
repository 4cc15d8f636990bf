"""End-to-end tier: a run on a full or read-only disk says what happened, in one line.

Each case mounts a small tmpfs over the project's runs/ inside a user and mount
namespace (`unshare`), so nothing fills the machine's own disk. The mount ends
with the namespace, so the script prints what the run left before it ends.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import run
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
