"""Render tier: the runtime of a default bake stays small and layered (issue 22).

At most 1,300 lines over `runtime/*.py` (as `wc -l` counts them; the bake is what ruff
formats, which the quality tier checks), no import cycle among its modules, function-local
imports included, and `cli.py` on top: no runtime module imports it. The template's own
runtime sources, every option's Jinja block written out, stay within the same budget.
Options add modules of their own (search.py, the pytorch variant's resume.py), each
importing the core, never the other way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT, Bakery

pytestmark = pytest.mark.render
BUDGET = 1300
OPTION_SETS = [{}, {"search": "optuna"}, {"framework": "pytorch", "search": "optuna"}]


def runtime_imports(runtime: Path) -> dict[str, set[str]]:
    """Each runtime module and the runtime modules it imports, anywhere in its body."""
    graph: dict[str, set[str]] = {}
    for path in sorted(runtime.glob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [alias.name for alias in node.names]
                found |= {name.split(".")[0] for name in names}
        graph[path.stem] = {name for name in found if (runtime / f"{name}.py").is_file()}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of `graph` as the modules along it, or [] when there is none."""
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> list[str]:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                return [*path[path.index(imported) :], imported]
            if imported not in state and (found := visit(imported, [*path, imported])):
                return found
        state[module] = "done"
        return []

    for module in sorted(graph):
        if module not in state and (found := visit(module, [module])):
            return found
    return []


def test_the_cycle_finder_finds_a_cycle_through_a_function_local_import() -> None:
    graph = {"cli": {"run"}, "run": {"records"}, "records": {"run"}}
    assert cycle(graph) == ["run", "records", "run"]
    assert cycle({"cli": {"run"}, "run": {"records"}, "records": set()}) == []


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: "-".join(o.values()) or "default")
def test_the_runtime_has_no_import_cycle_and_cli_on_top(bakery: Bakery, options: dict) -> None:
    project = bakery(options)
    graph = runtime_imports(project / "src" / project.name / "runtime")
    assert cycle(graph) == []
    assert [module for module, imported in graph.items() if "cli" in imported] == []


def test_the_default_runtime_is_within_its_line_budget(bakery: Bakery) -> None:
    project = bakery()
    modules = sorted((project / "src" / project.name / "runtime").glob("*.py"))
    lines = {path.name: path.read_bytes().count(b"\n") for path in modules}
    assert sum(lines.values()) <= BUDGET, lines


def test_the_template_runtime_sources_with_their_option_blocks_are_within_the_budget() -> None:
    sources = ROOT / "{{cookiecutter.__project_dir}}/src/{{cookiecutter.pkg_name}}/runtime"
    lines = {path.name: path.read_bytes().count(b"\n") for path in sorted(sources.glob("*.py"))}
    assert len(lines) > 1, sources
    assert sum(lines.values()) <= BUDGET, lines
