"""bench/harness.py: the timer with a fake clock (host path on the real CPU device, event path on a fake XPU),
the statistics, the float64 correctness check and run_case's statuses (failed, OOM, skipped)."""

from __future__ import annotations

import math

import pytest
import torch

from ipex_integration.bench.device import DeviceOps
from ipex_integration.bench.harness import (
    CPU_FLUSH_FACTOR,
    Case,
    DeviceTimer,
    check_against_reference,
    run_case,
)
from ipex_integration.bench.model import BenchSpec, Stats, Status
from ipex_integration.bench.workload import BenchContext, SuiteConfig

from .fake_xpu import ARC_B580, FakeClock, FakeGpuModule, FakeTorch


def timed_fn(clock: FakeClock, durations):
    """An op whose calls take the given seconds (the last one repeats); records each call."""
    calls = []

    def fn():
        d = durations[min(len(calls), len(durations) - 1)]
        calls.append(d)
        clock.advance(d)

    return fn, calls


# -- host clock path (CPU) ------------------------------------------------------------------------------


def test_host_samples_are_the_call_times_within_budget():
    clock = FakeClock()
    timer = DeviceTimer(DeviceOps("cpu"), clock=clock)
    fn, calls = timed_fn(clock, [0.5, 0.01])
    samples = timer.time(fn, warmup_s=0.05, budget_s=0.1, min_reps=3)
    # warm-up: the slow first call, then 0.05 s of 0.01 s calls; timed: 0.1 s of them
    assert calls[0] == 0.5 and len(calls) == 1 + 5 + 10
    assert samples == pytest.approx([0.01] * 10)


def test_host_min_reps_beats_the_budget_and_max_reps_caps_it():
    clock = FakeClock()
    timer = DeviceTimer(DeviceOps("cpu"), clock=clock)
    fn, _ = timed_fn(clock, [1.0])
    assert len(timer.time(fn, warmup_s=0, budget_s=0.1, min_reps=4)) == 4
    fn, _ = timed_fn(clock, [0.001])
    assert len(timer.time(fn, warmup_s=0, budget_s=100, min_reps=1, max_reps=50)) == 50


def test_bad_rep_limits_are_refused():
    with pytest.raises(ValueError):
        DeviceTimer(DeviceOps("cpu")).time(lambda: None, warmup_s=0, budget_s=1, min_reps=10, max_reps=5)


# -- event path (fake XPU) ------------------------------------------------------------------------------


class FakeFlushBuffer:
    """Stands in for the int8 device buffer the timer zeroes; zeroing it takes `cost` seconds."""

    def __init__(self, clock: FakeClock, cost: float) -> None:
        self.clock, self.cost, self.zeroed = clock, cost, 0

    def zero_(self):
        self.zeroed += 1
        self.clock.advance(self.cost)


def xpu_timer(clock: FakeClock) -> tuple[DeviceTimer, FakeGpuModule]:
    module = FakeGpuModule("xpu", ARC_B580, clock)
    return DeviceTimer(DeviceOps("xpu:0", torch_module=FakeTorch(module)), clock=clock), module


def test_events_time_each_rep_and_reps_come_from_the_warm_up_estimate():
    clock = FakeClock()
    timer, module = xpu_timer(clock)
    fn, calls = timed_fn(clock, [2.0, 0.02])  # slow first call (autotuning) must not shrink the rep count
    samples = timer.time(fn, warmup_s=0.1, budget_s=0.2, min_reps=1)
    assert samples == pytest.approx([0.02] * 10)  # 0.2 s budget / 0.02 s per call
    # first call; 0.05 s of synchronized warm-up (3 calls to pass it); 0.05 s back to back (2); 10 timed
    assert len(calls) == 1 + 3 + 2 + 10
    # synchronized: around the first call, after each synchronized warm-up call, once after all timed reps
    syncs = [c for c in module.calls if c == ("synchronize", 0)]
    assert len(syncs) == 2 + 3 + 1


