"""End-to-end tier: a researcher makes the project theirs, as the generated README says.

Their own table (a CSV under data/, described by one file in conf/data/), an edit of
conf/, a new stage, a new model, another B2 bucket: each works under `python -m
<package>`, `make repro` and `dvc exp run` with no edit of dvc.yaml beyond the README's,
and the project's own tests still pass afterwards. One project is installed for the
module, baked with a B2 bucket so that its own tests also cover that option set (once);
the tests run in file order, each building on the state the previous one left. The
bundled example's pipeline runs in test_dvc.py (`make demo`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import (
    Bakery,
    commit,
    dvc_ran,
    install,
    make,
    newest,
    read_record,
    require_ok,
    run,
    stage_run,
    uv_run,
)

pytestmark = pytest.mark.e2e
DATA = "clinic"  # the researcher's data set: conf/data/clinic.yaml
CSV = "data/raw/clinic.csv"
TARGET = "progression"  # its target column, named unlike the bundled example's
COUNT = '''"""Count to ten: a stage of the researcher's own, in place of the example's."""

import json
from dataclasses import dataclass
from pathlib import Path

from ..runtime import Metrics, Run, write_text


@dataclass
class CountConfig:
    """Section `count` of conf/config.yaml."""

    output_json: str


def count(cfg: CountConfig, run: Run) -> Metrics:
    """Write the numbers one to ten."""
    write_text(Path(cfg.output_json), json.dumps(list(range(1, 11))))
    return {"numbers": 10}
'''


def write_table(project: Path, rows: int | None = None) -> None:
    """Write the researcher's CSV: scikit-learn's diabetes table under another target name,
    with a text column and empty cells, as tables come from instruments and collaborators."""
    code = (
        "import sys, numpy as np; from sklearn.datasets import load_diabetes; "
        "t = load_diabetes(as_frame=True).frame.rename(columns={'target': sys.argv[2]}); "
        "rng = np.random.default_rng(0); "
        "t['site'] = rng.choice(['north', 'south', None], len(t)); "
        "t.loc[rng.choice(len(t), 20), 'bmi'] = np.nan; "
        "t.head(int(sys.argv[1]) or None).to_csv(sys.argv[3], index=False)"
    )
    (project / CSV).parent.mkdir(parents=True, exist_ok=True)
    python = str(project / ".venv/bin/python")
    require_ok(run([python, "-c", code, str(rows or 0), TARGET, CSV], cwd=project))


def stages(project: Path) -> list[str]:
    """The pipeline's stages, as the project lists them."""
    return require_ok(stage_run(project, "stages")).stdout.split()


def params(project: Path) -> dict[str, object]:
    """params.yaml, as DVC reads it."""
    return yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def readme_blocks(project: Path, heading: str) -> list[str]:
    """The code blocks of a section of the generated README, in order, as a user copies them
    (without the indentation of the list item they are in)."""
    readme = (project / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index(heading) :]
    section = section[: section.find("\n##", len(heading))]
    blocks = re.findall(r"^( *)```\w*\n(.*?)^\1```", section, re.DOTALL | re.MULTILINE)
    return [re.sub(rf"^{indent}", "", code, flags=re.MULTILINE) for indent, code in blocks]


