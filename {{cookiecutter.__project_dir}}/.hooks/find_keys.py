"""The find-keys git hook: no B2, W&B or AWS key reaches a commit, whatever surrounds it.

pre-commit runs it on every text file being committed but those tools write (lock
files, `.dvc` files: `.pre-commit-config.yaml`); by hand: `uv run python
.hooks/find_keys.py FILE...`. It reads each line as written and reports, by file and
line, anything shaped like

- a Backblaze B2 application key: `K00`, a digit, then 27 base64 characters;
- a B2 application key id: 25 hex digits starting `00`; a 12-hex master key id only
  right after a key-id name (`B2_APPLICATION_KEY_ID=`, `keyId:`, `--key-id`);
- a W&B API key: `wandb_v1_` and 77 letters, digits or `_` (the keys W&B issues now),
  or 40 hex digits (older keys; also after `local-`);
- an AWS access key id: `AKIA` or `ASIA`, then 16 capitals or digits.

The shapes are the package's own (KEYS in runtime/provenance.py): the run records redact
the same keys. detect-secrets, the hook before this one,
finds other tokens but misses these where the file misleads it: it reads YAML and
ini-like files as parsed values (comments and block scalars are lost), sees an unquoted
value only when the whole file parses as `name=value` lines, drops a value whose name
ends in `_id`, and skips any line that looks like a function call.

A git commit id is 40 hex digits too. One right after `@` or `/` (a pinned action, a
URL path), or on a line that names a commit, sha, rev, ref, hash, digest or git and no
key, token, secret, password, login or wandb, is taken for a commit id: a W&B key
written on such a line is missed.

A false positive: end its line with `# pragma: allowlist secret` (detect-secrets honours
that comment too), or put `# pragma: allowlist nextline secret` on the line before.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

from {{ cookiecutter.pkg_name }}.runtime.provenance import KEYS as SHAPES

OLD_WANDB = "W&B API key (40 hex)"
KEYS = {kind: re.compile(pattern) for kind, pattern in SHAPES.items()}
COMMIT_WORDS = re.compile(
    r"(?i)(?<![a-z])(?:git|commit|hash|digest|checksum|revision"
    r"|(?:sha(?:1|256)?|revs?|refs?)(?![a-z]))"
)
KEY_WORDS = re.compile(r"(?i)key|token|secret|passw|login|wandb|credential")
ALLOWLIST = "pragma: allowlist secret"
ALLOWLIST_NEXT = "pragma: allowlist nextline secret"
ADVICE = """\
find-keys: keys belong outside git: `make b2-login` (B2, into .dvc/b2-credentials),
`wandb login` (W&B, into ~/.netrc), or .env (git-ignored). A key that was ever
committed or pushed: revoke it first. Not a key: end its line with
`# pragma: allowlist secret`."""


def is_commit_id(line: str, start: int) -> bool:
    """Whether the 40 hex digits at `start` read as a git commit id rather than a W&B key."""
    if line.startswith("local-", start):
        return False
    before = line[max(start - 3, 0) : start]
    if before.endswith("@") or (before.endswith("/") and not before.endswith("://")):
        return True  # a pinned action, a URL path (not a URL's user name)
    return bool(COMMIT_WORDS.search(line)) and not KEY_WORDS.search(line)


def find_keys(text: str) -> Iterator[tuple[int, str, str]]:
    """Each key in `text`: its line number, its kind, and the key itself."""
    allowed_next = False
    for number, line in enumerate(text.split("\n"), start=1):
        allowed, allowed_next = allowed_next or ALLOWLIST in line, ALLOWLIST_NEXT in line
        if allowed:
            continue
        for kind, pattern in KEYS.items():
            for found in pattern.finditer(line):
                if kind == OLD_WANDB and is_commit_id(line, found.start()):
                    continue
                yield number, kind, found.group(found.lastindex or 0)


def main(paths: list[str]) -> int:
    """Print each key in the files named (its first characters only); 1 if there was one."""
    found = 0
    for path in paths:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        for number, kind, key in find_keys(text):
            print(f"{path}:{number}: {kind} ({key[:4]}..., {len(key)} characters)")
            found += 1
    if found:
        print(ADVICE)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
