"""What the commit hooks are tried on (test_quality.py): keys where they plausibly land, and
harmless files of a research repository that look like keys.

Each `<name>` in a text is filled with a fresh random string, drawn from a seeded
generator: a key of KEY_SHAPES in PLACEMENTS and MESSAGES (one placement each), a
look-alike of FILLERS in HARMLESS. No real key is written here.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from collections.abc import Callable
from urllib.parse import quote

HEX = "0123456789abcdef"
BASE64 = string.ascii_letters + string.digits + "+/"
Pick = Callable[[str, int], str]  # n characters drawn from an alphabet
Shape = Callable[[Pick], str]

# Random keys, shaped as each service issues them, and what find-keys calls them.
KEY_SHAPES: dict[str, tuple[str, Shape]] = {
    "b2": (
        "B2 application key",
        lambda pick: "K00" + pick("12345", 1) + pick(string.ascii_letters + string.digits, 27),
    ),
    "b2_id": ("B2 application key id", lambda pick: "00" + pick("12345", 1) + pick(HEX, 22)),
    # The 12 hex digits of a master key id are caught only after a key-id name.
    "master_id": ("B2 master key id", lambda pick: pick(HEX, 12)),
    "wandb_v1": (
        "W&B API key",
        lambda pick: "wandb_v1_" + pick(string.ascii_letters + string.digits + "_", 77),
    ),
    "wandb": ("W&B API key (40 hex)", lambda pick: pick(HEX, 40)),
    "local": ("W&B API key (40 hex)", lambda pick: "local-" + pick(HEX, 40)),
    "aws": (
        "AWS access key id",
        lambda pick: "A" + pick("KS", 1) + "IA" + pick(string.ascii_uppercase + string.digits, 16),
    ),
    "aws_secret": ("AWS secret access key", lambda pick: pick(BASE64, 40)),
    # As it is written in a URL: `/` and `+` percent-encoded (one `/` at least, to be sure).
    "aws_secret_url": (
        "AWS secret access key",
        lambda pick: quote(pick(BASE64, 20) + "/" + pick(BASE64, 19), safe=""),
    ),
}


def _png(pick: Pick) -> str:
    """A plot as a notebook holds it: a PNG's bytes in base64 (header, then noise)."""
    data = b"\x89PNG\r\n\x1a\n" + bytes(int(pick(HEX, 2), 16) for _ in range(6000))
    return base64.b64encode(data).decode()


# Look-alikes of keys in harmless files.
FILLERS: dict[str, Shape] = {
    "sha": lambda pick: pick(HEX, 40),  # a git commit id
    "short": lambda pick: pick(HEX, 7),
    "md5": lambda pick: pick(HEX, 32),
    "sha256": lambda pick: pick(HEX, 64),
    "SHA256": lambda pick: pick(HEX.upper(), 64),
    "uuid": lambda pick: pick(HEX, 32),  # uuid4().hex
    "uuid4": lambda pick: "-".join(pick(HEX, n) for n in (8, 4, 4, 4, 12)),
    "run_id": lambda pick: pick(string.ascii_lowercase + string.digits, 8),  # a W&B run
    "sri": lambda pick: pick(BASE64, 86) + "==",  # sha512 in base64, as npm writes it
    "png": _png,
    "b2_fake": KEY_SHAPES["b2"][1],  # on an allowlisted line
}

NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": 1,
            "metadata": {},
            "source": ["import wandb\n", "\n", 'wandb.login(key="<wandb>")\n'],
            "outputs": [{"name": "stdout", "output_type": "stream", "text": ["key id <b2_id>\n"]}],
        },
        {"cell_type": "markdown", "metadata": {}, "source": ["The B2 key:\n<b2>"]},
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}
# A .dvc file as `dvc import-url` writes it (DVC 3): the URL, credentials and all, is its dep.
IMPORTED = """\
md5: <md5>
frozen: true
deps:
- etag: <md5>
  size: 48213
  path: {url}
outs:
- md5: <md5>
  size: 48213
  hash: md5
  path: {name}
"""
ANSI_LOG = (
    "\x1b[2m[2026-12-01 10:00:01]\x1b[0m \x1b[34mINFO\x1b[0m     b2 key \x1b[32m<b2>\x1b[0m\n"
    "\x1b[2m[2026-12-01 10:00:02]\x1b[0m \x1b[33mWARNING\x1b[0m  wandb: api key "
    "\x1b[1m<wandb>\x1b[0m from the environment\n"
    "\x1b[2m[2026-12-01 10:00:02]\x1b[0m \x1b[34mINFO\x1b[0m     "
    "AWS_ACCESS_KEY_ID=\x1b[36m<aws>\x1b[39m\n"
)

