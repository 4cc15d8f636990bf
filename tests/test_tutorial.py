"""End-to-end tier: docs/tutorial.md is run, every command block, so it cannot drift from the code.

Each ```bash block of the tutorial carries a marker line right above its fence:

    <!-- tutorial: run -->                       the block must succeed
    <!-- tutorial: fails -->                     the block must exit non-zero
    <!-- tutorial: run; expect: TEXT -->         and its output must contain TEXT

An unmarked ```bash block, a marker without a block, or a tutorial with no block
fails the test. So does a `## ` section that does not say its idea in two sentences
or more before its first command block, or a closing `## Glossary` whose terms
(10 to 16) are not all used above it: the tutorial is a lesson, not a tour.
The blocks run in order in one bash session (`set -euo pipefail`,
so `cd` carries over) in an empty folder, with cookiecutter and uv on PATH.

What the tutorial cannot say literally is set here, in SUBSTITUTIONS and in the
environment of `tutorial_env`: the template's folder; moto's S3 server on
127.0.0.1 standing in for B2 (B2_ENDPOINT_URL) and a made-up key for it. W&B has
no credentials and logs offline. Every proxy variable points at a closed
loopback port, uv is offline and DVC's analytics are off, so nothing reaches
beyond 127.0.0.1. (Beforehand, the same project is installed once in a bake of
its own, which reaches the package index only for what uv's cache lacks.)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, bake, read_record, require_ok, run
from s3server import S3Server
from wandb_files import of_type, wandb_records

pytestmark = pytest.mark.e2e
TUTORIAL = ROOT / "docs" / "tutorial.md"
# The only text of the tutorial that is changed before it runs.
SUBSTITUTIONS = {"path/to/cookiecutter-hydra-dvc": str(ROOT)}
# The folders the tutorial makes, in the folder it starts in.
FIRST, SECOND = "deep_sea_survey", "second-machine"
# A made-up B2 application key, for moto's server.
KEY_ID = "0043c9d8e7f6a5b0000000011"
KEY = "K004Tut0r1alKeyN0tRealAtAll77xyzQ"  # pragma: allowlist secret
SHELL_FENCES = {"bash", "sh", "shell", "console", "zsh"}
MARKER = re.compile(r"^<!-- tutorial: (?P<spec>.*?) -->$")
FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>[^`\s]*)")
USE_B2 = re.compile(r"make use-b2 BUCKET=(?P<bucket>\S+) B2_REGION=(?P<region>\S+)")
TIMEOUT_S = 900
# The lesson's shape: each `## ` section says its idea before its first command block,
# and the closing glossary's terms (`- **term**: ...`) are words the sections use.
GLOSSARY = "Glossary"
GLOSSARY_SIZE = range(10, 17)
IDEA_SENTENCES = 2
TERM = re.compile(r"^- \*\*(?P<term>[^*]+)\*\*: \S")
SENTENCE_END = re.compile(r"[.!?][)\"'`]*(?=\s|$)")
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass
class Block:
    """One marked command block of the tutorial."""

    line: int  # of its opening fence, 1-based
    commands: list[str]
    fails: bool = False
    expect: list[str] = field(default_factory=list)

    @property
    def first_line(self) -> int:
        """The tutorial line of the block's first command."""
        return self.line + 1


class TutorialError(ValueError):
    """The tutorial's blocks or markers are not as the convention says."""


def parse_tutorial(text: str) -> list[Block]:
    """The marked blocks in order; raise TutorialError naming every problem found."""
    lines = text.splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    pending: tuple[int, str] | None = None  # a marker waiting for its fence
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        marker, fence = MARKER.match(line), FENCE.match(line)
        if pending is not None and not fence:
            problems.append(f"line {pending[0]}: marker is not right above a ```bash fence")
            pending = None
        if marker:
            pending = (number, marker["spec"])
            index += 1
            continue
        if not fence:
            index += 1
            continue
        close = next(
            (i for i in range(index + 1, len(lines)) if lines[i].strip() == fence["fence"]), None
        )
        if close is None:
            problems.append(f"line {number}: the fence is never closed")
            pending = None
            break
        if fence["info"].lower() in SHELL_FENCES:
            if pending is None:
                problems.append(
                    f"line {number}: ```{fence['info']} block without a marker; put "
                    "`<!-- tutorial: run -->` on the line above it"
                )
            else:
                try:
                    blocks.append(_block(number, lines[index + 1 : close], pending[1]))
                except TutorialError as error:
                    problems.append(f"line {pending[0]}: {error}")
        elif pending is not None:
            problems.append(f"line {pending[0]}: marker above a ```{fence['info']} block")
        pending = None
        index = close + 1
    if pending is not None:
        problems.append(f"line {pending[0]}: marker is not right above a ```bash fence")
    if not blocks and not problems:
        problems.append("no marked ```bash block found")
    if problems:
        raise TutorialError("\n".join(problems))
    return blocks


