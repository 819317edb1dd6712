from __future__ import annotations

import pytest

from ipex_integration.bench.model import Status
from ipex_integration.bench.report.metrics import (
    BANDWIDTH, COMPUTE, COLUMNS, derive, measured_ceilings, measurement_rate, primary_rate, roof_fraction,
)

from .reports import CPU, H100, cpu_run, h100_run, make_report, matmul


@pytest.fixture(scope="module")
def rows():
    return {(r.device_name, r.key): r for r in derive(make_report())}


def test_bf16_matmul_rate_and_percent_of_datasheet(rows):
    r = rows[(H100, "tensor/matmul/bf16/8192x8192x8192")]
    # 2 * 8192^3 flop in 1.46 ms
    assert r.tflops == pytest.approx(2 * 8192**3 / 1.46e-3 / 1e12)
    assert r.tflops == pytest.approx(753.1, abs=0.05)
    assert r.bound == COMPUTE
    assert r.pct_peak == pytest.approx(76.1, abs=0.05)  # of 989 TFLOP/s
    assert r.pct_measured == pytest.approx(100.0)  # it *is* the best bf16 matmul
    assert r.median_ms == pytest.approx(1.46)
    assert r.n == 9 and r.noisy is False and r.peak_note is None
    assert r.intensity == pytest.approx(2 * 8192**3 / (3 * 8192 * 8192 * 2))
    assert r.peak_memory_mib == pytest.approx(3 * 8192 * 8192 * 2 / 2**20)


def test_tf32_and_fp32_against_their_own_dtype(rows):
    tf32 = rows[(H100, "tensor/matmul/tf32/8192x8192x8192")]
    assert tf32.pct_peak == pytest.approx(tf32.tflops / 495 * 100)
    assert tf32.tflops == pytest.approx(401, abs=1)
    fp32 = rows[(H100, "tensor/matmul/fp32/8192x8192x8192")]
    assert fp32.pct_peak == pytest.approx(fp32.tflops / 67 * 100)
    assert fp32.pct_measured == pytest.approx(100.0)


def test_copy_and_elementwise_are_judged_on_bandwidth(rows):
    copy = rows[(H100, "tensor/copy_d2d/fp32/1GiB")]
    assert copy.gbps == pytest.approx(3000)
    assert copy.bound == BANDWIDTH and copy.pct_peak == pytest.approx(3000 / 3350 * 100)
    assert copy.pct_measured == pytest.approx(100.0)
    add = rows[(H100, "tensor/add/fp32/268435456")]
    assert add.tflops == pytest.approx(2**28 / add.median_ms * 1e3 / 1e12)  # tiny: 1 flop / 12 bytes
    assert add.bound == BANDWIDTH
    assert add.pct_peak == pytest.approx(2900 / 3350 * 100)
    assert add.pct_measured == pytest.approx(2900 / 3000 * 100)


def test_host_link_copy_gets_no_datasheet_percentage(rows):
    h2d = rows[(H100, "tensor/copy_h2d/fp32/1GiB")]
    assert h2d.gbps == pytest.approx(25)
    assert h2d.pct_peak is None and h2d.pct_measured is None and "host link" in h2d.peak_note


def test_pipeline_rate_and_its(rows):
    sd = rows[(H100, "sd/sd15_pipeline/fp16/512x512 b1 20 steps/cfg")]
    assert sd.its == pytest.approx(20 / 0.77)
    assert sd.tflops == pytest.approx(20 * 2 * 803e9 / 0.77 / 1e12)
    assert sd.bound == COMPUTE and sd.pct_peak == pytest.approx(sd.tflops / 989 * 100)
    assert sd.pct_measured is None  # no fp16 matmul was measured on this device
    assert sd.peak_memory_mib == pytest.approx(3 * 1024)
    assert primary_rate(sd) == (sd.its, "it/s")


def test_failures_carry_no_rate(rows):
    failed = rows[(H100, "tensor/layer_norm/bf16/8192x8192")]
    assert failed.status == "failed" and "rel err" in failed.reason
    assert failed.tflops is None and failed.median_ms is None and failed.pct_peak is None and failed.noisy is None
    oom = rows[(H100, "tensor/matmul/fp32/16384x16384x16384")]
    assert oom.status == "oom" and oom.tflops is None


def test_noisy_flag(rows):
    softmax = rows[(H100, "tensor/softmax/fp16/4096x4096")]
    assert softmax.noisy is True
    assert softmax.iqr_ms / softmax.median_ms > 0.10


