"""The report in a real browser: headless Chromium loads it with no console message (the page's
Content-Security-Policy turns any attempted fetch into one), the DOM holds every chart, and a
screenshot shows the charts' colours. The screenshot is kept as a test artefact in
``$PIPEWARD_ARTEFACTS`` (default ``build/test-artefacts/`` under the working directory).

Needs Debian's ``chromium`` (``apt-get install -y chromium``); skipped without it.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from report_sample import sample_results

from pipeward.report import write_report

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs a headless Chromium: apt-get install -y chromium")

ARTEFACTS = Path(os.environ.get("PIPEWARD_ARTEFACTS", "build/test-artefacts"))
# The report's CSS colours: bars, alert (drift / threshold), injected poison, 4th group.
BAR, ALERT, MARK = (0x5B, 0x8D, 0xEF), (0xD9, 0x53, 0x4F), (0xF0, 0xA2, 0x02)
VIOLET = (0x8E, 0x5B, 0xD9)
DATA_COLOURS = (BAR, ALERT, MARK, VIOLET)
# Measured (Chromium, 1000 px wide): the sparsest chart, the epsilon curve (a 2 px line), has
# about 740 data-coloured pixels, bar charts and histograms 4,000-36,000; with its marks gone a
# drift chart keeps its dashed threshold line (about 300) and the epsilon chart its end point
# (about 70).
MIN_DATA_PIXELS = 500

# Test-only instrumentation: the report forbids scripts, so a copy of it gets a CSP that allows
# this one inline script, which writes where each chart landed on the page into the DOM.
_BOXES_SCRIPT = """<script>
const boxes = [...document.querySelectorAll('svg.chart')].map(s => {
  const r = s.getBoundingClientRect();
  return [s.getAttribute('aria-label'), r.left + scrollX, r.top + scrollY, r.width, r.height]; });
const pre = document.createElement('pre');
pre.id = 'chart-boxes';
pre.textContent = JSON.stringify({boxes: boxes, height: document.documentElement.scrollHeight});
document.body.appendChild(pre);
</script>"""


def _chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND",
           "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}", *extra, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _console(stderr: str) -> list[str]:
    """Chromium logs every page console message (errors, CSP violations) as ...:CONSOLE..."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _png_rgb(path: Path) -> np.ndarray:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes) to (H, W, 3)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int64)
    for r in range(height):
        start = r * (stride + 1)
        kind = raw[start]
        line = np.frombuffer(raw, np.uint8, stride, start + 1).astype(np.int64)
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: a running sum along each channel
            cur = np.cumsum(line.reshape(width, channels), axis=0).reshape(-1) & 0xFF
        elif kind == 2:  # Up
            cur = (line + prev) & 0xFF
        else:  # Average, Paeth: each byte needs its decoded left neighbour
            cur = _sequential_row(line.tolist(), prev.tolist(), channels, kind)
        out[r] = cur
        prev = np.asarray(cur, dtype=np.int64)
    return out.reshape(height, width, channels)[:, :, :3].astype(np.int64)


def _sequential_row(line: list[int], prev: list[int], channels: int, kind: int) -> np.ndarray:
    cur = [0] * len(line)
    for i, x in enumerate(line):
        a = cur[i - channels] if i >= channels else 0
        b = prev[i]
        if kind == 3:
            pred = (a + b) >> 1
        else:
            c = prev[i - channels] if i >= channels else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        cur[i] = (x + pred) & 0xFF
    return np.array(cur, dtype=np.int64)