# Where users paste keys: each <kind> is one placement, to be reported by file, line and kind.
PLACEMENTS = {
    "docs/setup.md": "# Setup\n\nOnce per machine:\n\n```bash\n"
    "export B2_APPLICATION_KEY_ID=<b2_id>\nexport B2_APPLICATION_KEY=<b2>\n```\n",
    "scratch/login.sh": "#!/bin/sh\nset -e\nwandb login <wandb>\n",
    "scratch/line2.sh": "cd ~/project\nexport B2_APPLICATION_KEY=<b2>\n",
    "scratch/relogin.sh": "git pull && wandb login --relogin <wandb_v1>\n",
    "scratch/curl.sh": "curl -u '<b2_id>:<b2>' https://api.backblazeb2.com/b2api/v3/\n",
    "scratch/keys.txt": "notes from the call\nthe lab's b2 key <b2>\nwandb key <wandb>\n",
    "scratch/alone.txt": "<wandb_v1>\n",
    "scratch/quoted.txt": "echo 'B2 key: <b2>' and \"<aws>\"\n",
    "scratch/netrc": "machine api.wandb.ai\n  login user\n  password <wandb>\n",
    "scratch/master.txt": "master key id applicationKeyId: <master_id>\n",
    "scratch/url.txt": "s3://<b2_id>:<b2>@s3.us-west-004.backblazeb2.com/lab\n",
    "scratch/train.py": "import os\n\nimport wandb\n\n"
    'wandb.login(key=os.environ.get("WANDB_API_KEY", "<wandb>"))\n'
    "B2_KEY = '<b2>'  # for now\n"
    'client = boto3.client("s3", aws_access_key_id="<aws>",\n'
    '                      aws_secret_access_key="<aws_secret>")\n',
    "scratch/doc.py": '"""Run with WANDB_API_KEY=<local> set."""\n',
    "scratch/env.py": 'os.environ["WANDB_API_KEY"] = "<wandb>"\n',
    "scratch/keys.mk": "B2_KEY := <b2>\n",
    "scratch/Dockerfile": "FROM python:3.12\nENV WANDB_API_KEY=<wandb>\n",
    "scratch/table.md": "| service | key |\n|---|---|\n| AWS | <aws> |\n",
    "data/external/accounts.csv": "name,key_id,key\nlab,<b2_id>,<b2>\n",
    "data/external/runs.tsv": "run\ttoken\n1\t<wandb_v1>\n",
    "conf/keys.yaml": 'b2:\n  key_id: <b2_id>\n  key: "<b2>"\n# wandb: <wandb>\n',
    "conf/list.yaml": "keys:\n  - <aws>\n",
    ".github/workflows/train.yaml": "jobs:\n  train:\n    steps:\n      - run: |\n"
    "          wandb login <wandb_v1>\n          export AWS_ACCESS_KEY_ID=<aws>\n",
    "conf/remote.toml": '[b2]\nregion = "us-west-004"\n# key = "<b2>"\nkey_id = \'<b2_id>\'\n',
    "conf/credentials": "[b2]\naws_access_key_id = <b2_id>\naws_secret_access_key = <b2>\n",
    "conf/keys.json": '{\n  "wandb": {"api_key": "<wandb_v1>"},\n  "keyId": "<master_id>"\n}\n',
    "notebooks/explore.ipynb": json.dumps(NOTEBOOK, indent=1) + "\n",
    ".env": "B2_APPLICATION_KEY_ID=<b2_id>\nB2_APPLICATION_KEY=<b2>\nWANDB_API_KEY=<wandb>\n",
    ".envrc": 'export AWS_ACCESS_KEY_ID=<aws>\nexport WANDB_API_KEY="<local>"\r\n',
    "README.md": "The lab's B2 key, until we set up make b2-login: <b2>\n",  # appended
    # Windows: PowerShell's `Get-ChildItem env: > env.txt` writes UTF-16 with a byte-order mark.
    "scratch/env-windows.txt": "\r\nName                           Value\r\n"
    "----                           -----\r\nB2_APPLICATION_KEY             <b2>\r\n"
    "B2_APPLICATION_KEY_ID          <b2_id>\r\nWANDB_API_KEY                  <wandb>\r\n",
    "scratch/keys-utf16.csv": "key_id,key\r\n<b2_id>,<b2>\r\n",  # UTF-16 without the mark
    # PowerShell 5's `echo ... > .env` writes UTF-16 too, which pre-commit takes for binary.
    "windows/.env": "WANDB_API_KEY=<wandb>\r\nAWS_ACCESS_KEY_ID=<aws>\r\n",
    # A coloured log, saved as the terminal got it, and one of its lines as JSON escapes it.
    "logs/train.log": ANSI_LOG,
    "logs/events.jsonl": '{"level": "info", "msg": "b2 \\u001b[31m<b2_id>\\u001b[0m"}\n',
    # Credentials in URLs, percent-encoded (`%3A` is `:`, `%2F` is `/`).
    "scratch/remote.txt": "https://<b2_id>%3A<b2>@s3.us-west-004.backblazeb2.com/lab-data\n",
    "notes/links.md": "- [sweep](https://wandb.ai/login?apiKey%3D<wandb>%26next%3D%2Flab)\n",
    "scratch/s3.txt": "s3://<aws>%3A<aws_secret_url>@lab-bucket/raw/\n",
    # A key in a patch's added line, after `grep --color`'s codes.
    "scratch/keys.patch": "--- a/.env\n+++ b/.env\n@@ -1 +1,2 @@\n X=1\n+<b2>\n",
    "logs/grep.log": "train.log:3:\x1b[01;31m\x1b[K<wandb_v1>\x1b[m\x1b[K\n",
    # `dvc import-url` with credentials in the URL writes them into the .dvc file.
    "data/raw/train.csv.dvc": IMPORTED.format(
        url="s3://<b2_id>:<b2>@lab-data/raw/train.csv", name="train.csv"
    ),
    "data/external/images.zip.dvc": IMPORTED.format(
        url="s3://<aws>:<aws_secret_url>@lab-bucket/images.zip", name="images.zip"
    ),
    "data/external/labels.csv.dvc": IMPORTED.format(
        url="https://api:<wandb_v1>@api.wandb.ai/files/lab/proj/labels.csv", name="labels.csv"
    ),
    # An AWS secret access key next to its key id: the console's CSV, `aws configure`,
    # ~/.aws/credentials, two bare lines.
    "scratch/credentials.csv": "User name,Password,Access key ID,Secret access key,"
    "Console login link\nlab,,<aws>,<aws_secret>,https://123456789012.signin.aws.amazon.com\n",
    "notes/aws.md": "```\n$ aws configure\nAWS Access Key ID [None]: <aws>\n"
    "AWS Secret Access Key [None]: <aws_secret>\nDefault region name [None]: eu-west-1\n```\n",
    "scratch/aws-credentials": "[default]\naws_access_key_id = <aws>\n"
    "aws_secret_access_key = <aws_secret>\n",
    "scratch/pair.txt": "the bucket's keys:\n<aws>\n<aws_secret>\n",
    ".envrc.local": "export AWS_ACCESS_KEY_ID=<aws>\nexport AWS_SECRET_ACCESS_KEY=<aws_secret>\n",
}
ENCODINGS = {
    "scratch/env-windows.txt": "utf-16",
    "scratch/keys-utf16.csv": "utf-16-le",
    "windows/.env": "utf-16",
}
# Commit messages, each made with `git commit -F`: keys pasted into the message.
MESSAGES = [
    "Train on the lab bucket\n\nRan it as\n\n"
    "    AWS_ACCESS_KEY_ID=<aws> AWS_SECRET_ACCESS_KEY=<aws_secret> make repro\n"
    "    wandb login <wandb_v1>\n\n"
    "with B2_APPLICATION_KEY=<b2> for the remote.\n",
]