def _block(line: int, commands: list[str], spec: str) -> Block:
    kind, *options = (part.strip() for part in spec.split(";"))
    if kind not in ("run", "fails"):
        raise TutorialError(f"marker says '{kind}'; use 'run' or 'fails'")
    block = Block(line, commands, fails=kind == "fails")
    for option in options:
        name, _, value = option.partition(":")
        if name.strip() != "expect" or not value.strip():
            raise TutorialError(f"marker option '{option}'; the only option is 'expect: TEXT'")
        block.expect.append(value.strip())
    if not any(command.strip() for command in commands):
        raise TutorialError("the block has no command")
    return block


def marked_blocks(text: str) -> list[Block]:
    """The tutorial's marked blocks; the test fails naming every break of the convention."""
    try:
        return parse_tutorial(text)
    except TutorialError as error:
        pytest.fail(f"{TUTORIAL.relative_to(ROOT)}:\n{error}")


def substitute(text: str) -> str:
    """The tutorial with SUBSTITUTIONS made; each must be found."""
    for old, new in SUBSTITUTIONS.items():
        if old not in text:
            pytest.fail(f"'{old}' is no longer in {TUTORIAL.name}: update SUBSTITUTIONS")
        text = text.replace(old, new)
    return text


# ---------------------------------------------------------------- the lesson's shape


@dataclass
class Section:
    """One `## ` section of the tutorial, its HTML comments left out."""

    title: str
    line: int  # of its heading, 1-based
    lead: list[str] = field(default_factory=list)  # its lines before its first fence
    body: list[str] = field(default_factory=list)  # all its lines


def sections(text: str) -> tuple[list[str], list[Section]]:
    """The lines above the first `## ` heading, and the sections (fenced lines are not headings)."""
    lines = COMMENT.sub(lambda found: "\n" * found[0].count("\n"), text).splitlines()
    head: list[str] = []
    found: list[Section] = []
    fence: str | None = None  # the fence of the block being read, if any
    for number, line in enumerate(lines, start=1):
        opened = FENCE.match(line)
        if fence is None and line.startswith("## "):
            found.append(Section(line.removeprefix("## ").strip(), number))
            continue
        if fence is None and opened:
            fence = opened["fence"]
        elif fence is not None and line.strip() == fence:
            fence = None
        if not found:
            head.append(line)
            continue
        section = found[-1]
        section.body.append(line)
        if fence is None and not opened and len(section.lead) == len(section.body) - 1:
            section.lead.append(line)
    return head, found


def lesson_problems(text: str) -> list[str]:
    """What keeps the tutorial from being a lesson: a section whose first words are commands,
    a missing glossary, or a glossary term that the sections never use."""
    head, found = sections(text)
    problems: list[str] = []
    lessons = [section for section in found if section.title != GLOSSARY]
    for section in lessons:
        said = len(SENTENCE_END.findall(" ".join(section.lead)))
        if said < IDEA_SENTENCES:
            problems.append(
                f"line {section.line}: section '{section.title}' says its idea in {said} "
                f"sentence(s) before its first command block; write {IDEA_SENTENCES} or more"
            )
    if not found or found[-1].title != GLOSSARY:
        return [*problems, f"the last section is not '## {GLOSSARY}'"]
    terms = [match["term"] for line in found[-1].body if (match := TERM.match(line))]
    if len(terms) not in GLOSSARY_SIZE:
        problems.append(
            f"the glossary has {len(terms)} terms (`- **term**: ...`); "
            f"keep {GLOSSARY_SIZE.start} to {GLOSSARY_SIZE.stop - 1}"
        )
    used = "\n".join(
        [*head, *(line for lesson in lessons for line in (lesson.title, *lesson.body))]
    ).casefold()
    problems += [
        f"glossary term '{term}' is not used above the glossary"
        for term in terms
        if term.casefold() not in used
    ]
    return problems


