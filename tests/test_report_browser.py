"""The HTML report rendered by a real browser: headless Chromium (Debian's `chromium` package).

Every figure must load: a small inline script, allowed by the page's
Content-Security-Policy through its hash, marks each <img> whose
``naturalWidth`` is 0 once the page has loaded; Chromium's ``--dump-dom``
prints the result. Without /usr/bin/chromium the test skips (installing
nothing) unless the CI variable is set, where a missing browser is a failure
(setup.sh installs it when it runs as root with apt-get).
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from test_report import report, store  # noqa: F401  (session fixtures: the same fake store and report)

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]

CHECK_SCRIPT = """window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images), broken = [];
  imgs.forEach(function (img) {
    if (!img.complete || img.naturalWidth === 0) broken.push(img.alt || img.src.slice(0, 40));
  });
  var out = document.createElement('pre'); out.id = 'emobench-check';
  out.textContent = JSON.stringify({images: imgs.length, broken: broken,
    widths: imgs.map(function (i) { return i.naturalWidth; })});
  document.body.appendChild(out);
});"""


@pytest.fixture(scope="module")
def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing on CI; setup.sh installs Debian's chromium when run as root")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); this test installs nothing")


def _with_check_script(html: str, extra_body: str = "") -> str:
    """The report with the checking script added and allowed by its CSP hash (nothing else relaxed)."""
    digest = base64.b64encode(hashlib.sha256(CHECK_SCRIPT.encode()).digest()).decode()
    csp_before = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    assert csp_before in html
    html = html.replace(csp_before, f"{csp_before}; script-src 'sha256-{digest}'")
    return html.replace("</body>", f"{extra_body}<script>{CHECK_SCRIPT}</script></body>")


def _run(chromium: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run([str(chromium), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})


def _check(chromium: Path, tmp_path: Path, html: str) -> dict:
    import json

    page = tmp_path / "page.html"
    page.write_text(html, encoding="utf-8")
    proc = _run(chromium, tmp_path, "--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    found = re.search(r'<pre id="emobench-check">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"the check script did not run:\n{proc.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_every_figure_of_the_report_loads_in_chromium(chromium, report, tmp_path):  # noqa: F811
    html = report.html.read_text(encoding="utf-8")
    result = _check(chromium, tmp_path, _with_check_script(html))
    assert result["images"] == len(report.content.figures()) >= 10
    assert result["broken"] == []
    assert min(result["widths"]) > 100


def test_the_check_catches_a_figure_that_does_not_load(chromium, report, tmp_path):  # noqa: F811
    html = report.html.read_text(encoding="utf-8")
    broken = '<img src="data:image/png;base64,AAAA" alt="corrupt figure">'
    result = _check(chromium, tmp_path, _with_check_script(html, broken))
    assert result["broken"] == ["corrupt figure"]


def test_the_rendered_page_is_not_blank(chromium, report, tmp_path):  # noqa: F811
    from PIL import Image

    shot = tmp_path / "shot.png"
    proc = _run(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1200,2400", report.html.as_uri())
    assert shot.is_file(), proc.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    # Figures and tables put many distinct colours on the page; a blank or failed page has a handful.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200
    keep = os.environ.get("EMOBENCH_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