def test_unknown_device_says_no_peak_but_has_measured_ceiling(rows):
    mm = rows[(CPU, "tensor/matmul/fp32/1024x1024x1024")]
    assert mm.pct_peak is None and mm.peak_note == "no peak known"
    assert mm.pct_measured == pytest.approx(100.0)
    add = rows[(CPU, "tensor/add/fp32/16777216")]
    assert add.pct_measured == pytest.approx(6 / 8 * 100)
    assert add.device == "cpu: AMD EPYC 7B13" and add.backend == "cpu"


def test_dtype_without_datasheet_peak():
    run = h100_run()
    run.device_name = "Intel(R) Arc(TM) A770 Graphics"
    run.measurements = [matmul("tf32", 4096, 2 * 4096**3 / 16e12, 4), matmul("bf16", 4096, 2 * 4096**3 / 90e12, 2)]
    rows = {r.dtype: r for r in derive(make_report(run))}
    assert rows["tf32"].pct_peak is None and rows["tf32"].peak_note == "no tf32 peak known"
    assert rows["bf16"].pct_peak == pytest.approx(90 / 137.6 * 100)


def test_ceilings_ignore_failed_and_non_matmul_ops():
    ceilings = measured_ceilings(h100_run())
    assert set(ceilings.compute_tflops) == {"bf16", "tf32", "fp32"}
    assert ceilings.compute_tflops["bf16"] == pytest.approx(753.1, abs=0.05)
    assert ceilings.bandwidth_gbps == pytest.approx(3000)


@pytest.mark.parametrize(
    ("tflops", "gbps", "compute", "bandwidth", "expected"),
    [
        (500.0, 10.0, 1000.0, 3000.0, (0.5, COMPUTE)),
        (1.0, 2400.0, 1000.0, 3000.0, (0.8, BANDWIDTH)),
        (500.0, None, 1000.0, 3000.0, (0.5, COMPUTE)),
        (None, 1500.0, 1000.0, 3000.0, (0.5, BANDWIDTH)),
        (500.0, 10.0, None, 3000.0, (None, None)),  # can't tell which roof binds
        (500.0, None, None, 3000.0, (None, None)),
        (None, None, 1000.0, 3000.0, (None, None)),
    ],
)
def test_roof_fraction(tflops, gbps, compute, bandwidth, expected):
    frac, bound = roof_fraction(tflops, gbps, compute, bandwidth)
    assert bound == expected[1]
    assert frac == (pytest.approx(expected[0]) if expected[0] is not None else None)


def test_rows_cover_every_measurement_in_order():
    report = make_report()
    rows = derive(report)
    assert [r.key for r in rows] == [m.spec.key for run in report.runs for m in run.measurements]
    assert set(rows[0].to_dict()) == set(COLUMNS)
    assert sum(r.status == Status.OK.value for r in rows) == 12


def test_headline_rate_follows_the_bound(rows):
    assert primary_rate(rows[(H100, "tensor/add/fp32/268435456")]) == (pytest.approx(2900), "GB/s")
    assert primary_rate(rows[(H100, "tensor/matmul/bf16/8192x8192x8192")])[1] == "TFLOP/s"
    # CPU: no datasheet, so the bound comes from the measured ceilings
    cpu_add = rows[(CPU, "tensor/add/fp32/16777216")]
    assert cpu_add.bound == BANDWIDTH and primary_rate(cpu_add) == (pytest.approx(6), "GB/s")


def test_bound_falls_back_to_intensity_without_any_roof():
    run = cpu_run()
    run.measurements = run.measurements[2:]  # only `add`: no matmul or copy ceiling, no datasheet
    (row,) = derive(make_report(run))
    assert row.pct_peak is None and row.pct_measured is None
    assert row.bound == BANDWIDTH and primary_rate(row)[1] == "GB/s"
    assert measurement_rate(run.measurements[0]) == (pytest.approx(6), "GB/s")
    assert measurement_rate(h100_run().measurements[0])[1] == "TFLOP/s"


def test_measured_percentage_uses_the_known_bound_when_a_ceiling_is_missing(rows):
    # no fp16 matmul in the run: softmax is bandwidth-bound on the datasheet, so the copy ceiling applies
    softmax = rows[(H100, "tensor/softmax/fp16/4096x4096")]
    assert softmax.bound == BANDWIDTH
    assert softmax.pct_measured == pytest.approx(softmax.gbps / 3000 * 100)
    # ...but a compute-bound fp16 conv has nothing to be compared with
    assert rows[(H100, "conv/conv2d/fp16/2x320x64x64 k3/channels_last")].pct_measured is None