# ---------------------------------------------------------------- the script


def block_start(block: Block) -> str:
    """The line the script prints before a block, to find its output afterwards."""
    return f"@@tutorial block {block.line}@@"


FAILED = re.compile(r"^@@tutorial failed: status (?P<status>\d+) at script line (?P<line>\d+)")
REPORT = 'printf "@@tutorial failed: status %s at script line %s: %s@@\\n"'
# Name the command that failed, and where, before errexit stops the session.
TRAP = f'trap \'status=$?; {REPORT} "$status" "$LINENO" "$BASH_COMMAND"\' ERR'


# `cat > file <<'EOF'`: the lines up to EOF are the document, not commands.
HEREDOC = re.compile(r"<<-?\s*'?(?P<end>\w+)'?\s*$")


def script(blocks: list[Block]) -> tuple[str, dict[int, int]]:
    """One bash script running every block in order; and its line -> tutorial line.

    After each command line the script checks its status too: errexit ignores a
    failure before the last `&&` of a line (`cd .. && git clone ...`).
    """
    out = ["set -Eeuo pipefail", TRAP]
    origin: dict[int, int] = {}

    def add(line: str, tutorial_line: int | None = None) -> None:
        out.append(line)
        if tutorial_line is not None:
            origin[len(out)] = tutorial_line

    for block in blocks:
        add(f"printf '\\n%s\\n' '{block_start(block)}'")
        if block.fails:
            # Shown on purpose: it must fail, and the session goes on.
            add("trap - ERR; set +e")
            add("(set -e")
        heredoc = None  # the terminator of a here-document being written, if any
        for offset, command in enumerate(block.commands):
            add(command, block.first_line + offset)
            if heredoc is not None:  # a line of the document; its command is checked at the end
                if command.strip() != heredoc:
                    continue
                heredoc = None
            elif opened := HEREDOC.search(command):
                heredoc = opened["end"]
                continue
            if not command.strip() or command.lstrip().startswith("#") or command.endswith("\\"):
                continue
            if block.fails:
                add('status=$?; [ "$status" -eq 0 ] || exit "$status"')
            else:
                line = len(out)
                report = f'{REPORT} "$status" {line} ""'
                add(f'status=$?; [ "$status" -eq 0 ] || {{ {report}; exit "$status"; }}')
        if block.fails:
            add(")")
            add("status=$?; set -e")
            add(
                f"[ $status -ne 0 ] || {{ {REPORT} 0 {len(out) + 1} 'the block should fail'; "
                "exit 97; }",
                block.first_line,
            )
            add(TRAP)
    return "\n".join(out) + "\n", origin


def run_script(text: str, cwd: Path, env: dict[str, str], log: Path) -> int:
    """Run a bash script to its end or TIMEOUT_S; output (with stderr) goes to `log`."""
    path = cwd.parent / "tutorial.sh"
    path.write_text(text, encoding="utf-8")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["bash", "--noprofile", "--norc", str(path)],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a timeout can stop every command it started
        )
        try:
            return process.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return -1


def outputs(log: str, blocks: list[Block]) -> dict[int, str]:
    """Each block's output, by the line of its fence."""
    found: dict[int, str] = {}
    starts = [(log.find(block_start(block) + "\n"), block) for block in blocks]
    ran = [(at, block) for at, block in starts if at >= 0]
    for (at, block), (end, _) in zip(ran, [*ran[1:], (len(log), None)], strict=True):
        found[block.line] = log[at + len(block_start(block)) + 1 : end]
    return found