def test_wall_clock_on_a_gpu_synchronizes_every_rep_and_records_no_events():
    """Whole pipelines are timed as a user waits for them: each call synchronized, host clock around it."""
    clock = FakeClock()
    timer, module = xpu_timer(clock)
    fn, calls = timed_fn(clock, [0.3, 0.1])
    samples = timer.time(fn, warmup_s=0.0, budget_s=0.45, min_reps=2, wall_clock=True)
    assert samples == pytest.approx([0.1] * 5)
    syncs = [c for c in module.calls if c == ("synchronize", 0)]
    # first call: before and after; then before and after each of the 5 timed calls
    assert len(syncs) == 2 + 2 * 5


def test_l2_flush_runs_before_each_rep_and_outside_the_event_pair():
    clock = FakeClock()
    timer, _ = xpu_timer(clock)
    timer._flush_buffer = FakeFlushBuffer(clock, cost=0.5)
    fn, _ = timed_fn(clock, [0.01])
    samples = timer.time(fn, warmup_s=0, budget_s=0.0, flush_l2=True, min_reps=5)
    assert samples == pytest.approx([0.01] * 5)  # the 0.5 s flushes are not in the samples
    assert timer._flush_buffer.zeroed == 1 + 5  # before the first call and before each timed rep


def test_cpu_flush_buffer_is_several_times_the_llc(tmp_path):
    cache = tmp_path / "devices/system/cpu/cpu0/cache/index3"
    cache.mkdir(parents=True)
    (cache / "size").write_text("64K\n")
    timer = DeviceTimer(DeviceOps("cpu", sysfs_root=tmp_path))
    timer.time(lambda: None, warmup_s=0, budget_s=0, flush_l2=True, min_reps=1)
    assert timer._flush_buffer.numel() == CPU_FLUSH_FACTOR * 64 * 1024
    assert int(timer._flush_buffer.abs().sum()) == 0  # it was written (zeroed)
    timer.release()
    assert timer._flush_buffer is None


# -- statistics -----------------------------------------------------------------------------------------