def _pixels(img: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int(np.all(np.abs(img - np.array(colour)) <= 6, axis=2).sum())


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> Path:
    """The report of a real (fast) demo run."""
    from pipeward.demo import Settings, run_demo  # noqa: PLC0415

    result = run_demo(tmp_path_factory.mktemp("demo"), settings=Settings.fast(), echo=None)
    return Path(result.paths["report"])


@pytest.fixture(scope="module")
def sample_page(tmp_path_factory) -> Path:
    return write_report(sample_results(), tmp_path_factory.mktemp("report") / "report.html")


def test_loads_with_no_console_message_and_every_chart_in_the_dom(report_page, tmp_path):
    run = _chromium(report_page, tmp_path / "profile", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    assert _console(run.stderr) == []
    dom = run.stdout
    # screen, epsilon, two drift checks, input guard, fairness by group, global importance
    assert dom.count("<svg") == 10  # the demo report's charts, three of them from the red-team stage
    assert 'id="accountability"' in dom and 'class="whisker"' in dom
    assert "Content-Security-Policy" in dom and "</html>" in dom


def test_a_fetch_would_be_caught(sample_page, tmp_path):
    """The console check can fail: the same page with one external image logs the block."""
    bad = tmp_path / "bad.html"
    bad.write_text(sample_page.read_text().replace("<footer>", '<img src="https://example.com/x.png"><footer>'))
    run = _chromium(bad, tmp_path / "profile", "--dump-dom")
    blocked = _console(run.stderr)
    assert blocked and any("example.com" in line for line in blocked)


def test_screenshot_shows_the_charts(report_page, tmp_path):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / "report.png"
    shot.unlink(missing_ok=True)
    run = _chromium(report_page, tmp_path / "profile", "--hide-scrollbars", "--window-size=1000,5600",
                    f"--screenshot={shot.resolve()}")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    assert _console(run.stderr) == []
    img = _png_rgb(shot)
    assert img.shape == (5600, 1000, 3)
    # Bars, drifted bars / thresholds and the injected poison all reached the screen.
    assert _pixels(img, BAR) > 5000
    assert _pixels(img, ALERT) > 500
    assert _pixels(img, MARK) > 100
    # And the page is not blank below the fold: the drift charts sit far down.
    lower = img[2000:]
    assert _pixels(lower, BAR) > 1000


def _chart_pixels(page: Path, tmp_path: Path, name: str) -> dict[str, int]:
    """Data-coloured pixels inside each chart's box on a screenshot of ``page``."""
    import json  # noqa: PLC0415

    html = page.read_text(encoding="utf-8")
    html = re.sub(r'<meta http-equiv="Content-Security-Policy" content="[^"]*">',
                  "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                  "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">", html)
    instrumented = tmp_path / f"{name}.html"
    instrumented.write_text(html.replace("</body>", _BOXES_SCRIPT + "</body>"), encoding="utf-8")
    run = _chromium(instrumented, tmp_path / "profile", "--window-size=1000,1000", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r'<pre id="chart-boxes">(.*?)</pre>', run.stdout, flags=re.S)
    assert found, "the instrumentation did not run"
    layout = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")
                        .replace("&lt;", "<").replace("&gt;", ">"))
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    run = _chromium(instrumented, tmp_path / "profile", "--hide-scrollbars",
                    f"--window-size=1000,{int(layout['height'])}", f"--screenshot={shot.resolve()}")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    img = _png_rgb(shot)
    out = {}
    for label, x, y, w, h in layout["boxes"]:
        assert w > 100 and h > 50, (label, w, h)  # laid out, not collapsed
        box = img[int(y):int(y + h), int(x):int(x + w)]
        out[label] = sum(_pixels(box, c) for c in DATA_COLOURS)
    return out


def test_no_chart_renders_empty(report_page, tmp_path):
    """Each chart's own box on the screenshot holds its data marks (bars, lines, points)."""
    pixels = _chart_pixels(report_page, tmp_path, "report-charts")
    assert len(pixels) == 10
    empty = {k: v for k, v in pixels.items() if v < MIN_DATA_PIXELS}
    assert not empty, f"charts that rendered no data: {empty} (all: {pixels})"


def test_an_empty_chart_is_caught(sample_page, tmp_path):
    """The check can fail: the same page with one chart's bars stripped is named."""
    html = sample_page.read_text(encoding="utf-8")
    start = html.index('aria-label="PSI per feature: shifted split')
    end = html.index("</svg>", start)
    stripped = re.sub(r'<rect class="bar[^"]*"[^>]*>.*?</rect>', "", html[start:end], flags=re.S)
    broken = tmp_path / "broken.html"
    broken.write_text(html[:start] + stripped + html[end:], encoding="utf-8")
    pixels = _chart_pixels(broken, tmp_path, "report-broken")
    assert pixels["PSI per feature: shifted split (red: drifted)"] < MIN_DATA_PIXELS
    assert sum(v >= MIN_DATA_PIXELS for v in pixels.values()) == len(pixels) - 1
    # and a line chart whose line is gone
    broken.write_text(re.sub(r"<polyline[^>]*>.*?</polyline>", "", html, flags=re.S), encoding="utf-8")
    pixels = _chart_pixels(broken, tmp_path, "report-broken")
    assert [k for k, v in pixels.items() if v < MIN_DATA_PIXELS] == \
        ["Privacy spent: epsilon against training steps"]


def test_png_decoder_reads_what_it_is_given(tmp_path):
    """The decoder behind the screenshot check, on a PNG built here with every filter type."""
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (5, 4, 3)).astype(np.uint8)
    raw = b""
    prev = np.zeros(12, np.int32)
    for r, kind in enumerate([0, 1, 2, 3, 4]):
        line = img[r].reshape(-1).astype(np.int32)
        enc = np.zeros(12, np.int32)
        for i in range(12):
            a = line[i - 3] if i >= 3 else 0
            b, c = prev[i], prev[i - 3] if i >= 3 else 0
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else (b if abs(p - b) <= abs(p - c) else c)
            pred = [0, a, b, (a + b) // 2, paeth][kind]
            enc[i] = (line[i] - pred) & 0xFF
        raw += bytes([kind]) + enc.astype(np.uint8).tobytes()
        prev = line

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 5, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    path = tmp_path / "t.png"
    path.write_bytes(png)
    np.testing.assert_array_equal(_png_rgb(path), img)


def test_console_lines_are_recognised():
    sample = ('[1:1:1126/015424.35:INFO:CONSOLE:319] "Loading the image violates CSP", source: x (319)\n'
              "[1:1:1126/015424.35:WARNING:dbus/bus.cc:405] Failed to connect to the bus")
    assert len(_console(sample)) == 1
    assert re.search("CSP", _console(sample)[0])