def failure_report(
    status: int, log: str, blocks: list[Block], origin: dict[int, int], lines: list[str]
) -> str:
    """Which block and command failed, and the block's output."""
    by_line = outputs(log, blocks)
    block = next((b for b in reversed(blocks) if b.line in by_line), None)
    if status == -1:
        head = f"the tutorial did not finish within {TIMEOUT_S} s"
    else:
        head = f"the tutorial stopped with status {status}"
    where = ""
    failed = [FAILED.match(line) for line in log.splitlines()]
    last = next((match for match in reversed(failed) if match), None)
    if last is not None:
        tutorial_line = origin.get(int(last["line"]))
        if tutorial_line is not None:
            where = f"\ncommand (tutorial.md line {tutorial_line}): {lines[tutorial_line - 1]}"
        head = f"the tutorial stopped with status {last['status']}"
    if block is None:
        return f"{head} before its first block\n--- output ---\n{log[-6000:]}"
    return (
        f"{head} in the block at tutorial.md line {block.line}{where}\n"
        f"--- the block ---\n" + "\n".join(block.commands) + "\n"
        f"--- its output (last 6000 characters) ---\n{by_line[block.line][-6000:]}"
    )


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@dataclass
class Bucket:
    """The bucket the tutorial names, on moto's server."""

    server: S3Server
    name: str
    region: str

    def keys(self) -> list[str]:
        """Every key stored in the bucket."""
        client = self.server.client(self.region, KEY_ID, KEY)
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture(scope="module")
def bucket() -> Iterator[Bucket]:
    """moto's S3 server on 127.0.0.1 with the tutorial's bucket, made as in the B2 console."""
    found = USE_B2.search(TUTORIAL.read_text(encoding="utf-8"))
    if found is None:
        pytest.fail(f"no `make use-b2 BUCKET=... B2_REGION=...` in {TUTORIAL.name}")
    server = S3Server()
    server.start()
    made = Bucket(server, found["bucket"], found["region"])
    try:
        server.client(made.region, KEY_ID, KEY).create_bucket(
            Bucket=made.name, CreateBucketConfiguration={"LocationConstraint": made.region}
        )
        yield made
    finally:
        server.stop()


def warm_uv_cache(tmp_path: Path) -> None:
    """Install the tutorial's project once beforehand, so the tutorial's uv can stay offline."""
    warm = bake(tmp_path / "warm", {"project_name": "Deep Sea Survey"})
    require_ok(run(["uv", "sync", "--frozen"], cwd=warm))