def test_stats_median_iqr_p95_and_noise():
    stats = Stats.from_samples([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (stats.n, stats.median_s, stats.min_s, stats.mean_s) == (5, 3.0, 1.0, 3.0)
    assert stats.iqr_s == pytest.approx(2.0)  # 4 - 2
    assert stats.p95_s == pytest.approx(4.8)
    assert stats.noisy
    quiet = Stats.from_samples([1.0, 1.01, 0.99, 1.0])
    assert not quiet.noisy


# -- correctness ----------------------------------------------------------------------------------------


def _inputs(dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    return torch.randn(64, 64, generator=g).to(dtype), torch.randn(64, 64, generator=g).to(dtype)


def test_correct_op_passes_with_small_error():
    a, b = _inputs()
    result = check_against_reference(lambda: a @ b, lambda: a.double() @ b.double(), "fp32")
    assert result.ok and result.error < 1e-6


def test_wrong_op_fails():
    a, b = _inputs()
    result = check_against_reference(lambda: a @ b + 0.05 * a, lambda: a.double() @ b.double(), "fp32")
    assert not result.ok and "wrong result" in result.message and result.error > 1e-4


def test_bf16_result_passes_at_bf16_tolerance_but_not_as_fp32():
    a, b = _inputs(torch.bfloat16)
    ref = lambda: a.double() @ b.double()
    assert check_against_reference(lambda: a @ b, ref, "bf16").ok
    assert not check_against_reference(lambda: a @ b, ref, "fp32").ok


def test_nan_never_passes():
    a, b = _inputs()
    bad = (a @ b).clone()
    bad[0, 0] = math.nan
    result = check_against_reference(lambda: bad, lambda: a.double() @ b.double(), "bf16")
    assert not result.ok and math.isnan(result.error) and "NaN" in result.message


def test_shape_mismatch_fails():
    a, b = _inputs()
    result = check_against_reference(lambda: (a @ b)[:10], lambda: a.double() @ b.double(), "fp32")
    assert not result.ok and "shape" in result.message


# -- run_case -----------------------------------------------------------------------------------------


def cpu_ctx(**config) -> BenchContext:
    ops = DeviceOps("cpu")
    return BenchContext(torch.device("cpu"), "cpu", SuiteConfig(**config), DeviceTimer(ops), 0.0, 0.005)


SPEC = BenchSpec("tensor", "matmul", "fp32", "64x64x64")


def matmul_case(wrong: bool = False, build_error: BaseException | None = None) -> Case:
    a, b = _inputs()

    def op():
        return a @ b + (0.05 * a if wrong else 0)

    def build():
        if build_error is not None:
            raise build_error
        return op

    check = lambda: check_against_reference(op, lambda: a.double() @ b.double(), "fp32")
    return Case(build, check, flops=2.0 * 64**3, bytes_moved=3.0 * 64 * 64 * 4)


def test_run_case_ok_has_stats_and_rates():
    m = run_case(SPEC, cpu_ctx(), matmul_case)
    assert m.status is Status.OK
    assert m.stats.n >= 5 and len(m.samples_s) == m.stats.n
    assert m.tflops > 0 and m.gbps > 0 and m.check_error < 1e-6


def test_wrong_result_is_failed_never_a_time():
    m = run_case(SPEC, cpu_ctx(), lambda: matmul_case(wrong=True))
    assert m.status is Status.FAILED
    assert "wrong result" in m.reason
    assert m.stats is None and m.samples_s == [] and m.tflops is None


def test_oom_at_one_size_is_recorded_and_the_next_op_runs():
    ctx = cpu_ctx()
    oom = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    first = run_case(SPEC, ctx, lambda: matmul_case(build_error=oom))
    assert first.status is Status.OOM and "out of memory" in first.reason and first.stats is None
    second = run_case(SPEC, ctx, matmul_case)
    assert second.status is Status.OK


def test_other_exceptions_are_failed_with_the_error():
    m = run_case(SPEC, cpu_ctx(), lambda: matmul_case(build_error=RuntimeError("cuBLAS error: not supported")))
    assert m.status is Status.FAILED and m.reason == "RuntimeError: cuBLAS error: not supported"


def test_dtype_the_device_cannot_run_is_skipped_with_reason():
    called = []
    m = run_case(BenchSpec("tensor", "matmul", "tf32", "64x64x64"), cpu_ctx(), lambda: called.append(1))
    assert m.status is Status.SKIPPED and "TF32" in m.reason
    assert called == []  # nothing was built


def test_graph_variant_on_cpu_is_skipped():
    m = run_case(BenchSpec("tensor", "matmul", "fp32", "64x64x64", "graph"), cpu_ctx(), matmul_case)
    assert m.status is Status.SKIPPED and "graph" in m.reason


def test_each_measurement_records_the_host_memory_sampled_while_it_ran():
    """Issue 14: host RAM per measurement, sampled during the op (not the process's lifetime peak)."""
    spec = BenchSpec("tensor", "add", "fp32", "256")
    ctx = BenchContext(torch.device("cpu"), "cpu", SuiteConfig(), DeviceTimer(DeviceOps("cpu")), 0.0, 0.01)
    big = torch.rand(4 * 1024 * 1024)  # 16 MiB that stays alive during the measurement

    m = run_case(spec, ctx, lambda: Case(build=lambda: (lambda: big + 1), bytes_moved=3 * big.nbytes))
    assert m.status is Status.OK
    assert m.extra["host_rss_max_bytes"] > big.nbytes
    assert "host_rss_bytes" not in m.extra


def test_rss_sampler_sees_a_peak_that_is_gone_afterwards():
    """An allocation that lives only inside the sampled region is seen; the next op's sample is not raised
    by it, which the lifetime maximum (ru_maxrss) would be."""
    import time as _time

    from ipex_integration.bench.rss import RssSampler

    with RssSampler(interval_s=0.01) as before:
        _time.sleep(0.05)
    with RssSampler(interval_s=0.01) as during:
        block = bytearray(200 * 2**20)  # 200 MiB, touched: resident
        block[:: 4096] = b"x" * len(block[:: 4096])
        _time.sleep(0.08)
        del block
    with RssSampler(interval_s=0.01) as after:
        _time.sleep(0.05)
    assert during.max_bytes - before.max_bytes > 150 * 2**20
    assert after.max_bytes < during.max_bytes - 150 * 2**20
