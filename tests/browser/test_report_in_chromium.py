"""The HTML report in a real browser (headless Chromium): no console errors, nothing wider than the
window, every chart decodes; a screenshot is kept for a human to look at. Skips where no Chromium is
installed (Debian: apt-get install -y chromium), so scripts/test.sh does not need one."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from ipex_integration.bench.report.html import render_html

from ..bench.report.reports import cpu_run, h100_run, make_report

ROOT = Path(__file__).resolve().parents[2]


def _renderer():
    spec = importlib.util.spec_from_file_location("render_report", ROOT / "benchmarks" / "render_report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


render_report = _renderer()
BROWSER = render_report.find_browser()
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium on PATH (Debian: apt-get install -y chromium)")


@pytest.fixture
def shots(tmp_path) -> Path:
    # IPEX_SCREENSHOT_DIR keeps the PNGs (CI artifact); by default they live in the test's temp dir
    return Path(os.environ.get("IPEX_SCREENSHOT_DIR") or tmp_path)


@pytest.mark.parametrize("width", [1280, 800])
def test_report_renders_clean(tmp_path, shots, width):
    page = tmp_path / "results.html"
    report = make_report(h100_run(), cpu_run())
    report.config["plans"] = [{"device": "cuda:0", "env": {"CUDA_VISIBLE_DEVICES": "0" * 300}}]  # a long blob
    page.write_text(render_html(report), encoding="utf-8")
    result = render_report.render(page, shots / f"report-{width}.png", width=width)
    assert result.problems == [], result.problems
    assert result.inner_width == width and result.scroll_width <= width
    assert result.images >= 4 and result.broken_images == 0
    assert result.png is not None and result.png.read_bytes().startswith(b"\x89PNG")


def test_the_probe_catches_errors_and_overflow(tmp_path):
    """The check itself can fail: a script error and a 3000 px wide block are both reported."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset=utf-8></head><body>"
        "<div style='width:3000px'>wide</div><script>undefinedFunction()</script></body></html>",
        encoding="utf-8",
    )
    result = render_report.render(page, None, width=1000)
    assert result.overflows
    assert any("undefinedFunction" in e for e in result.errors), result.errors