def tutorial_env(tmp_path: Path, bucket: Bucket, closed_port: int) -> dict[str, str]:
    """The machine's environment, cleaned of settings that would change what the tutorial does."""
    dropped = ("AWS_", "B2_", "WANDB_", "DVC_", "GIT_", "UV_", "VIRTUAL_ENV", "PYTHON")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    nowhere = f"http://127.0.0.1:{closed_port}"
    home = tmp_path / "home"
    home.mkdir()
    env.update(
        {
            # cookiecutter comes from the template's environment, uv from the `uv` fixture.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]]),
            "TMPDIR": str(tmp_path / "tmp"),
            # A fresh git user: no global hooks, signing or aliases.
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Tutorial",
            "GIT_AUTHOR_EMAIL": "tutorial@example.com",
            "GIT_COMMITTER_NAME": "Tutorial",
            "GIT_COMMITTER_EMAIL": "tutorial@example.com",
            # B2 is moto's server; `make b2-login` reads the key from these.
            "B2_ENDPOINT_URL": bucket.server.endpoint,
            "B2_APPLICATION_KEY_ID": KEY_ID,
            "B2_APPLICATION_KEY": KEY,
            # W&B without credentials (so offline), its files kept here.
            "NETRC": str(home / "netrc"),
            "WANDB_CONFIG_DIR": str(home / "wandb-config"),
            "WANDB_CACHE_DIR": str(home / "wandb-cache"),
            "WANDB_DATA_DIR": str(home / "wandb-data"),
            "WANDB_BASE_URL": nowhere,
            # Nothing beyond 127.0.0.1: whatever would go out meets a closed port.
            "UV_OFFLINE": "1",
            "DVC_NO_ANALYTICS": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            **{name: nowhere for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")},
            **{name: nowhere for name in ("http_proxy", "https_proxy", "all_proxy")},
        }
    )
    if "UV_CACHE_DIR" in os.environ:  # the warm cache
        env["UV_CACHE_DIR"] = os.environ["UV_CACHE_DIR"]
    (tmp_path / "tmp").mkdir()
    return env


# ---------------------------------------------------------------- checks


def digests(project: Path) -> dict[str, str]:
    """md5 of every file under data/, models/ and reports/."""
    return {
        path.relative_to(project).as_posix(): hashlib.md5(path.read_bytes()).hexdigest()
        for folder in ("data", "models", "reports")
        for path in sorted((project / folder).rglob("*"))
        if path.is_file()
    }


def ignored_outputs(project: Path) -> list[str]:
    """The files under data/, models/ and reports/ that git ignores: DVC's to store."""
    command = ["git", "ls-files", "--others", "--ignored", "--exclude-standard"]
    listed = require_ok(run([*command, "--", "data", "models", "reports"], cwd=project))
    return sorted(listed.stdout.split())


def committed_text_holding(project: Path, *texts: str) -> str:
    """`git grep` over every commit for the texts; empty when none is found."""
    revisions = require_ok(run(["git", "rev-list", "--all"], cwd=project)).stdout.split()
    patterns = [arg for text in texts for arg in ("-e", text)]
    found = run(["git", "grep", "-a", "-F", *patterns, *revisions], cwd=project)
    assert found.returncode in (0, 1), found.stderr
    return found.stdout


# ---------------------------------------------------------------- tests


def test_every_bash_block_of_the_tutorial_is_marked_to_run() -> None:
    blocks = marked_blocks(TUTORIAL.read_text(encoding="utf-8"))
    assert len(blocks) >= 10


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("# T\n\n```bash\nmake\n```\n", "line 3: ```bash block without a marker"),
        ("# T\n<!-- tutorial: run -->\n\n```bash\nmake\n```\n", "line 2: marker is not right"),
        ("<!-- tutorial: run -->\n```text\nmake\n```\n", "line 1: marker above a ```text"),
        ("<!-- tutorial: skip -->\n```bash\nmake\n```\n", "line 1: marker says 'skip'"),
        ("<!-- tutorial: run; wait: 3 -->\n```bash\nmake\n```\n", "option 'wait: 3'"),
        ("<!-- tutorial: run -->\n```bash\nmake\n", "line 2: the fence is never closed"),
        ("# T\n\n```text\nno commands\n```\n", "no marked ```bash block found"),
    ],
)
def test_an_unmarked_block_or_a_stray_marker_is_refused(text: str, problem: str) -> None:
    with pytest.raises(TutorialError, match=re.escape(problem)):
        parse_tutorial(text)


def test_a_marker_reads_as_run_or_fails_with_expected_texts() -> None:
    text = (
        "<!-- tutorial: run -->\n```bash\ncd x\nmake\n```\n\n```text\nout\n```\n"
        "<!-- tutorial: fails; expect: No API key; expect: a -> b -->\n```sh\nmake sync\n```\n"
    )
    first, second = parse_tutorial(text)
    assert (first.line, first.commands, first.fails, first.expect) == (
        2,
        ["cd x", "make"],
        False,
        [],
    )
    assert (second.line, second.fails, second.expect) == (11, True, ["No API key", "a -> b"])


def test_each_section_says_its_idea_before_its_commands_and_a_glossary_closes_it() -> None:
    assert lesson_problems(TUTORIAL.read_text(encoding="utf-8")) == []


GLOSSED = "\n## Glossary\n\n" + "".join(f"- **term {n}**: what it is.\n" for n in range(10))
USES = " ".join(f"term {n}" for n in range(10))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            f"## 1. Run\n\n```bash\nmake\n```\n\nIt ran. {USES}.\n{GLOSSED}",
            "line 1: section '1. Run' says its idea in 0 sentence(s) before its first",
        ),
        (
            f"## 1. Run\n\n<!-- Two. Sentences. -->\nMake runs.\n```bash\nmake\n```\n{USES}.\n",
            "line 1: section '1. Run' says its idea in 1 sentence(s)",
        ),
        ("## 1. Run\n\nOne. Two.\n\n## Words\n\n- **make**: a tool.\n", "is not '## Glossary'"),
        (f"## 1. Run\n\nOne. Two {USES}.\n{GLOSSED}- **queue**: a list.\n", "'queue' is not used"),
        ("## 1. Run\n\nOne. Two.\n\n## Glossary\n\n- **one**: a word.\n", "has 1 terms"),
    ],
)
def test_a_section_that_opens_with_commands_or_an_unused_term_is_refused(
    text: str, problem: str
) -> None:
    assert any(problem in found for found in lesson_problems(text)), lesson_problems(text)


