"""End-to-end tier: `make plots` writes a page that draws its charts with no network.

DVC's own page loads vega, vega-lite and vega-embed from a CDN; the project's page has
them inlined (.dvc/plots/offline.html, made by scripts/update_vega.py). Both pages are
drawn in headless Chromium (Debian's `chromium` package) with every host unresolvable
and every request sent to a closed proxy port: the project's page must draw each plot
that has data, and DVC's own must stay blank, which proves the network was cut.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import Bakery, install, make, require_ok, run, uv_run

pytestmark = pytest.mark.e2e
OFFLINE = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # No host resolves, and a request that needs no name goes to a port nothing listens on.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    # Time enough for the scripts to draw before the DOM or the screenshot is taken.
    "--virtual-time-budget=10000",
]
# A plot as dvc-render writes it: its div, then its vega-lite spec (`{}` when DVC found no data).
PLOT = re.compile(r'<div id = "([^"]+)">\s*<script type = "text/javascript">\s*var spec = (\{\}?)')


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium; the tests skip without it (fail on CI, which installs it)."""
    found = shutil.which("chromium")
    if not found:
        message = "needs Debian's Chromium: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI must draw the plots)")
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def project(chromium: str, bakery: Bakery, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installed default project whose stages have run once, without DVC (`make run-all`):
    they write the plot data where dvc.yaml says, which is all `dvc plots show` reads."""
    project = install(bakery, tmp_path_factory.mktemp("plots"))
    require_ok(make(project, "run-all"))
    return project


@pytest.fixture(scope="module")
def page(project: Path) -> Path:
    """The page `make plots` writes, at the path it prints."""
    printed = require_ok(make(project, "plots")).stdout
    found = re.search(r"file://(\S+/dvc_plots/index\.html)", printed)
    assert found, f"make plots printed no page: {printed}"
    return Path(found.group(1))


@pytest.fixture(scope="module")
def cdn_page(project: Path) -> Path:
    """The same plots on DVC's own page (`dvc plots show` with no template)."""
    require_ok(uv_run(project, "dvc", "plots", "show", "-o", "dvc_plots_cdn"))
    return project / "dvc_plots_cdn/index.html"


def draw(chromium: str, page: Path, folder: Path, *args: str) -> str:
    """Open a page in headless Chromium with no network; return what it printed."""
    command = [chromium, *OFFLINE, f"--user-data-dir={folder / 'profile'}", *args, page.as_uri()]
    return require_ok(run(command, cwd=folder, timeout=120)).stdout


class Charts(HTMLParser):
    """The charts vega drew in a DOM: per plot div, the sizes of its canvas or svg marks."""

    def __init__(self) -> None:
        super().__init__()
        self.drawn: dict[str, list[tuple[int, int]]] = {}
        self._plot = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "div" and "vega-embed" in classes:
            self._plot = attributes.get("id") or ""
            self.drawn.setdefault(self._plot, [])
        elif tag in ("canvas", "svg") and "marks" in classes and self._plot:
            size = (int(attributes.get("width") or 0), int(attributes.get("height") or 0))
            self.drawn[self._plot].append(size)


def charts(chromium: str, page: Path, folder: Path) -> dict[str, list[tuple[int, int]]]:
    """The charts drawn on a page, by plot id."""
    parser = Charts()
    parser.feed(draw(chromium, page, folder, "--dump-dom"))
    return parser.drawn


def plots_with_data(page: Path) -> set[str]:
    """The plots on a page that DVC found data for."""
    return {plot for plot, spec in PLOT.findall(page.read_text(encoding="utf-8")) if spec != "{}"}


def unfilter(kind: int, row: bytearray, previous: bytearray, step: int) -> None:
    """Undo PNG's filter of one row, in place (filter types 0 to 4)."""
    for i in range(len(row) if kind else 0):
        left = row[i - step] if i >= step else 0
        up, corner = previous[i], (previous[i - step] if i >= step else 0)
        if kind == 1:
            row[i] = (row[i] + left) & 255
        elif kind == 2:
            row[i] = (row[i] + up) & 255
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 255
        else:  # Paeth: the neighbour nearest to left + up - corner
            guess = left + up - corner
            far_left, far_up, far_corner = abs(guess - left), abs(guess - up), abs(guess - corner)
            near = (
                left
                if far_left <= min(far_up, far_corner)
                else up
                if far_up <= far_corner
                else corner
            )
            row[i] = (row[i] + near) & 255


def marked_pixels(png: bytes) -> int:
    """How many pixels of a PNG (8-bit, not interlaced) differ from its top-left one."""
    chunks: dict[bytes, bytes] = {}
    pos = 8
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        chunks[kind] = chunks.get(kind, b"") + png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, interlace) == (8, 0), "a screenshot in 8-bit, non-interlaced PNG"
    step = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    raw, stride = zlib.decompress(chunks[b"IDAT"]), width * step
    previous, background, marked = bytearray(stride), b"", 0
    for y in range(height):
        start = y * (stride + 1)
        row = bytearray(raw[start + 1 : start + 1 + stride])
        unfilter(raw[start], row, previous, step)
        background = background or bytes(row[:step])
        marked += sum(row[i : i + step] != background for i in range(0, stride, step))
        previous = row
    return marked


def test_make_plots_writes_a_page_that_loads_nothing_from_the_network(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert "<script" in html
    assert not re.search(r"<script[^>]*\ssrc\s*=", html), "a script is loaded from elsewhere"
    assert plots_with_data(page), "DVC found no plot data to draw"


def test_every_plot_with_data_is_drawn_without_a_network(
    chromium: str, page: Path, tmp_path: Path
) -> None:
    drawn = charts(chromium, page, tmp_path)
    for plot in plots_with_data(page):
        assert any(w > 0 and h > 0 for w, h in drawn.get(plot, [])), f"{plot} was not drawn"


def test_the_page_shows_the_charts_in_a_screenshot(
    chromium: str, page: Path, tmp_path: Path
) -> None:
    shot = tmp_path / "plots.png"
    draw(chromium, page, tmp_path, f"--screenshot={shot}", "--window-size=1200,2000")
    # Axes, labels and marks: thousands of pixels (a blank page has none).
    assert marked_pixels(shot.read_bytes()) > 1000


def test_the_cdn_page_of_a_plain_dvc_plots_show_stays_blank_offline(
    chromium: str, cdn_page: Path, tmp_path: Path
) -> None:
    assert plots_with_data(cdn_page), "DVC found no plot data to draw"
    assert not any(charts(chromium, cdn_page, tmp_path).values())
    shot = tmp_path / "cdn.png"
    draw(chromium, cdn_page, tmp_path, f"--screenshot={shot}", "--window-size=1200,2000")
    assert marked_pixels(shot.read_bytes()) == 0
