"""Headless chromium for the tests that look at a page as a user would (dvc plots, MLflow UI).

CI installs Debian's chromium (.ci/run); elsewhere those tests skip without it, never in CI.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import pytest

needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("CI"),
    reason="needs chromium for the headless browser (Debian: apt-get install -y chromium)")

# No GPU, no background services, a fresh profile; every address but loopback (which chromium
# never proxies) goes to a closed port, so the page gets nothing from outside.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--proxy-server=127.0.0.1:9"]


def chromium(url: str, *args: str, budget_ms: int = 15000, timeout: float = 120) -> subprocess.CompletedProcess:
    """One headless chromium on `url` with `args` (--screenshot=..., --dump-dom, ...)."""
    exe = shutil.which("chromium")
    assert exe, "chromium is not installed (Debian: apt-get install -y chromium)"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
                               *args, url], capture_output=True, text=True, timeout=timeout)


def vega_views(dom: str) -> list[str]:
    """The DOM of each vega-embed view of a dumped page, in page order."""
    return dom.split('class="vega-embed')[1:]


def line_colours(view: str) -> dict[str, str]:
    """{run: stroke colour} of the line marks vega drew as SVG (its aria-labels name each datum's fields)."""
    marks = re.findall(r'<path aria-label="[^"]*?\brun: ([^;"]+)[^"]*" role="graphics-symbol" '
                       r'aria-roledescription="line mark"[^>]*?\bstroke="([^"]+)"', view)
    return dict(marks)


def axis_scales(view: str) -> dict[str, str]:
    """{"<X|Y> <title>": scale type} from vega's axis aria-labels ("Y-axis titled 'fid' for a log scale ...")."""
    return {f"{a} {t}": s for a, t, s in re.findall(r"aria-label=\"([XY])-axis titled '([^']*)' for an? (\w+) scale", view)}


def points(view: str) -> list[tuple[dict[str, str], float, float]]:
    """(datum fields, x px, y px) of every point mark vega drew as SVG."""
    out = []
    for label, x, y in re.findall(r'<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="point" '
                                  r'transform="translate\(([-\d.e]+),([-\d.e]+)\)"', view):
        out.append((dict(kv.split(": ", 1) for kv in label.split("; ")), float(x), float(y)))
    return out