def test_a_well_shaped_lesson_passes_and_fenced_headings_are_not_sections() -> None:
    fenced = "```bash\ncat <<'MD'\n## Not a section\nMD\n```\n"
    text = f"## 1. Run\n\nMake runs the stages. Each {USES}.\n\n{fenced}{GLOSSED}"
    assert lesson_problems(text) == []


def run_blocks(text: str, work: Path, env: dict[str, str]) -> str:
    """Run the marked blocks of a markdown text in `work`; fail naming the block that broke.

    Returns the session's output (stderr included).
    """
    blocks = marked_blocks(text)
    code, origin = script(blocks)
    log = work.parent / f"{work.name}.log"
    status = run_script(code, work, env, log)
    output = log.read_text(encoding="utf-8", errors="replace")
    if status != 0:
        pytest.fail(failure_report(status, output, blocks, origin, text.splitlines()))
    by_line = outputs(output, blocks)
    for block in blocks:
        missing = [wanted for wanted in block.expect if wanted not in by_line[block.line]]
        if missing:
            pytest.fail(
                f"the block at tutorial.md line {block.line} ran, but its output lacks {missing}\n"
                f"--- its output (last 6000 characters) ---\n{by_line[block.line][-6000:]}"
            )
    return output


def test_a_failing_command_is_named_with_its_line_its_block_and_the_output(
    tmp_path: Path,
) -> None:
    text = (
        "<!-- tutorial: run -->\n```bash\nmkdir sub && cd sub\n```\n\n"
        '<!-- tutorial: run -->\n```bash\necho "in $(basename $PWD)"\n'
        "cd no-such-folder && echo never\necho nor this\n```\n"
    )
    (tmp_path / "work").mkdir()
    with pytest.raises(pytest.fail.Exception) as failed:
        run_blocks(text, tmp_path / "work", dict(os.environ))
    report = str(failed.value)
    assert "status 1 in the block at tutorial.md line 7" in report
    assert "command (tutorial.md line 9): cd no-such-folder && echo never" in report
    assert "in sub\n" in report  # `cd` carried over from the first block
    assert "no-such-folder: No such file or directory" in report
    assert "nor this" not in report.split("--- its output")[1]