def edit(path: Path, pattern: str, replacement: str) -> None:
    """Change one line of a file, as a user does in an editor."""
    text = path.read_text(encoding="utf-8")
    changed = re.sub(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert changed != text, f"{pattern!r} not found in {path.name}"
    path.write_text(changed, encoding="utf-8")


def restore(project: Path) -> None:
    """Back to the last commit after an experiment in the workspace: files and DVC outputs."""
    require_ok(run(["git", "reset", "-q", "--hard"], cwd=project))
    require_ok(run(["git", "clean", "-q", "-f", "-d"], cwd=project))
    if (project / "dvc.lock").is_file():  # no lock yet: no output to take back
        require_ok(uv_run(project, "dvc", "checkout", "--force"))


def changed_stages(result_stdout: str) -> set[str]:
    """The stages `dvc status` names (lines `name:` at the start)."""
    return set(re.findall(r"^([\w-]+):$", result_stdout, re.MULTILINE))


@pytest.fixture(scope="module")
def project(bakery: Bakery, uv: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installed project, baked with a B2 bucket, with the researcher's CSV stored with
    `dvc add` and described in conf/data/, the bundled example still selected."""
    installed = install(bakery, tmp_path_factory.mktemp("yours"), {"b2_bucket": "lab-data"})
    write_table(installed)
    # The README's data config, with this table's path and target column.
    data = yaml.safe_load(readme_blocks(installed, "Bring your data")[0])
    data.update(source=CSV, target=TARGET)
    (installed / f"conf/data/{DATA}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    require_ok(uv_run(installed, "dvc", "add", CSV))
    commit(installed, "My data, beside the example's")
    return installed


def test_a_new_data_config_runs_every_stage_under_python_m(project: Path) -> None:
    for stage in stages(project):
        require_ok(stage_run(project, f"stage={stage}", f"data={DATA}", "logger=none"))
        config = yaml.safe_load((newest(project, stage) / "config.yaml").read_text("utf-8"))
        assert (config["data"]["source"], config["data"]["target"]) == (CSV, TARGET)
        assert read_record(newest(project, stage))["status"] == "completed"


def test_exp_run_switches_to_the_new_data_with_no_dvc_yaml_edit(project: Path) -> None:
    dvc_yaml = (project / "dvc.yaml").read_text(encoding="utf-8")
    result = require_ok(uv_run(project, "dvc", "exp", "run", "-S", f"data={DATA}"))
    assert dvc_ran(result) == ["params", *stages(project)]
    chosen = yaml.safe_load((project / f"conf/data/{DATA}.yaml").read_text(encoding="utf-8"))
    assert params(project)["data"] == chosen
    assert read_record(newest(project, "prepare"))["overrides"] == ["(params.yaml)"]
    assert (project / "dvc.yaml").read_text(encoding="utf-8") == dvc_yaml
    restore(project)


def test_selecting_the_new_data_in_conf_runs_the_pipeline_on_it_under_make_repro(
    project: Path,
) -> None:
    edit(project / "conf/config.yaml", r"^(  - data: )\w+", rf"\g<1>{DATA}")
    result = require_ok(make(project, "repro"))
    assert dvc_ran(result) == ["params", *stages(project)]
    lock = yaml.safe_load((project / "dvc.lock").read_text(encoding="utf-8"))
    assert any(CSV.startswith(dep["path"]) for dep in lock["stages"]["prepare"]["deps"])
    assert "Data and pipelines are up to date" in require_ok(make(project, "repro")).stdout
    commit(project, "Learn from my data")


def test_editing_the_data_file_reruns_prepare_and_what_follows(project: Path) -> None:
    write_table(project, rows=400)
    status = require_ok(uv_run(project, "dvc", "status"))
    assert "prepare" in changed_stages(status.stdout)
    result = require_ok(make(project, "repro"))
    assert dvc_ran(result) == stages(project)
    assert read_record(newest(project, "prepare"))["metrics"]["rows"] == 400
    commit(project, "Fewer rows")


def test_a_copied_bundled_data_config_with_its_source_and_target_changed_watches_the_file(
    project: Path,
) -> None:
    text = (project / "conf/data/diabetes.yaml").read_text(encoding="utf-8")
    text = re.sub(r"^source: \S+", f"source: {CSV}", text, flags=re.MULTILINE)
    text = re.sub(r"^target: \S+", f"target: {TARGET}", text, flags=re.MULTILINE)
    (project / "conf/data/copied.yaml").write_text(text, encoding="utf-8")
    edit(project / "conf/config.yaml", r"^(  - data: )\w+", r"\g<1>copied")
    require_ok(make(project, "repro"))
    write_table(project, rows=300)  # the researcher's table changes
    assert "prepare" in changed_stages(require_ok(make(project, "status")).stdout)
    restore(project)


def test_a_module_of_the_users_that_train_imports_is_one_of_its_deps(project: Path) -> None:
    stages_dir = project / "src" / project.name / "stages"
    (stages_dir / "_width.py").write_text("WIDTH = 3\n", encoding="utf-8")
    edit(
        stages_dir / "train.py",
        r"^(from \._io import)",
        r"from ._width import WIDTH  # noqa: F401\n\1",
    )
    refused = make(project, "repro")  # its deps miss the module: refused before DVC runs
    assert refused.returncode != 0
    assert "_width.py (its code): add it to its deps" in refused.stderr
    assert dvc_ran(refused) == []
    module = f"src/{project.name}/stages/_width.py"
    edit(project / "dvc.yaml", r"^(      - src/\w+/stages/train\.py)$", rf"\1\n      - {module}")
    require_ok(make(project, "repro"))
    (stages_dir / "_width.py").write_text("WIDTH = 4\n", encoding="utf-8")
    assert "train" in changed_stages(require_ok(make(project, "status")).stdout)
    restore(project)


def test_after_a_conf_edit_make_status_names_what_make_repro_reruns(project: Path) -> None:
    config = project / "conf/config.yaml"
    epochs = int(re.search(r"^  epochs: (\d+)", config.read_text("utf-8"), re.MULTILINE)[1])  # type: ignore[index]
    edit(config, r"^(  epochs: )\d+", rf"\g<1>{3 if epochs != 3 else 4}")
    status = require_ok(make(project, "status"))
    # `params` refreshes params.yaml; of the user's stages only train reads the value.
    assert changed_stages(status.stdout) == {"params", "train"}
    result = require_ok(make(project, "repro"))
    # evaluate reads train's new model: DVC re-runs it once train has changed it.
    assert dvc_ran(result) == ["params", "train", "evaluate"]
    commit(project, "Change train.epochs")


@pytest.mark.parametrize("damage", ["deleted", "corrupt"])
def test_a_deleted_or_corrupt_params_yaml_is_rebuilt_by_make_repro(
    project: Path, damage: str
) -> None:
    path = project / "params.yaml"
    before = path.read_text(encoding="utf-8")
    if damage == "deleted":
        path.unlink()
    else:
        path.write_text("train: {epochs: [unclosed\n", encoding="utf-8")
    result = require_ok(make(project, "repro"))
    assert path.read_text(encoding="utf-8") == before
    assert dvc_ran(result) == []


def test_a_stage_added_as_the_readme_says_runs_and_a_forgotten_step_is_refused(
    project: Path,
) -> None:
    section, module, entry = readme_blocks(project, "Add a stage")
    name = re.match(r"(\w+):", section)[1]  # type: ignore[index]
    with (project / "conf/config.yaml").open("a", encoding="utf-8") as config:
        config.write("\n" + section)
    (project / f"src/{project.name}/stages/{name}.py").write_text(module, encoding="utf-8")
    # The dvc.yaml entry is still missing: refused, naming the stage, before anything runs.
    for refused in (stage_run(project, "check"), make(project, "repro")):
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert f"stages/{name}.py is not in dvc.yaml" in refused.stderr
        assert dvc_ran(refused) == []
    with (project / "dvc.yaml").open("a", encoding="utf-8") as dvc_yaml:
        dvc_yaml.write(entry)
    require_ok(make(project, "params"))  # the README: once, before a plain `dvc repro`
    result = require_ok(uv_run(project, "dvc", "repro"))
    assert dvc_ran(result) == ["params", name]
    assert stages(project)[-1] == name
    assert read_record(newest(project, name))["status"] == "completed"
    commit(project, f"Add the {name} stage")


def test_a_model_added_as_one_yaml_file_trains_without_partial_fit(project: Path) -> None:
    (model,) = readme_blocks(project, "Add a model")
    path = re.match(r"# (conf/model/\w+\.yaml)", model)[1]  # type: ignore[index]
    (project / path).write_text(model, encoding="utf-8")
    name = Path(path).stem
    require_ok(stage_run(project, "stage=train", f"model={name}", "logger=none"))
    folder = newest(project, "train")
    assert read_record(folder)["status"] == "completed"
    # No partial_fit: one fit, one step of metrics, whatever train.epochs says.
    assert len((folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines()) == 1
    commit(project, f"Add the {name} model")


def test_load_from_under_dvc_is_refused_in_one_line(project: Path) -> None:
    earlier = newest(project, "train").name
    result = uv_run(project, "dvc", "exp", "run", "-S", f"train.load_from={earlier}")
    assert result.returncode != 0
    errors = [
        line for line in (result.stdout + result.stderr).splitlines() if line.startswith("error:")
    ]
    assert len(errors) == 1
    assert "load_from" in errors[0]
    restore(project)


def test_the_projects_own_tests_pass_after_the_researchers_edits(project: Path) -> None:
    require_ok(make(project, "use-b2", BUCKET="somebucket"))
    result = require_ok(make(project, "test"))
    assert " passed" in result.stdout


def test_the_projects_own_tests_pass_with_a_classification_table_as_the_default(
    project: Path,
) -> None:
    edit(project / "conf/config.yaml", r"^(  - data: )\w+", r"\g<1>breast_cancer")
    result = require_ok(make(project, "test"))
    assert " passed" in result.stdout
    restore(project)


def test_the_projects_own_tests_pass_with_the_example_stages_replaced_by_the_users(
    project: Path,
) -> None:
    pipeline = yaml.safe_load((project / "dvc.yaml").read_text(encoding="utf-8"))
    for name in stages(project):
        del pipeline["stages"][name]
        (project / "src" / project.name / "stages" / f"{name}.py").unlink()
    pipeline.pop("plots", None)
    pipeline["stages"]["count"] = {
        "cmd": f"python -m {project.name} stage=count",
        "deps": [f"src/{project.name}/stages/count.py"],
        "params": ["count"],
        "outs": ["${count.output_json}"],
    }
    (project / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False), encoding="utf-8")
    with (project / "conf/config.yaml").open("a", encoding="utf-8") as config:
        config.write("\ncount:                               # count to ten\n")
        config.write("  output_json: ${root}/reports/count.json  # what it writes\n")
    (project / "src" / project.name / "stages" / "count.py").write_text(COUNT, encoding="utf-8")
    require_ok(make(project, "params"))
    result = require_ok(make(project, "test"))
    assert " passed" in result.stdout
    restore(project)
