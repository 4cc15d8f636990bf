"""Render tier: every option set bakes into exactly the expected files; bad answers are refused."""

from __future__ import annotations

import fnmatch
import itertools
import json
import re
import sys
from pathlib import Path

import pytest
from conftest import DEFAULTS, ROOT, Bakery, Options, run
from reliability import Recorder
from update_locks import lock_name

pytestmark = pytest.mark.render
PROJECT_DIR = "{{cookiecutter.__project_dir}}"

# The files of a default bake, in a project whose package is PKG.
EXPECTED_FILES = (
    """
.cruft.json .dockerignore .dvc/.gitignore .dvc/aws_config .dvc/config .dvcignore
.dvc/plots/offline.html
.github/workflows/ci.yaml
.gitignore .pre-commit-config.yaml Dockerfile LICENSE Makefile README.md dvc.yaml pyproject.toml
.secrets.baseline .hooks/find_keys.py uv.lock
conf/config.yaml conf/data/breast_cancer.yaml conf/data/diabetes.yaml conf/data/digits.yaml
conf/debug/default.yaml
conf/experiment/mlp_wide.yaml conf/hydra/launcher/slurm.yaml
conf/logger/none.yaml conf/logger/wandb.yaml
conf/model/boosted_trees.yaml conf/model/linear.yaml conf/model/mlp.yaml conf/model/sgd.yaml
data/external/.gitkeep data/raw/.gitkeep models/.gitkeep reports/.gitkeep
notebooks/compare_runs.ipynb
src/PKG/__init__.py src/PKG/__main__.py src/PKG/py.typed
src/PKG/runtime/__init__.py src/PKG/runtime/cli.py
src/PKG/runtime/pipeline.py src/PKG/runtime/provenance.py src/PKG/runtime/records.py
src/PKG/runtime/run.py
src/PKG/runtime/runs.py
src/PKG/runtime/tracking.py
src/PKG/stages/__init__.py src/PKG/stages/_io.py src/PKG/stages/evaluate.py
src/PKG/stages/featurize.py src/PKG/stages/prepare.py src/PKG/stages/train.py
""".split()
    + [  # the generated project's own tests, as the template ships them
        f"tests/{path.name}"
        for path in (ROOT / "{{cookiecutter.__project_dir}}/tests").glob("*.py")
    ]
)
# framework=pytorch: the default bake without the estimators' files, with the Lightning ones.
SKLEARN_ONLY = {
    "conf/model/boosted_trees.yaml",
    "conf/model/linear.yaml",
    "conf/model/sgd.yaml",
}
PYTORCH_ONLY = {
    *(f"conf/trainer/{name}.yaml" for name in ("auto", "cpu", "ddp", "gpu", "mps")),
    "src/PKG/runtime/resume.py",
    "src/PKG/stages/_nets.py",
    "tests/test_lightning.py",
}
# search=optuna: the runtime's search and one search of each framework's model.
SEARCH_FILES = {
    "sklearn": {"src/PKG/runtime/search.py", "conf/search/sgd.yaml"},
    "pytorch": {"src/PKG/runtime/search.py", "conf/search/mlp.yaml"},
}
# The most packages the default bake's lock may hold (176 at Python 3.11 in Dec 2026): the
# options and `uv run --with` keep what most users never run out of `make setup`.
DEFAULT_LOCK_PACKAGES = 180
# Jinja markers; `${...}` (OmegaConf) and `${{ ... }}` (GitHub Actions) are not template leftovers.
LEFTOVER = re.compile(r"(?<!\$)\{\{|\}\}|\{%|%\}|\{#")
GITHUB_EXPRESSION = re.compile(r"\$\{\{[^{}]*\}\}")
# A nested OmegaConf interpolation, such as `${oc.select:data.file,${data.source}}`.
NESTED_INTERPOLATION = re.compile(r"\$\{[^{}]*\$\{[^{}]*\}\}")
LICENSE_FIRST_LINES = {
    "MIT": "MIT License",
    "BSD-3-Clause": "BSD 3-Clause License",
    "Apache-2.0": "Apache License",
}
BUCKETS = [("", "us-west-004"), ("lab-results-2026", "eu-central-003")]


def is_valid(options: Options) -> bool:
    """The validity rule of the matrix: every choice combination is valid, except that a
    B2 region without a bucket is never asked for (the region is only used with a bucket)."""
    return bool(options["b2_bucket"]) or options["b2_region"] == DEFAULTS["b2_region"]


