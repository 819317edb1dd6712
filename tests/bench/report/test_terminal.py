from __future__ import annotations

import io

from rich.console import Console

from ipex_integration.bench.model import Status
from ipex_integration.bench.report.terminal import NOISY_MARK, BenchProgress, render_table

from .reports import bad, h100_run, make_report, matmul


def _text(renderable) -> str:
    console = Console(record=True, width=220, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_table_per_device():
    text = _text(render_table(make_report()))
    assert "cuda: NVIDIA H100 80GB HBM3" in text and "cpu: AMD EPYC 7B13" in text
    assert "peaks: NVIDIA H100 SXM5 80GB" in text and "peaks: no peak known" in text
    line = next(l for l in text.splitlines() if " matmul " in l and "bf16" in l)
    assert "1.46 ms" in line and "753.1 TFLOP/s" in line and "76.1%" in line and "100.0%" in line
    copy = next(l for l in text.splitlines() if "copy_d2d" in l and "1GiB" in l)
    assert "3,000 GB/s" in copy and "89.6%" in copy
    softmax = next(l for l in text.splitlines() if "softmax" in l)
    assert NOISY_MARK in softmax
    assert "failed: tensor/layer_norm/bf16/8192x8192: wrong result: rel err 0.31" in text
    assert "oom: tensor/matmul/fp32/16384x16384x16384: out of memory at 16384" in text
    assert "[channels_last]" in text and "26 it/s" in text
    # one section per workload, in order of first appearance
    h100 = text[: text.index("peaks: NVIDIA H100")]
    first_cells = [l.split("│")[1].rstrip() for l in h100.splitlines() if l.startswith("│")]
    assert [c.strip() for c in first_cells if c.startswith(" ") and not c.startswith("  ") and c.strip()] == [
        "tensor", "conv", "sd"]
    assert "incomplete" not in text


def test_incomplete_and_failed_device():
    run = h100_run()
    run.error = "worker crashed: CUDA error: an illegal memory access"
    text = _text(render_table(make_report(run, complete=False)))
    assert "incomplete run" in text and "illegal memory access" in text


def test_progress_counts_and_lines():
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    measurements = [matmul("bf16", 8192, 1.46e-3, 2), bad("tensor", "gelu", "fp16", "4096", Status.OOM, "no room")]
    with BenchProgress(len(measurements), console) as progress:
        for m in measurements:
            progress.start(m.spec, device="cuda: NVIDIA H100 80GB HBM3")
            progress.finish(m)
    assert progress.done == 2 and progress.counts == {"ok": 1, "oom": 1}
    text = out.getvalue()
    assert "tensor/matmul/bf16/8192x8192x8192: 1.46 ms 753.1 TFLOP/s" in text
    assert "oom" in text and "no room" in text
    assert "2/2" in text
