"""Refresh the page template that generated projects draw their DVC plots with: `make plots`.

`dvc plots show` writes a page that loads vega, vega-lite and vega-embed from a CDN, so
it stays blank without a network (a cluster node, a train). The generated project ships
PAGE, an HTML template for `dvc plots show --html-template` with the three minified builds
inlined, each after its license and its name@version. This script downloads the pinned
versions from the npm registry, checks each tarball against the registry's sha512, and
writes PAGE. tests/test_plots.py draws the page in headless Chromium with the network cut.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import re
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "{{cookiecutter.__project_dir}}" / ".dvc" / "plots" / "offline.html"
REGISTRY = "https://registry.npmjs.org"
# The majors of DVC's own page (dvc-render 1.0: vega 5, vega-lite 5, vega-embed 6), whose
# specs these builds must draw. vega 5.33.0, not 5.33.1: 5.33.1's tarball has no LICENSE.
PACKAGES = {
    "vega": ("5.33.0", "build/vega.min.js"),
    "vega-lite": ("5.23.0", "build/vega-lite.min.js"),
    "vega-embed": ("6.29.0", "build/vega-embed.min.js"),
}
# What DVC replaces in the template (dvc_render/html.py), by plain text replacement, so the
# scripts must not contain them. There is no scripts placeholder: DVC would put its CDN
# script tags there.
PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")
# pre-commit's check-added-large-files in the generated project (--maxkb=1000) refuses more.
MAX_BYTES = 1000 * 1024
SOURCE_MAP = re.compile(r"\n?//# sourceMappingURL=\S+\s*$")

HEAD = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
{refresh_tag}
<title>DVC Plot</title>
<!--
The page of `make plots` (dvc plots show --html-template .dvc/plots/offline.html): DVC's own
page with vega, vega-lite and vega-embed inlined, so that it draws without a network.
Each script is its npm tarball's build (less its source-map comment), after its license.
-->
"""
TAIL = """<style>
table {
  border-spacing: 15px;
}
</style>
</head>
<body>
{plot_divs}
</body>
</html>
"""


def fetch(url: str) -> bytes:
    """The body of one HTTPS request to the registry."""
    with urllib.request.urlopen(url, timeout=60) as response:
        return bytes(response.read())


def download(name: str, version: str) -> tuple[tarfile.TarFile, str]:
    """A package's tarball, checked against the registry's sha512; and where it came from."""
    dist = json.loads(fetch(f"{REGISTRY}/{name}/{version}"))["dist"]
    url, integrity = dist["tarball"], dist["integrity"]
    if not integrity.startswith("sha512-"):
        raise SystemExit(f"error: {name}@{version}: the registry gives no sha512 ({integrity})")
    data = fetch(url)
    got = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != integrity:
        raise SystemExit(f"error: {url} is {got}; the registry says {integrity}")
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:gz"), f"{url} {integrity}"


def member(tar: tarfile.TarFile, path: str, what: str) -> str:
    """One file of a tarball (under its `package/` folder) as text."""
    try:
        handle = tar.extractfile(f"package/{path}")
    except KeyError:
        handle = None
    if handle is None:
        raise SystemExit(f"error: {what} has no {path}")
    return handle.read().decode("utf-8")


def block(name: str, version: str, build: str) -> str:
    """One package's license comment and inlined script."""
    tar, source = download(name, version)
    what = f"{name}@{version}"
    license_text = member(tar, "LICENSE", what).strip()
    script = SOURCE_MAP.sub("", member(tar, build, what)).strip()
    if "--" in license_text:
        raise SystemExit(f"error: {what}'s LICENSE holds '--', which would end its HTML comment")
    for forbidden in (*PLACEHOLDERS, "</script"):
        if forbidden in script.lower():
            raise SystemExit(f"error: {what}'s {build} holds '{forbidden}'; it cannot be inlined")
    header = f"{what}: package/{build} of\n{source}\nand its package/LICENSE:"
    return f"<!--\n{header}\n\n{license_text}\n-->\n<script>\n{script}\n</script>\n"


def main() -> int:
    """Write PAGE from the pinned packages."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    page = HEAD + "".join(block(name, *pin) for name, pin in PACKAGES.items()) + TAIL
    size = len(page.encode("utf-8"))
    if size > MAX_BYTES:
        raise SystemExit(
            f"error: the page is {size // 1024} KiB; the project's large-file hook allows 1000"
        )
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(page, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)} ({size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