def option_matrix() -> list[dict[str, str]]:
    """Every combination of Python version, license and B2 setup that the rule allows."""
    combos = itertools.product(
        DEFAULTS["python_version"],  # type: ignore[arg-type]
        DEFAULTS["license"],  # type: ignore[arg-type]
        [(b, r) for b in ("", BUCKETS[1][0]) for r in (BUCKETS[0][1], BUCKETS[1][1])],
    )
    matrix = [
        {"python_version": py, "license": lic, "b2_bucket": bucket, "b2_region": region}
        for py, lic, (bucket, region) in combos
    ]
    return [options for options in matrix if is_valid(options)]


def files_of(project: Path) -> set[str]:
    """Every file in a baked project, relative to it, ignoring git's own folder."""
    return {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts[:1]
    }


def expected_files(
    pkg: str, license_name: str, framework: str = "sklearn", search: str = "none"
) -> set[str]:
    """The exact file set a bake should produce for these options."""
    names = set(EXPECTED_FILES)
    if framework == "pytorch":
        names = (names - SKLEARN_ONLY) | PYTORCH_ONLY
    if search == "optuna":
        names |= SEARCH_FILES[framework]
    files = {name.replace("PKG", pkg) for name in names}
    if license_name == "none":
        files.discard("LICENSE")
    return files


def test_the_validity_rule_drops_only_regions_without_a_bucket() -> None:
    matrix = option_matrix()
    assert len(matrix) == 4 * 4 * 3
    assert all(o["b2_bucket"] or o["b2_region"] == DEFAULTS["b2_region"] for o in matrix)


@pytest.mark.parametrize(
    "options", option_matrix(), ids=lambda o: "-".join(v or "nobucket" for v in o.values())
)
def test_every_option_set_bakes_exactly_the_expected_files(
    bakery: Bakery, options: dict[str, str]
) -> None:
    project = bakery(options)
    assert files_of(project) == expected_files("my_project", options["license"])
    assert_no_template_markers(project)
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert f'requires-python = ">={options["python_version"]}"' in pyproject
    lock = (project / "uv.lock").read_text(encoding="utf-8")
    assert f'requires-python = ">={options["python_version"]}"' in lock
    assert 'name = "my-project"' in lock
    assert "lockproject" not in lock
    if options["license"] != "none":
        first = (project / "LICENSE").read_text(encoding="utf-8").strip().splitlines()[0]
        assert first.strip() == LICENSE_FIRST_LINES[options["license"]]


def assert_no_template_markers(project: Path) -> None:
    """No Jinja marker is left in any file of a bake but those copied without rendering
    (the inlined vega scripts of .dvc/plots/offline.html hold `{#` and `}}`)."""
    unrendered: list[str] = DEFAULTS["_copy_without_render"]  # type: ignore[assignment]
    for path in project.rglob("*"):
        relative = path.relative_to(project)
        if any(fnmatch.fnmatch(relative.as_posix(), pattern) for pattern in unrendered):
            continue
        if path.is_file() and ".git" not in relative.parts[:1]:
            text = path.read_text(encoding="utf-8", errors="replace")
            leftover = LEFTOVER.search(
                NESTED_INTERPOLATION.sub("", GITHUB_EXPRESSION.sub("", text))
            )
            assert not leftover, f"template marker left in {path.name}"


@pytest.mark.parametrize("python_version", DEFAULTS["python_version"])  # type: ignore[arg-type]
def test_the_pytorch_variant_bakes_its_own_files_and_lock(
    bakery: Bakery, python_version: str
) -> None:
    project = bakery({"framework": "pytorch", "python_version": python_version})
    assert files_of(project) == expected_files("my_project", "MIT", "pytorch")
    assert_no_template_markers(project)
    lock = (project / "uv.lock").read_text(encoding="utf-8")
    assert f'requires-python = ">={python_version}"' in lock
    assert 'name = "torch"' in lock
    assert 'name = "lightning"' in lock
    default = (bakery({"python_version": python_version}) / "uv.lock").read_text(encoding="utf-8")
    assert 'name = "torch"' not in default


@pytest.mark.parametrize("framework", ["sklearn", "pytorch"])
def test_search_optuna_bakes_the_search_its_config_group_and_optuna(
    bakery: Bakery, framework: str
) -> None:
    project = bakery({"framework": framework, "search": "optuna"})
    assert files_of(project) == expected_files("my_project", "MIT", framework, "optuna")
    assert_no_template_markers(project)
    (search,) = (project / "conf/search").glob("*.yaml")
    defaults = (project / "conf/config.yaml").read_text(encoding="utf-8")
    assert f"  - search: null                     # search={search.stem}: " in defaults
    assert '"optuna>=4"' in (project / "pyproject.toml").read_text(encoding="utf-8")
    lock = (project / "uv.lock").read_text(encoding="utf-8")
    assert 'name = "optuna"' in lock
    assert ('name = "torch"' in lock) == (framework == "pytorch")
    answers = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert answers["context"]["cookiecutter"]["search"] == "optuna"