# Harmless files of a research repository: commit ids, checksums, ids and encoded images.
GIT_LOG = """\
commit <sha> (HEAD -> main, origin/main)
Author: Ada Lovelace <ada@example.org>
Date:   Mon Dec 1 10:12:44 2026 +0100

    Log the learning rate to W&B

commit <sha>
Merge: <short> <short>
Author: Ada Lovelace <ada@example.org>
Date:   Sun Nov 30 18:03:12 2026 +0100

    Merge branch 'wandb-login' into main

commit <sha>
Author: Alan Turing <alan@example.org>
Date:   Sat Nov 29 09:30:00 2026 +0100

    Read the W&B API key from WANDB_API_KEY

    It was in conf/logger/wandb.yaml; `wandb login` keeps it in ~/.netrc now.
"""
HARMLESS_NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": 3,
            "id": "<short>",
            "metadata": {},
            "outputs": [
                {
                    "data": {
                        "image/png": "<png>\n",
                        "text/plain": ["<Figure size 640x480 with 1 Axes>"],
                    },
                    "metadata": {},
                    "output_type": "display_data",
                },
                {
                    "name": "stdout",
                    "output_type": "stream",
                    "text": ["wandb: View run at https://wandb.ai/lab/proj/runs/<run_id>\n"],
                },
            ],
            "source": ["runs = compare_runs()\n", "runs.plot(x='step', y='rmse')"],
        }
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}
PROVENANCE = {
    "git_commit": "<sha>",
    "git_branch": "main",
    "git_dirty": False,
    "argv": ["-m", "hook_check", "stage=train", "model=ridge"],
    "seed": 0,
    "uv_lock_sha256": "<sha256>",
    "tracker": {"tracker": "wandb", "wandb_id": "<run_id>", "wandb_dir": "runs/train/wandb"},
}
HARMLESS = {
    "CHANGELOG.md": "# Changelog\n\n## [0.3.0] - 2026-12-01\n\n### Added\n\n"
    "- Log metrics to W&B ([<short>](https://github.com/lab/proj/commit/<sha>))\n"
    "- `runs ls` sorts by date (<sha>)\n\n### Fixed\n\n- Seed handling in `prepare` (<sha>)\n\n"
    "[0.3.0]: https://github.com/lab/proj/compare/<sha>...<sha>\n",
    "notes/git-log.txt": GIT_LOG,
    "notes/oneline.txt": "<sha> (HEAD -> main) Log to wandb\n<sha> Add the W&B API key to "
    ".env.example\n<sha> Pin the login helper\n",
    "notes/bisect.md": "```\n$ git bisect start\n$ git bisect bad <sha>\n$ git bisect good <sha>\n"
    "<sha> is the first bad commit\n```\n",
    "notes/rev-parse.md": "The paper's numbers come from\n\n"
    "```\n$ git rev-parse HEAD\n<sha>\n```\n",
    "notes/submodules.txt": " <sha> external/lab-utils (v1.2.0-3-g<short>)\n"
    "+<sha> external/wandb-tools (heads/main)\n",
    "notes/reflog.txt": "<short> HEAD@{0}: commit: Log to W&B\n<short> HEAD@{1}: checkout\n",
    "conf/data/hub.yaml": "# A data set from the Hugging Face hub, pinned.\nname: lab/speech\n"
    "revision: <sha>\nsplit: train\n",
    "conf/data/pinned.yaml": "source:\n  repo: https://github.com/lab/datasets\n  commit: <sha>\n",
    "scratch/sources.toml": "[tool.uv.sources]\n"
    'lab-utils = { git = "https://github.com/lab/utils", rev = "<sha>" }\n\n'
    '[tool.lab]\ncommit = "<sha>"\n',
    "scratch/experiments.yaml": "- id: <sha>\n  name: baseline\n  rmse: 0.41\n"
    "- id: <sha>\n  name: wider\n  rmse: 0.39\n",
    "scratch/exp-show.json": json.dumps(
        [
            {"rev": "workspace", "name": None, "data": {"metrics": {"rmse": 0.41}}},
            {
                "rev": "<sha>",
                "name": "main",
                "experiments": [{"revs": [{"rev": "<sha>", "name": "sunny-wren"}]}],
            },
        ],
        indent=2,
    )
    + "\n",
    "data/raw/SHA1SUMS": "<sha>  train.csv\n<sha>  test.csv\n<sha>  labels.json\n",
    "data/raw/SHA256SUMS": "<sha256>  train.csv\n<sha256>  test.csv\n",
    "data/raw/MD5SUMS": "<md5>  train.csv\n<md5>  test.csv\n",
    "reports/results.json": json.dumps(
        {"run_id": "<uuid>", "trial": "<uuid>", "uuid": "<uuid4>", "rmse": 0.41}, indent=2
    )
    + "\n",
    "reports/runs.csv": "run_id,git_sha,wandb_run,rmse\n<uuid>,<sha>,<run_id>,0.41\n"
    "<uuid>,<sha>,<run_id>,0.39\n",
    "data/external/ids.csv": "id,frame,label\n0000000000000000000000001,000000000001,cat\n"
    "0000000000000000000000002,000000000002,dog\n0001234567890123456789012,004000000001,cat\n",
    "reports/counts.txt": "events 0000000000000000000042\n"
    "bytes 0000000000000000000000000000000000001024\n",
    "notebooks/plots.ipynb": json.dumps(HARMLESS_NOTEBOOK, indent=1) + "\n",
    "uv.lock": "",  # the project's own, as it is
    "dvc.lock": "schema: '2.0'\nstages:\n  prepare:\n    cmd: python -m hook_check stage=prepare\n"
    "    deps:\n    - path: data/raw/train.csv\n      hash: md5\n      md5: <md5>\n"
    "      size: 48213\n"
    "    outs:\n    - path: data/processed/train.parquet\n      hash: md5\n      md5: <md5>\n"
    "      size: 20112\n",
    "data/raw/test.csv.dvc": "outs:\n- md5: <md5>\n  size: 12001\n  hash: md5\n  path: test.csv\n",
    "data/external/registry.dvc": "md5: <md5>\nfrozen: true\ndeps:\n- path: data/registry\n"
    "  repo:\n    url: https://github.com/lab/data-registry\n    rev_lock: <sha>\nouts:\n"
    "- md5: <md5>.dir\n  size: 981\n  nfiles: 3\n  hash: md5\n  path: registry\n",
    "data/external/zenodo.csv.dvc": "md5: <md5>\nfrozen: true\ndeps:\n- etag: '\"<md5>\"'\n"
    "  size: 48213\n  path: https://zenodo.org/records/1234567/files/data%20v2.csv?download=1\n"
    "outs:\n- md5: <md5>\n  size: 48213\n  hash: md5\n  path: zenodo.csv\n",
    "requirements.txt": "numpy==2.1.0 \\\n    --hash=sha256:<sha256> \\\n"
    "    --hash=sha256:<sha256>\n"
    "lab-utils @ git+https://github.com/lab/utils@<sha>\n",
    "scratch/package-lock.json": '{\n  "packages": {\n    "node_modules/vega": {\n'
    '      "version": "5.30.0",\n      "integrity": "sha512-<sri>"\n    }\n  }\n}\n',
    "scratch/environment.lock.yml": "package:\n- name: numpy\n  version: 2.1.0\n  hash:\n"
    "    md5: <md5>\n    sha256: <sha256>\n",
    "scratch/pre-commit-pins.yaml": "repos:\n  - repo: https://example.com/hooks\n    rev: <sha>\n",
    ".github/workflows/pinned.yaml": "steps:\n  - uses: actions/checkout@<sha> # v4\n"
    "  - uses: actions/setup-python@<sha> # v5\n",
    "scratch/Dockerfile.pinned": "FROM python:3.12-slim@sha256:<sha256>\n",
    "scratch/CITATION.cff": "cff-version: 1.2.0\ntitle: Speech baselines\ncommit: <sha>\n"
    "doi: 10.5281/zenodo.1234567\nauthors:\n  - family-names: Lovelace\n"
    "    orcid: https://orcid.org/0000-0002-1825-0097\n",
    "scratch/provenance.json": json.dumps(PROVENANCE, indent=2) + "\n",
    "scratch/wandb-metadata.json": json.dumps(
        {
            "program": "-m hook_check",
            "git": {"remote": "https://github.com/lab/proj", "commit": "<sha>"},
        },
        indent=4,
    )
    + "\n",
    "scratch/run-summary.json": '{"_wandb": {"runtime": 12}, "rmse": 0.41, '
    '"git_commit": "<sha>"}\n',
    "scratch/0001-Log-to-wandb.patch": "From <sha> Mon Sep 17 00:00:00 2001\n"
    "From: Ada Lovelace <ada@example.org>\nSubject: [PATCH] Log to wandb\n\n---\n"
    "diff --git a/conf/logger/wandb.yaml b/conf/logger/wandb.yaml\n"
    "index <short>..<short> 100644\n",
    "scratch/mlruns-meta.yaml": "artifact_uri: file:///home/ada/proj/mlruns/0/<uuid>/artifacts\n"
    "run_id: <uuid>\nrun_uuid: <uuid>\nsource_version: <sha>\nuser_id: ada\n",
    "scratch/mlflow.source.git.commit": "<sha>\n",
    ".git-blame-ignore-revs": "# ruff format of the whole tree\n<sha>\n",
    "scratch/paper.tex": "\\newcommand{\\commit}{<sha>}\n\\newcommand{\\wandbrun}{<run_id>}\n",
    "scratch/checksums.py": '"""Checksums of the raw data, to check a download against."""\n\n'
    'SHA1 = {\n    "train.csv": "<sha>",\n    "test.csv": "<sha>",\n}\n',
    "logs/prepare.log": "\x1b[2m[2026-12-01 10:00:01]\x1b[0m \x1b[34mINFO\x1b[0m     git commit "
    "\x1b[33m<sha>\x1b[0m\n\x1b[2m[2026-12-01 10:00:02]\x1b[0m \x1b[34mINFO\x1b[0m     "
    "wandb: Syncing run \x1b[33mfresh-sun-12\x1b[0m (<run_id>)\n",
    "scratch/hashes-windows.txt": "SHA1 hash of train.csv:\r\n<sha>\r\n"
    "CertUtil: -hashfile command completed successfully.\r\n\r\nAlgorithm       Hash\r\n"
    "---------       ----\r\nSHA256          <SHA256>\r\n",
    "notes/urls.md": "- [blame](https://github.com/lab/proj/blame/<sha>/src%2Ftrain.py)\n"
    "- [search](https://github.com/search?q=<sha>%3Atrain&type=commits)\n",
    "scratch/allowed.py": 'KEY = "<b2_fake>"  # pragma: allowlist secret\n\n'
    '# pragma: allowlist nextline secret\nOTHER = "<b2_fake>"\n',
    "scratch/aws-docs.md": "Example from the AWS docs: AKIAIOSFODNN7EXAMPLE\n",
}
HARMLESS_ENCODINGS = {"scratch/hashes-windows.txt": "utf-16"}
# `git revert` writes the commit id into its message.
HARMLESS_MESSAGES = ['Revert "Log to W&B"\n\nThis reverts commit <sha>.\n']
PLACEHOLDER = re.compile(r"<(\w+)>")


def fill(template: str, shapes: dict[str, Shape], rng: random.Random) -> str:
    """`template` with each <name> of `shapes` drawn afresh."""

    def pick(alphabet: str, n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    return PLACEHOLDER.sub(
        lambda found: shapes[found[1]](pick) if found[1] in shapes else found[0], template
    )