def test_a_block_marked_fails_must_fail_and_the_session_goes_on(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    failing = "<!-- tutorial: fails; expect: nope -->\n```bash\ncd nope\n```\n"
    after = "<!-- tutorial: run; expect: still here -->\n```bash\necho still here\n```\n"
    run_blocks(failing + after, tmp_path / "work", dict(os.environ))
    with pytest.raises(pytest.fail.Exception) as failed:
        run_blocks("<!-- tutorial: fails -->\n```bash\ntrue\n```\n", tmp_path / "work", {})
    assert "command (tutorial.md line 3): true" in str(failed.value)
    assert "the block should fail" in str(failed.value)


def test_an_expected_text_missing_from_the_output_fails(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    text = "<!-- tutorial: run; expect: goodbye -->\n```bash\necho hello\n```\n"
    with pytest.raises(
        pytest.fail.Exception, match=r"line 2 ran, but its output lacks \['goodbye'\]"
    ):
        run_blocks(text, tmp_path / "work", dict(os.environ))


@pytest.fixture(scope="module")
def tutorial(
    bucket: Bucket, closed_port: int, uv: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The folder the whole tutorial ran in, once for the module (the checks below read it)."""
    tmp_path = tmp_path_factory.mktemp("tutorial")
    warm_uv_cache(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    env = tutorial_env(tmp_path, bucket, closed_port)
    run_blocks(substitute(TUTORIAL.read_text(encoding="utf-8")), work, env)
    return work


def test_the_tutorial_runs_from_start_to_end_against_a_local_b2(
    tutorial: Path, bucket: Bucket
) -> None:
    first, second = tutorial / FIRST, tutorial / SECOND
    # make pull on the second machine restored every output, byte for byte ...
    stored = ignored_outputs(first)
    assert {"data/raw/clinic.csv", "models/model.joblib"} <= set(stored)
    assert digests(second) == digests(first)
    # ... from the bucket on moto's server, where make push had put them.
    keys = bucket.keys()
    for name in stored:
        md5 = digests(first)[name]
        assert any(key.endswith(f"/files/md5/{md5[:2]}/{md5[2:]}") for key in keys), name
    # runs push / runs pull went the same way (the sweeps of step 14 came after the push).
    runs = {path.name for path in (first / "runs").iterdir() if not path.name.startswith(".")}
    pushed = {key.split("/runs/")[1].split("/")[0] for key in keys if "/runs/" in key}
    assert pushed
    assert pushed < runs
    assert {path.name for path in (second / "runs").iterdir()} == pushed
    # The key is on both machines, for their owner only, and in no commit.
    for project in (first, second):
        stored = project / ".dvc" / "b2-credentials"  # written by `make b2-login`
        assert KEY in stored.read_text(encoding="utf-8")
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert bucket.name in committed_text_holding(project, bucket.name)  # the search works
        assert not committed_text_holding(project, KEY, KEY_ID)
        tracked = require_ok(run(["git", "ls-files", ".dvc"], cwd=project)).stdout.split()
        assert ".dvc/b2-credentials" not in tracked


def sweep_records(project: Path, launcher: str) -> list[tuple[Path, dict[str, Any]]]:
    """The run folders and records of the tutorial's sweep on `launcher` (step 14)."""
    folders = [path.parent for path in (project / "runs").glob("*/run.json")]
    runs = [(folder, read_record(folder)) for folder in folders]
    sweeps = {str(record["sweep"]) for _, record in runs if record["sweep"]}
    multirun = project / "runs" / ".multirun"
    submitit = {
        name for name in sweeps if (multirun / name.removeprefix("sweep-") / ".submitit").is_dir()
    }
    (wanted,) = submitit if launcher == "submitit_local" else sweeps - submitit
    return [(folder, record) for folder, record in runs if record["sweep"] == wanted]


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_each_sweep_job_left_a_record_and_a_wandb_run_in_the_sweeps_group(
    tutorial: Path, launcher: str
) -> None:
    project = tutorial / FIRST
    runs = sweep_records(project, launcher)
    records = [record for _, record in runs]
    assert len(records) == 4
    assert [record["status"] for record in records] == ["completed"] * 4
    assert len({" ".join(record["overrides"]) for record in records}) == 4
    (name,) = {record["sweep"] for record in records}
    assert name.startswith("sweep-")
    # The jobs ran outside the command's process, in more than one process.
    assert len({record["pid"] for record in records}) >= 2
    starts = [of_type(wandb_records(project, path), "run")[0] for path, _ in runs]
    assert {start["run_group"] for start in starts} == {name}
    assert {start["job_type"] for start in starts} == {"train"}
    # Each record names its W&B run; each W&B run is named after its record.
    assert sorted(start["run_id"] for start in starts) == sorted(
        record["tracker"]["wandb_id"] for record in records
    )
    assert sorted(start["display_name"] for start in starts) == sorted(r["id"] for r in records)
    if launcher == "submitit_local":
        folder = project / "runs" / ".multirun" / name.removeprefix("sweep-") / ".submitit"
        assert len(list(folder.glob("*/*_result.pkl"))) == 4


def test_queued_experiments_ran_in_copies_and_left_their_records_in_the_project(
    tutorial: Path,
) -> None:
    """Step 8 queued `train.epochs=10,50`: DVC ran train in temporary copies of the project."""
    project = tutorial / FIRST
    statuses: dict[int, list[str]] = {}  # train.epochs: the statuses of DVC's train runs
    for folder in (project / "runs").glob("train_*"):
        record = read_record(folder)
        if record["overrides"] == ["(params.yaml)"]:
            config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
            statuses.setdefault(config["train"]["epochs"], []).append(record["status"])
    assert (statuses.get(10), statuses.get(50)) == (["completed"], ["completed"])
    command = [".venv/bin/dvc", "exp", "show", "--json", "--all-commits"]
    shown = require_ok(run(command, cwd=project)).stdout
    scored = {
        rev["data"]["params"]["params.yaml"]["data"]["train"]["epochs"]
        for entry in json.loads(shown)
        for exp in entry.get("experiments") or []
        for rev in exp.get("revs") or []
        if (rev.get("data") or {}).get("metrics")
    }
    assert {10, 50} <= scored
