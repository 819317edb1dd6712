"""The report's summary line per device and the cited reference points beside it."""

from __future__ import annotations

import pytest

from ipex_integration.bench.model import BenchReport
from ipex_integration.bench.report.references import default_references, parse_references, references_for
from ipex_integration.bench.report.summary import summarize
from ipex_integration.errors import ConfigError

from .reports import cpu_run, h100_run, make_report, ok


def test_every_shipped_reference_says_what_and_where():
    refs = default_references()
    assert len(refs) >= 5
    for r in refs:
        assert r.measured and r.source and r.unit
        assert r.url.startswith("https://") or r.source.startswith("this repository, docs/results/")
    devices = {r.device for r in references_for("sd15_512_its")}
    assert {"NVIDIA GeForce RTX 4090", "Intel Arc A770"} <= devices
    assert all(r.dtype == "bf16" for r in references_for("matmul_tflops", "bf16"))


@pytest.mark.parametrize("entry, message", [
    ('metric = "x"\ndevice = "d"\nunit = "u"\nmeasured = "m"\nsource = "s"', "neither value"),
    ('metric = "x"\ndevice = "d"\nunit = "u"\nmeasured = "m"\nsource = " "\nvalue = 1', "no source"),
    ('metric = "x"\nunit = "u"\nmeasured = "m"\nsource = "s"\nvalue = 1', "malformed"),
])
def test_a_reference_without_number_or_source_is_refused(entry, message):
    with pytest.raises(ConfigError, match=message):
        parse_references("[[reference]]\n" + entry)


def test_headlines_per_device():
    gpu, cpu = summarize(make_report())
    labels = {h.label: h for h in gpu.headlines}
    assert labels["matmul bf16"].value == pytest.approx(753.1, rel=1e-3)
    assert labels["matmul bf16"].pct_peak == pytest.approx(76.1, abs=0.1)
    assert labels["d2d copy"].unit == "GB/s" and labels["d2d copy"].value == pytest.approx(3000, rel=1e-3)
    assert labels["SD1.5 pipeline"].metric == "sd15_512_its"
    assert gpu.failed == 1
    assert [h.label for h in cpu.headlines] == ["matmul fp32", "d2d copy"]


def test_llm_and_comfyui_hooks_by_workload_name():
    run = cpu_run()
    run.measurements = [
        ok("llm", "eval", "q4", "llama3.2 prompt 512 gen 128", 0.02, items=1.0),
        ok("comfyui", "sd15_workflow", "fp16", "512x512 20 steps", 1.0, items=20),
    ]
    (only,) = summarize(BenchReport("2026-05-01T00:00:00Z", [], {}, {}, [run]))
    got = {h.metric: h.value for h in only.headlines}
    assert got["llm_eval_tokens_s"] == pytest.approx(50.0)
    assert got["comfyui_its"] == pytest.approx(20.0)


def test_graph_replay_is_not_the_headline():
    run = h100_run()
    run.measurements = [
        ok("sd", "sd15_unet_step", "fp16", "512x512 b2", 1 / 20, variant="cfg", items=1),
        ok("sd", "sd15_unet_step", "fp16", "512x512 b2", 1 / 80, variant="cfg+graph", items=1),
    ]
    (only,) = summarize(make_report(run))
    assert [round(h.value) for h in only.headlines] == [20]
