from __future__ import annotations

import base64
import copy
import re

import pytest

from ipex_integration.bench.model import Status
from ipex_integration.bench.report.charts import build_charts, slug
from ipex_integration.bench.report.html import render_html, write_pngs

from .reports import bad, h100_run, make_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def page():
    report = make_report()
    report.command = ["ipex-benchmark", "run", "--tag", "<script>alert(1)</script>"]
    return render_html(report)


def test_page_is_self_contained(page):
    assert page.startswith("<!DOCTYPE html>")
    # no external assets of any kind: scripts, stylesheets, images, fonts, CSS urls
    assert not re.search(r"""src\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "<link" not in page.lower() and "<script" not in page.lower() and "@import" not in page
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page, re.I)
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) >= 4  # a chart per workload (tensor, conv, sd) + rooflines
    for data in images:
        assert base64.b64decode(data).startswith(PNG_MAGIC)


def test_page_content(page):
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the command, escaped
    assert "cuda: NVIDIA H100 80GB HBM3" in page and "cpu: AMD EPYC 7B13" in page
    assert "NVIDIA H100 Tensor Core GPU datasheet" in page  # where the peaks come from
    assert "no peak known" in page
    assert "76.1%" in page and "753.1 TFLOP/s" in page
    assert "rel err 0.31" in page and "out of memory at 16384" in page
    assert 'class="noisy"' in page
    assert "roofline: cuda: NVIDIA H100 80GB HBM3" in page
    assert "Incomplete run" not in page
    for section in ("Command", "Configuration", "System", "Devices", "Results", "Rooflines"):
        assert f"<h2>{section}</h2>" in page
    assert 'id="workload-tensor"' in page and 'id="workload-sd"' in page


def test_summary_comes_first_and_the_facts_last_folded(page):
    """Issue 14: the numbers people came for open the page; command/configuration/system/devices are folded."""
    summary = page.index("<h2 id=summary>Summary</h2>")
    charts = page.index("<h2 id=charts>Charts</h2>")
    results = page.index("<h2>Results</h2>")
    assert summary < charts < results < page.index('<details id="command">')
    for anchor in ("command", "configuration", "system", "devices"):
        assert page.index(f'<details id="{anchor}">') > results
    head = page[summary:charts]
    # one line per device, with the headline numbers and % of the datasheet peak
    assert head.count("<tr><th>cuda: NVIDIA H100 80GB HBM3") == 1 and head.count("<tr><th>cpu: AMD EPYC 7B13") == 1
    assert "matmul bf16" in head and "753.1" in head and "76% of peak" in head
    assert "d2d copy" in head and "SD1.5 pipeline" in head and "1 op(s) failed" in head
    # reference points with their sources next to them
    assert "elsewhere:" in head and "NVIDIA GeForce RTX 4090" in head
    assert "https://github.com/AUTOMATIC1111/stable-diffusion-webui/issues/2449" in head


def test_incomplete_run_is_flagged():
    report = make_report(h100_run(), complete=False)
    report.runs[0].measurements = [bad("tensor", "matmul", "bf16", "64x64x64", Status.FAILED, "boom")]
    page = render_html(report)
    assert "Incomplete run" in page
    assert "data:image/png" not in page  # nothing measured: no charts, and no crash either


def test_pngs_written_as_files(tmp_path):
    paths = write_pngs(make_report(), tmp_path / "charts")
    names = {p.name for p in paths}
    assert {"bars-tensor.png", "bars-conv.png", "bars-sd.png"} <= names  # one chart per workload
    assert f"roofline-{slug('cuda: NVIDIA H100 80GB HBM3')}.png" in names
    assert "roofline-cpu-amd-epyc-7b13.png" in names
    for p in paths:
        assert p.read_bytes().startswith(PNG_MAGIC)


def test_same_model_twice_gets_distinct_chart_names():
    run = h100_run()
    run.measurements = run.measurements[:1]
    charts = build_charts(make_report(run, copy.deepcopy(run)))
    names = [c.name for c in charts]
    assert len(names) == len(set(names))
    assert "roofline-cuda-nvidia-h100-80gb-hbm3-2" in names