@pytest.mark.parametrize("framework", ["sklearn", "pytorch"])
def test_a_bake_without_search_holds_no_optuna(bakery: Bakery, framework: str) -> None:
    project = bakery({"framework": framework} if framework != "sklearn" else None)
    assert files_of(project) == expected_files("my_project", "MIT", framework)
    assert not (project / "conf/search").exists()
    code = [path for folder in ("conf", "src") for path in (project / folder).rglob("*.*")]
    for path in [project / "pyproject.toml", project / "uv.lock", *code]:
        assert "optuna" not in path.read_text(encoding="utf-8").lower(), path
    answers = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert answers["context"]["cookiecutter"]["search"] == "none"


def test_the_template_ships_one_lock_per_framework_search_and_python() -> None:
    choices = [DEFAULTS[key] for key in ("framework", "search", "python_version")]
    expected = {lock_name(*answers) for answers in itertools.product(*choices)}  # type: ignore[arg-type]
    shipped = {path.name for path in (ROOT / PROJECT_DIR / ".template-locks").iterdir()}
    assert shipped == expected
    assert len(shipped) == 16


def test_the_default_lock_stays_light() -> None:
    defaults = [DEFAULTS[key][0] for key in ("framework", "search", "python_version")]  # type: ignore[index]
    lock = ROOT / PROJECT_DIR / ".template-locks" / lock_name(*defaults)
    packages = lock.read_text(encoding="utf-8").count("\n[[package]]\n")
    assert packages <= DEFAULT_LOCK_PACKAGES, f"{lock.name} holds {packages} packages"


def test_a_project_name_becomes_the_package_and_wandb_names(bakery: Bakery) -> None:
    project = bakery({"project_name": "Deep Sea Survey"})
    assert project.name == "deep_sea_survey"
    assert files_of(project) == expected_files("deep_sea_survey", "MIT")
    assert "project: deep-sea-survey" in (project / "conf/logger/wandb.yaml").read_text()
    assert 'name = "deep-sea-survey"' in (project / "pyproject.toml").read_text()


@pytest.mark.parametrize("project_name", ["Deep Sea Survey", "Protein Folding Baselines Lab"])
def test_comments_stay_in_one_column_whatever_the_package_name(
    bakery: Bakery, project_name: str
) -> None:
    project = bakery({"project_name": project_name})
    pkg = project.name
    readme = (project / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```[a-z]*\n(.*?)```", readme, flags=re.DOTALL)
    columns = [comment_columns(block) for block in blocks if f" {pkg} " in block]
    columns = [found for found in columns if found]
    wandb = (project / "conf/logger/wandb.yaml").read_text(encoding="utf-8")
    columns.append(comment_columns(wandb))
    assert len(columns) > 3
    assert all(len(found) == 1 for found in columns), columns


def comment_columns(text: str) -> set[int]:
    """The columns where the trailing comments of these lines start."""
    return {
        line.index(" # ") + 1
        for line in text.splitlines()
        if " # " in line and not line.lstrip().startswith("#")
    }


def test_the_project_starts_as_a_git_repository_on_main(bakery: Bakery) -> None:
    project = bakery()
    head = run(["git", "symbolic-ref", "HEAD"], cwd=project)
    assert head.stdout.strip() == "refs/heads/main"
    assert "dvc.yaml" in run(["git", "status", "--porcelain"], cwd=project).stdout


def test_baking_leaves_the_global_git_config_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = Someone\n", encoding="utf-8")
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    result = run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "-o",
            str(tmp_path / "out"),
            str(ROOT),
        ],
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert gitconfig.read_text(encoding="utf-8") == "[user]\n\tname = Someone\n"
    assert sorted(p.name for p in home.iterdir()) == [".gitconfig"]


