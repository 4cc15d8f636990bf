"""The find-keys git hooks: no B2, W&B or AWS key reaches a commit, whatever surrounds it.

pre-commit runs it on every file being committed (UTF-8 or UTF-16 text, lock files and
`.dvc` files included; other binary files are skipped) and, as a commit-msg hook, on the
commit message (`--message`); by hand: `uv run python .hooks/find_keys.py FILE...`. It
reads each line as written, and URL-decoded where it holds `%XX`, and reports, by file and
line, anything shaped like

- a Backblaze B2 application key: `K00`, a digit, then 27 base64 characters;
- a B2 application key id: 25 hex digits starting `00` (digits only: on a line that names a
  key or B2, as zero-padded numbers are); a 12-hex master key id only right after a key-id
  name (`B2_APPLICATION_KEY_ID=`, `keyId:`, `--key-id`);
- a W&B API key: `wandb_v1_` and 77 letters, digits or `_` (the keys W&B issues now), or
  40 hex digits (older keys) after `local-` or in a W&B context (below);
- an AWS access key id: `AKIA` or `ASIA`, then 16 capitals or digits; an AWS secret access
  key (40 base64 characters, capitals and small letters both) on a line that names a secret
  or within two lines of a key id.

A key counts after anything but a letter or digit, also a colour code (`\\x1b[31m`) or a
URL-encoded character (`%3A`). The shapes are the package's own (KEYS in
runtime/provenance.py): the run records redact the same keys. detect-secrets, the hook
before this one, finds other services' tokens.

A git commit id is 40 hex digits too: in changelogs, `git log`, pinned revisions, checksum
lists. 40 hex digits are taken for a W&B key only where W&B is named before them on their
line (wandb, WANDB_, W&B, an API key, login), or two lines above when their line is the
key alone or names a key, token, secret or password (a `.netrc`, a YAML section); never
right after `@` or `/` (a pinned action, a URL path), nor on a line that names a commit,
sha, rev, ref, hash, digest or git and no key, token, secret, password or login. A W&B key
written elsewhere is missed.

A false positive: end its line with `# pragma: allowlist secret` (detect-secrets honours
that comment too), or put `# pragma: allowlist nextline secret` on the line before.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

from {{ cookiecutter.pkg_name }}.runtime.provenance import KEYS as SHAPES

OLD_WANDB, B2_ID, AWS_ID, AWS_SECRET = (
    "W&B API key (40 hex)",
    "B2 application key id",
    "AWS access key id",
    "AWS secret access key",
)
KEYS = {kind: re.compile(pattern) for kind, pattern in SHAPES.items()}
COMMIT_WORDS = re.compile(
    r"(?i)(?<![a-z])(?:git|commit|hash|digest|checksum|revision"
    r"|(?:sha(?:1|256)?|revs?|refs?)(?![a-z]))"
)
KEY_WORDS = re.compile(r"(?i)key|token|secret|passw|login|credential")
WANDB_WORDS = re.compile(r"(?i)wandb|w&b|weights\s*(?:&|and)\s*biases|api[\s_-]?key|login")
B2_WORDS = re.compile(r"(?i)key|b2|backblaze")
NEAR = 2  # lines around a key that may name what it is
SCISSORS = re.compile(r"^. -{24} >8 -{24}$", re.MULTILINE)  # `git commit -v`: the diff below
ALLOWLIST = "pragma: allowlist secret"
ALLOWLIST_NEXT = "pragma: allowlist nextline secret"
ADVICE = """\
find-keys: keys belong outside git: `make b2-login` (B2, into .dvc/b2-credentials),
`wandb login` (W&B, into ~/.netrc), or .env (git-ignored). A key that was ever
committed or pushed: revoke it first. Not a key: end its line with
`# pragma: allowlist secret`."""
MESSAGE_ADVICE = """\
find-keys: the commit message holds a key; git kept the message in .git/COMMIT_EDITMSG:
take the key out and commit again (`git commit -e -F .git/COMMIT_EDITMSG`)."""


def is_wandb_key(lines: list[str], index: int, line: str, start: int) -> bool:
    """Whether the 40 hex digits at `start` of `line` (line `index`) read as a W&B key."""
    if line.startswith("local-", start):
        return True
    before = line[:start]
    if before.endswith("@") or (before.endswith("/") and not before.endswith("://")):
        return False  # a pinned action, a URL path (not a URL's user name)
    if COMMIT_WORDS.search(line) and not KEY_WORDS.search(line):
        return False  # a line about a commit
    if WANDB_WORDS.search(before):
        return True
    alone = line.strip(" \t\"'`,;") == line[start : start + 40]
    above = "\n".join(lines[max(index - NEAR, 0) : index])
    return bool(WANDB_WORDS.search(above)) and (alone or bool(KEY_WORDS.search(before)))


def is_key(lines: list[str], index: int, line: str, kind: str, found: re.Match[str]) -> bool:
    """Whether a match of a shape is a key, by what surrounds it where a shape needs that."""
    if kind == OLD_WANDB:
        return is_wandb_key(lines, index, line, found.start())
    if kind == B2_ID and found[0].isdigit():
        return bool(B2_WORDS.search(line))
    if kind == AWS_SECRET:
        near = lines[max(index - NEAR, 0) : index + NEAR + 1]
        return "secret" in line.lower() or any(KEYS[AWS_ID].search(text) for text in near)
    return True


def find_keys(text: str) -> Iterator[tuple[int, str, str]]:
    """Each key in `text`: its line number, its kind, and the key itself."""
    lines, allowed_next = text.split("\n"), False
    for index, written in enumerate(lines):
        allowed, allowed_next = allowed_next or ALLOWLIST in written, ALLOWLIST_NEXT in written
        if allowed:
            continue
        seen = set()
        for line in dict.fromkeys([written, unquote(written)]):  # `%2F` in a key in a URL
            for kind, pattern in KEYS.items():
                for found in pattern.finditer(line):
                    key = found.group(found.lastindex or 0)
                    if (kind, key) not in seen and is_key(lines, index, line, kind, found):
                        seen.add((kind, key))
                        yield index + 1, kind, key


def read(path: Path) -> str | None:
    """The text of a file, UTF-8 or UTF-16 (as Windows tools write it); None if it is binary."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if b"\0" not in data:
        return data.decode("utf-8-sig", errors="replace")
    sample = data[:4096]
    for encoding, zeros in (("utf-16-le", sample[1::2]), ("utf-16-be", sample[::2])):
        if zeros.count(0) > len(zeros) // 2:  # ASCII text in UTF-16 without a byte-order mark
            return data.decode(encoding, errors="replace")
    return None


def main(args: list[str]) -> int:
    """Print each key in the files named (its first characters only); 1 if there was one."""
    message = args[:1] == ["--message"]
    found = 0
    for path in args[1:] if message else args:
        text = read(Path(path)) or ""
        if message:  # what git commits of it: not the diff that `git commit -v` shows below
            text = SCISSORS.split(text)[0]
        for number, kind, key in find_keys(text):
            print(f"{path}:{number}: {kind} ({key[:4]}..., {len(key)} characters)")
            found += 1
    if found:
        print(MESSAGE_ADVICE if message else ADVICE)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
