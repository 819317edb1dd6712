from __future__ import annotations

import copy
import io

import pytest
from rich.console import Console

from ipex_integration.bench.model import Stats, Status
from ipex_integration.bench.report.compare import (
    BROKEN, FIXED, IMPROVEMENT, NOT_COMPARABLE, REGRESSION, SAME, compare_reports, parse_threshold, render_compare,
)
from ipex_integration.errors import UsageError

from .reports import bad, cpu_run, h100_run, make_report, ok

BF16 = "tensor/matmul/bf16/8192x8192x8192"


def _slow_down(report, key, factor):
    for run in report.runs:
        for m in run.measurements:
            if m.spec.key == key:
                m.samples_s = [s * factor for s in m.samples_s]
                m.stats = Stats.from_samples(m.samples_s)


def _row(result, key, device="cuda: NVIDIA H100 80GB HBM3"):
    return next(r for r in result.rows if r.key == key and r.device.startswith(device))


def test_identical_reports_have_no_regression():
    result = compare_reports(make_report(), make_report(), fail_above=0.1)
    assert result.exit_code == 0 and result.regressions == []
    ok_rows = [r for r in result.rows if r.verdict != NOT_COMPARABLE]
    assert ok_rows and all(r.verdict == SAME and r.ratio == pytest.approx(1.0) for r in ok_rows)
    assert result.only_old == () and result.only_new == () and result.notes == ()
    # both sides failed / oom: nothing to compare, not a regression
    assert _row(result, "tensor/layer_norm/bf16/8192x8192").verdict == NOT_COMPARABLE


def test_slower_op_beyond_threshold_is_a_regression():
    new = make_report()
    _slow_down(new, BF16, 1.25)  # 753 -> 602 TFLOP/s
    result = compare_reports(make_report(), new, fail_above=0.10)
    row = _row(result, BF16)
    assert row.verdict == REGRESSION and row.metric == "TFLOP/s"
    assert row.ratio == pytest.approx(0.8) and row.change_pct == pytest.approx(-20.0)
    assert row.old == pytest.approx(753.1, abs=0.05) and row.new == pytest.approx(602.5, abs=0.05)
    assert [r.key for r in result.regressions] == [BF16]
    assert result.exit_code == 1
    assert compare_reports(make_report(), new, fail_above=0.25).exit_code == 0


def test_faster_op_is_an_improvement():
    new = make_report()
    _slow_down(new, BF16, 0.8)
    result = compare_reports(make_report(), new, fail_above=0.1)
    assert _row(result, BF16).verdict == IMPROVEMENT and _row(result, BF16).ratio == pytest.approx(1.25)
    assert result.exit_code == 0 and [r.key for r in result.improvements] == [BF16]


def test_time_only_ops_compare_inverted_times():
    old = make_report(h100_run())
    old.runs[0].measurements = [ok("tensor", "sync", "-", "-", 10e-6)]
    new = copy.deepcopy(old)
    _slow_down(new, "tensor/sync/-/-", 2.0)
    row = compare_reports(old, new, fail_above=0.1).rows[0]
    assert row.metric == "ms" and row.ratio == pytest.approx(0.5) and row.verdict == REGRESSION
    assert row.old == pytest.approx(0.01) and row.new == pytest.approx(0.02)


def test_op_that_now_fails_is_a_regression_and_fixed_is_not():
    old, new = make_report(), make_report()
    new.runs[0].measurements[0] = bad("tensor", "matmul", "bf16", "8192x8192x8192", Status.FAILED, "wrong result")
    old.runs[0].measurements[8] = ok("tensor", "layer_norm", "bf16", "8192x8192", 0.2e-3, bytes_moved=4 * 8192**2)
    new.runs[0].measurements[8] = copy.deepcopy(old.runs[0].measurements[8])
    old.runs[1].measurements[0] = bad("tensor", "matmul", "fp32", "1024x1024x1024", Status.OOM, "no memory")
    result = compare_reports(old, new, fail_above=0.1)
    broken = _row(result, BF16)
    assert broken.verdict == BROKEN and "wrong result" in broken.note
    assert _row(result, "tensor/matmul/fp32/1024x1024x1024", "cpu").verdict == FIXED
    assert result.exit_code == 1 and [r.verdict for r in result.regressions] == [BROKEN]