# (answer, value, the line the user must see)
BAD_ANSWERS = [
    ("pkg_name", "my-pkg", "pkg_name 'my-pkg' is not a Python identifier; try 'my_pkg'"),
    ("pkg_name", "class", "pkg_name 'class' is a Python keyword; try 'class_project'"),
    ("pkg_name", "1abc", "pkg_name '1abc' is not a Python identifier; try 'abc_project'"),
    (
        "project_name",
        "3D Survey",
        "pkg_name '3d_survey' is not a Python identifier; try 'survey_3d'",
    ),
    ("pkg_name", "", "pkg_name '' is empty; try 'project'"),
    ("project_name", "", "project_name is empty; try 'My Project'"),
    (
        "pkg_name",
        "os",
        "pkg_name 'os' shadows the standard library module of that name; try 'os_project'",
    ),
    ("pkg_name", "wandb", "pkg_name 'wandb' shadows a package the project depends on"),
    ("pkg_name", "über", "pkg_name 'über' has non-ASCII characters; try 'uber'"),
    ("project_name", "x" * 200, "project_name is 200 characters long (at most 80)"),
    ("pkg_name", "a" * 200, "pkg_name '" + "a" * 200 + "' is longer than 40 characters"),
    ("project_name", "../evil", "project_name '../evil' looks like a path; try 'evil'"),
    ("pkg_name", "../evil", "pkg_name '../evil' is not a Python identifier; try 'evil'"),
    ("b2_bucket", "My_Bucket", "b2_bucket 'My_Bucket' is not a valid B2 bucket name"),
    ("b2_bucket", "abc", "b2_bucket 'abc' is not a valid B2 bucket name"),
    (
        "b2_bucket",
        "b2-results",
        "b2_bucket 'b2-results' starts with 'b2-', which Backblaze reserves",
    ),
    ("b2_region", "mars-1", "b2_region 'mars-1' is not a B2 region such as 'us-west-004'"),
    ("author_email", "me.example.com", "author_email 'me.example.com' is not an e-mail address"),
    ("wandb_project", "my/project", "wandb_project 'my/project' may hold only letters"),
]


@pytest.mark.parametrize(
    ("field", "value", "message"), BAD_ANSWERS, ids=[a[0] for a in BAD_ANSWERS]
)
def test_a_bad_answer_is_refused_with_one_line_and_nothing_left(
    tmp_path: Path, field: str, value: str, message: str, reliability: Recorder
) -> None:
    returncode, stderr, left = refused_bake(tmp_path, field, value)
    # The whole of stderr is the one line: no cookiecutter traceback after it.
    errors = stderr.strip().splitlines()
    assert len(errors) == 1, stderr
    assert errors[0].startswith("error: ")
    assert message in errors[0]
    assert returncode == 2
    shown = value if len(value) <= 24 else f"{value[:12]}... ({len(value)} characters)"
    reliability.record("Bad answers", f"{field}='{shown}'", _short(errors[0]), left)
    assert left == 0


def test_make_new_bakes_the_answers_given_where_out_says(tmp_path: Path, uv: str) -> None:
    args = "ARGS=--no-input project_name='Fresh Start' framework=pytorch"
    result = run(["make", "new", f"OUT={tmp_path}", args, f"UV={uv}"], cwd=ROOT)
    assert result.returncode == 0, result.stderr
    answers = json.loads((tmp_path / "fresh_start/.cruft.json").read_text(encoding="utf-8"))
    assert answers["context"]["cookiecutter"]["framework"] == "pytorch"


@pytest.mark.parametrize(
    ("field", "value"),
    [("python_version", "3.9"), ("license", "GPL"), ("framework", "jax"), ("search", "hyperopt")],
)
def test_cookiecutter_itself_refuses_a_value_outside_the_choices(
    tmp_path: Path, field: str, value: str, reliability: Recorder
) -> None:
    _, stderr, left = refused_bake(tmp_path, field, value)
    last = stderr.strip().splitlines()[-1]
    assert f"{value} provided for choice variable {field}" in last
    reliability.record("Bad answers", f"{field}='{value}'", _short(last), left)
    assert left == 0


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def refused_bake(tmp_path: Path, field: str, value: str) -> tuple[int, str, int]:
    """Bake with one answer set; check it fails; return its exit status, stderr, files left."""
    out = tmp_path / "sandbox" / "out"
    out.mkdir(parents=True)
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(out), str(ROOT)]
    result = run([*command, f"{field}={value}"], cwd=out)
    assert result.returncode != 0
    left = sum(1 for _ in out.rglob("*"))
    left += sum(1 for path in (tmp_path / "sandbox").iterdir() if path.name != "out")
    return result.returncode, result.stderr, left


def test_every_line_of_the_main_config_says_what_it_does(bakery: Bakery) -> None:
    config = (bakery() / "conf" / "config.yaml").read_text(encoding="utf-8").splitlines()
    uncommented = [
        line
        for line in config
        if line.strip() and not line.lstrip().startswith("#") and " # " not in line
    ]
    assert uncommented == []
