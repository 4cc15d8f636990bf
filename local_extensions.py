"""Refuse bad answers before cookiecutter writes anything.

Cookiecutter loads this module (``_extensions`` in cookiecutter.json) and renders
``__answers_checked`` after the last question: the ``checked_answers`` filter sees every
answer, prints the first refusal as one line (the field, the value, and a value that would
work) and exits with status 2, before the project folder exists. Checking here rather than
in a pre-generation hook keeps cookiecutter's traceback off the screen: it logs one for
every hook that fails.
"""

from __future__ import annotations

import keyword
import re
import sys
import unicodedata
from collections.abc import Mapping

from cookiecutter.utils import simple_filter

# Names the generated package must not take: they would shadow a dependency
# (``import hydra`` would import the project instead) or a tool's own package.
TAKEN_NAMES = frozenset(
    {
        "conf",
        "data",
        "dvc",
        "hydra",
        "lightning",
        "matplotlib",
        "models",
        "mypy",
        "numpy",
        "omegaconf",
        "optuna",
        "pandas",
        "pyarrow",
        "pytest",
        "reports",
        "ruff",
        "runtime",
        "scipy",
        "sklearn",
        "src",
        "stages",
        "test",
        "tests",
        "torch",
        "tqdm",
        "wandb",
    }
)
MAX_PROJECT_NAME = 80
MAX_PKG_NAME = 40
PYTHON_VERSIONS = ("3.10", "3.11", "3.12", "3.13")
LICENSES = ("MIT", "BSD-3-Clause", "Apache-2.0", "none")
FRAMEWORKS = ("sklearn", "pytorch")
SEARCHES = ("none", "optuna")
# B2 bucket names: 6-63 characters, letters, digits and hyphens; the S3 API wants
# them lowercase, and names starting with "b2-" are reserved by Backblaze.
B2_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{4,61}[a-z0-9]$")
B2_REGION = re.compile(r"^[a-z]{2}-[a-z]+-\d{3}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
WANDB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def suggest_pkg_name(text: str) -> str:
    """Turn any text into the closest valid, unshadowed package name."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    first, _, rest = name.partition("_")
    if first[:1].isdigit() and rest:  # "3D Survey": survey_3d
        name = f"{rest}_{first}"
    name = name.lstrip("0123456789_") or "project"
    name = name[:MAX_PKG_NAME].rstrip("_")
    if keyword.iskeyword(name) or name in sys.stdlib_module_names or name in TAKEN_NAMES:
        name = f"{name}_project"
    return name


def check_project_name(value: str) -> str | None:
    """Return why the project name is refused, or None."""
    if not value.strip():
        return "project_name is empty; try 'My Project'"
    if len(value) > MAX_PROJECT_NAME:
        short = value[:30].strip()
        limit = f"at most {MAX_PROJECT_NAME}"
        return f"project_name is {len(value)} characters long ({limit}); try '{short}'"
    if any(ch in value for ch in "/\\") or value.strip().startswith("."):
        return f"project_name '{value}' looks like a path; try '{suggest_pkg_name(value)}'"
    return None


def check_pkg_name(value: str) -> str | None:
    """Return why the package name is refused, or None."""
    fix = suggest_pkg_name(value)
    problem = None
    if not value:
        problem = "is empty"
    elif not value.isascii():
        problem = "has non-ASCII characters"
    elif not value.isidentifier():
        problem = "is not a Python identifier"
    elif value != value.lower():
        problem = "has upper-case letters"
    elif keyword.iskeyword(value) or keyword.issoftkeyword(value):
        problem = "is a Python keyword"
    elif value in sys.stdlib_module_names:
        problem = "shadows the standard library module of that name"
    elif value in TAKEN_NAMES:
        problem = "shadows a package the project depends on or a folder of the project"
    elif value.startswith("_"):
        problem = "starts with an underscore"
    elif len(value) > MAX_PKG_NAME:
        problem = f"is longer than {MAX_PKG_NAME} characters"
    if problem is None:
        return None
    return f"pkg_name '{value}' {problem}; try '{fix}'"


def check_choice(field: str, value: str, allowed: tuple[str, ...]) -> str | None:
    """Return why a choice is refused, or None."""
    if value in allowed:
        return None
    return f"{field} '{value}' is not one of {', '.join(allowed)}; try '{allowed[0]}'"


def check_email(value: str) -> str | None:
    """Return why the author e-mail is refused, or None."""
    if EMAIL.match(value):
        return None
    return f"author_email '{value}' is not an e-mail address; try 'you@example.com'"


def check_b2_bucket(value: str) -> str | None:
    """Return why the B2 bucket name is refused, or None (empty means no bucket yet)."""
    if not value:
        return None
    fix = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")
    fix = fix.removeprefix("b2-")[:63].strip("-")
    if len(fix) < 6:
        fix = f"{fix}-data".strip("-")
    if value.startswith("b2-"):
        return f"b2_bucket '{value}' starts with 'b2-', which Backblaze reserves; try '{fix}'"
    if not B2_BUCKET.match(value) or "--" in value:
        return (
            f"b2_bucket '{value}' is not a valid B2 bucket name (6-63 lowercase letters, "
            f"digits and single hyphens); try '{fix}', or leave it empty"
        )
    return None


def check_b2_region(value: str) -> str | None:
    """Return why the B2 region is refused, or None."""
    if B2_REGION.match(value):
        return None
    return f"b2_region '{value}' is not a B2 region such as 'us-west-004' or 'eu-central-003'"


def check_wandb(field: str, value: str, required: bool) -> str | None:
    """Return why a W&B project or entity name is refused, or None."""
    if not value and not required:
        return None
    if WANDB_NAME.match(value):
        return None
    fix = re.sub(r"[^A-Za-z0-9_.-]+", "-", value).strip("-._")[:128] or "my-project"
    return f"{field} '{value}' may hold only letters, digits, '-', '_' and '.'; try '{fix}'"


def problems(answers: dict[str, str]) -> list[str]:
    """Check every answer; return the refusals in the order of the questions."""
    checks = [
        check_project_name(answers["project_name"]),
        check_pkg_name(answers["pkg_name"]),
        check_choice("framework", answers["framework"], FRAMEWORKS),
        check_choice("search", answers["search"], SEARCHES),
        check_email(answers["author_email"]),
        check_choice("python_version", answers["python_version"], PYTHON_VERSIONS),
        check_choice("license", answers["license"], LICENSES),
        check_b2_bucket(answers["b2_bucket"]),
        check_b2_region(answers["b2_region"]),
        check_wandb("wandb_project", answers["wandb_project"], required=True),
        check_wandb("wandb_entity", answers["wandb_entity"], required=False),
    ]
    return [problem for problem in checks if problem]


@simple_filter
def checked_answers(answers: Mapping[str, object]) -> str:
    """Stop the bake with one line and exit status 2 at the first bad answer."""
    found = problems({key: str(value) for key, value in answers.items()})
    if found:
        # Only the first refusal: one line to read, fix, and try again.
        print(f"error: {found[0]}", file=sys.stderr)
        raise SystemExit(2)
    return "yes"