def test_ops_only_in_one_file():
    old, new = make_report(), make_report()
    del old.runs[1].measurements[2]  # cpu add only in new
    new.runs[0].measurements.append(ok("tensor", "gelu", "bf16", "2^28", 0.6e-3, bytes_moved=2**30))
    new.runs[0].measurements.pop(5)  # copy_h2d only in old
    result = compare_reports(old, new, fail_above=0.1)
    assert result.only_new == (
        "cuda: NVIDIA H100 80GB HBM3: tensor/gelu/bf16/2^28",
        "cpu: AMD EPYC 7B13: tensor/add/fp32/16777216",
    )
    assert result.only_old == ("cuda: NVIDIA H100 80GB HBM3: tensor/copy_h2d/fp32/1GiB",)
    assert result.exit_code == 0


def test_devices_match_by_backend_when_labels_differ():
    old = make_report(h100_run())
    new = make_report(h100_run(), cpu_run())
    new.runs[0].device_name = "NVIDIA H200"
    result = compare_reports(old, new, fail_above=0.1)
    assert any("matched by backend" in n and "NVIDIA H200" in n for n in result.notes)
    assert any("device only in new file: cpu: AMD EPYC 7B13" in n for n in result.notes)
    assert _row(result, BF16, "cuda: NVIDIA H100").device == "cuda: NVIDIA H100 80GB HBM3 -> NVIDIA H200"


def test_notes_on_software_config_and_incomplete():
    old, new = make_report(), make_report(complete=False)
    new.runs[0].software["torch"] = "2.13.0+cu130"
    new.config["suite"] = "standard"
    notes = compare_reports(old, new, fail_above=0.1).notes
    assert any("torch 2.11.0+cu128 -> 2.13.0+cu130" in n for n in notes)
    assert "configurations differ in: suite" in notes
    assert "the new file is from an incomplete run" in notes


def test_noisy_rows_are_marked():
    result = compare_reports(make_report(), make_report(), fail_above=0.1)
    assert _row(result, "tensor/softmax/fp16/4096x4096").noisy is True
    assert _row(result, BF16).noisy is False


def test_render_keeps_brackets_literal():
    old = make_report(h100_run())
    old.runs[0].measurements = [ok("tensor", "add", "fp32", "[2^28]", 1e-3, bytes_moved=1e9, variant="[bold]x")]
    out = io.StringIO()
    Console(file=out, width=250).print(render_compare(compare_reports(old, copy.deepcopy(old), fail_above=0.1)))
    assert "tensor/add/fp32/[2^28]/[bold]x" in out.getvalue()


def test_render_and_to_dict():
    new = make_report()
    _slow_down(new, BF16, 1.25)
    result = compare_reports(make_report(), new, fail_above=0.1)
    out = io.StringIO()
    Console(file=out, width=250).print(render_compare(result))
    text = out.getvalue()
    line = next(l for l in text.splitlines() if BF16 in l)
    assert "x0.800" in line and "-20.0%" in line and "regression" in line
    assert "1 regression beyond 10%" in text
    assert text.count("cuda: NVIDIA H100 80GB HBM3") == 1  # one table per device, titled by it
    assert "512x512 b1 20 steps/cfg" in text
    data = result.to_dict()
    assert data["exit_code"] == 1 and data["regressions"] == 1
    assert next(r for r in data["rows"] if r["key"] == BF16)["change_pct"] == pytest.approx(-20.0)


@pytest.mark.parametrize(
    ("text", "value"),
    [("10%", 0.10), ("0.1", 0.10), (" 5 % ", 0.05), ("2.5%", 0.025), ("0", 0.0), ("100%", 1.0), (0.2, 0.2)],
)
def test_parse_threshold(text, value):
    assert parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "%", "abc", "10", "-5%", "150%", "nan", "inf", "1e9%", "ten%"])
def test_bad_thresholds(text):
    with pytest.raises(UsageError, match="bad threshold"):
        parse_threshold(text)


def test_fail_above_out_of_range():
    with pytest.raises(UsageError):
        compare_reports(make_report(), make_report(), fail_above=-0.1)
