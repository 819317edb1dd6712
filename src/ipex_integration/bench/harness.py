"""The timing harness: `DeviceTimer` (warm-up and repetitions by time budget, one event pair per repetition on
GPUs, L2 flush), the correctness check against a float64 CPU reference, and `run_case`, which turns one op
into a Measurement whatever happens (ok, wrong result, out of memory, unsupported dtype, exception).

Method as in Triton's `do_bench`: warm up, estimate the cost of one call, launch all repetitions with an
event pair around each (the L2 flush outside the pair), synchronize once, read the events. On CPU each
repetition is timed with the host clock, synchronizing around it. The clock is a parameter for tests.
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .device import DeviceOps, GraphUnavailable, device_ops, is_oom
from .model import BenchSpec, Measurement, Stats, Status
from .rss import RssSampler
from .workload import BenchContext

# Per measurement (warm-up, timed budget) in seconds, by suite; CPU gets less because its ops are slower
# per byte and the quick suite must stay under 120 s on a 2-core CI machine, SD included.
SUITE_TIMING: dict[tuple[str, str], tuple[float, float]] = {
    ("quick", "gpu"): (0.05, 0.15),
    ("quick", "cpu"): (0.04, 0.2),
    ("standard", "gpu"): (0.1, 0.5),
    ("standard", "cpu"): (0.05, 0.25),
    ("full", "gpu"): (0.25, 1.0),
    ("full", "cpu"): (0.1, 0.5),
}

# The flush buffer is this many times the last-level cache: one pass of writes then evicts everything
# that was cached, whatever the replacement policy (Triton flushes 256 MB for the same reason).
GPU_FLUSH_FACTOR = 4
# CPU LLCs are mostly non-inclusive victim caches; twice their size evicts them, and more costs CI time.
CPU_FLUSH_FACTOR = 2

# Relative error ||out - ref|| / ||ref|| allowed against the float64 CPU reference, by dtype. fp32 sits well
# above fp32 rounding (~1e-6 for our sizes) but below TF32's (~1e-3), so a TF32 kernel posing as fp32 fails.
# TF32 keeps 10 mantissa bits, fp16 10, bf16 7: each tolerance is a few times their rounding error.
# "-" is for copies: bit-exact.
TOLERANCES: dict[str, float] = {"fp32": 1e-4, "tf32": 5e-3, "fp16": 1e-2, "bf16": 2e-2, "-": 0.0}


def suite_timing(suite: str, backend: str) -> tuple[float, float]:
    """(warm-up seconds, timed seconds) per measurement for a suite on a backend."""
    kind = "cpu" if backend == "cpu" else "gpu"
    return SUITE_TIMING.get((suite, kind), SUITE_TIMING[("quick", kind)])


class DeviceTimer:
    """Implements bench.workload.Timer on one device."""

    def __init__(self, ops: DeviceOps, *, clock: Callable[[], float] = time.perf_counter) -> None:
        self.ops = ops
        self.clock = clock
        self._flush_buffer: Any = None

    def time(
        self,
        fn: Callable[[], Any],
        *,
        warmup_s: float,
        budget_s: float,
        flush_l2: bool = False,
        min_reps: int = 5,
        max_reps: int = 10_000,
        wall_clock: bool = False,
    ) -> list[float]:
        if min_reps < 1 or max_reps < min_reps:
            raise ValueError(f"need 1 <= min_reps <= max_reps, got {min_reps}, {max_reps}")
        flush = self._flush if flush_l2 else None
        if wall_clock or self.ops.new_event() is None:
            # wall_clock: each repetition synchronized and timed on the host, so the time is one call's
            # latency as a user waits for it, not its throughput when the host queues the next call early.
            self._warm_up(fn, flush, warmup_s, max_reps)
            return self._time_host(fn, flush, budget_s, min_reps, max_reps)
        # GPU: half the warm-up synchronized (to learn the cost of a call), half back to back, as the timed
        # reps will run, so clocks and caches are in their loaded state when timing starts (do_bench does
        # its whole warm-up this way).
        per_call = self._warm_up(fn, flush, warmup_s / 2, max_reps)
        burst = min(max_reps, int(warmup_s / 2 / per_call)) if per_call > 0 else 0
        for _ in range(burst):
            if flush is not None:
                flush()
            fn()
        reps = min(max_reps, max(min_reps, math.ceil(budget_s / per_call) if per_call > 0 else max_reps))
        return self._time_events(fn, flush, reps)

    def _warm_up(
        self, fn: Callable[[], Any], flush: Callable[[], Any] | None, warmup_s: float, max_calls: int
    ) -> float:
        """Call fn once (lazy initialisation, autotuning: not counted), then again for warmup_s; return the
        seconds one synchronized call takes, flush included (the first call's own time if that was all)."""
        clock, sync = self.clock, self.ops.synchronize
        sync()
        start = clock()
        if flush is not None:
            flush()
        fn()
        sync()
        first_done = now = clock()
        calls = 0
        while now - first_done < warmup_s and calls < max_calls:
            if flush is not None:
                flush()
            fn()
            sync()
            calls += 1
            now = clock()
        return (now - first_done) / calls if calls else first_done - start

    def _time_events(self, fn: Callable[[], Any], flush: Callable[[], Any] | None, reps: int) -> list[float]:
        starts = [self.ops.new_event() for _ in range(reps)]
        ends = [self.ops.new_event() for _ in range(reps)]
        for start, end in zip(starts, ends):
            if flush is not None:
                flush()
            start.record()
            fn()
            end.record()
        self.ops.synchronize()
        return [start.elapsed_time(end) / 1e3 for start, end in zip(starts, ends)]

    def _time_host(
        self, fn: Callable[[], Any], flush: Callable[[], Any] | None, budget_s: float, min_reps: int, max_reps: int
    ) -> list[float]:
        clock, sync = self.clock, self.ops.synchronize
        samples: list[float] = []
        begin = clock()
        while len(samples) < max_reps:
            if flush is not None:
                flush()
            sync()
            start = clock()
            fn()
            sync()
            end = clock()
            samples.append(end - start)
            if len(samples) >= min_reps and end - begin >= budget_s:
                break
        return samples

    def _flush(self) -> None:
        if self._flush_buffer is None:
            factor = GPU_FLUSH_FACTOR if self.ops.is_gpu else CPU_FLUSH_FACTOR
            torch = self.ops.torch
            size = factor * self.ops.l2_cache_bytes()
            self._flush_buffer = torch.empty(size, dtype=torch.int8, device=self.ops.device)
        self._flush_buffer.zero_()

    def release(self) -> None:
        """Free the flush buffer (after an out-of-memory, before the next op)."""
        self._flush_buffer = None


# -- correctness --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    error: float  # relative error; nan when the output had NaN/Inf or the check could not compare
    tolerance: float
    message: str | None = None  # why it failed


def relative_error(out: Any, ref: Any) -> float:
    """||out - ref|| / ||ref|| in float64 on the CPU (absolute norm when ref is all zeros); nan if out is not
    finite."""
    import torch

    out64 = out.detach().to("cpu", torch.float64)
    ref64 = ref.detach().to("cpu", torch.float64)
    if out64.shape != ref64.shape:
        raise ValueError(f"output shape {tuple(out64.shape)} differs from reference {tuple(ref64.shape)}")
    if not bool(torch.isfinite(out64).all()):
        return math.nan
    diff = float(torch.linalg.vector_norm(out64 - ref64))
    scale = float(torch.linalg.vector_norm(ref64))
    return diff / scale if scale > 0 else diff


def check_against_reference(
    fn_device: Callable[[], Any],
    fn_reference_float64: Callable[[], Any],
    dtype: str,
    *,
    tolerances: Mapping[str, float] = TOLERANCES,
) -> CheckResult:
    """Run the op on the device and the float64 reference on the CPU (same inputs), compare. NaN never passes."""
    tolerance = tolerances[dtype]
    out = fn_device()
    ref = fn_reference_float64()
    try:
        error = relative_error(out, ref)
    except ValueError as exc:
        return CheckResult(False, math.nan, tolerance, str(exc))
    if math.isnan(error):
        return CheckResult(False, error, tolerance, "result has NaN or Inf")
    if error > tolerance:
        return CheckResult(
            False, error, tolerance, f"wrong result: relative error {error:.3g} vs float64 reference > {tolerance:g}"
        )
    return CheckResult(True, error, tolerance)


# -- one op, start to finish --------------------------------------------------------------------------


@dataclass
class Case:
    """How to measure one spec. `build` allocates inputs at full size and returns the call to time;
    `check` compares the op with the float64 reference at a small size first."""

    build: Callable[[], Callable[[], Any]]
    check: Callable[[], CheckResult] | None = None
    flops: float | None = None
    bytes_moved: float | None = None
    items: float | None = None
    flush_l2: bool = False
    min_reps: int = 5
    wall_clock: bool = False  # time each call's synchronized wall time (whole pipelines), not device events
    extra: dict[str, Any] = field(default_factory=dict)


def ops_for(ctx: BenchContext) -> DeviceOps:
    return getattr(ctx.timer, "ops", None) or device_ops(str(ctx.device))


def variants(spec: BenchSpec) -> tuple[str, ...]:
    """A spec's variant is "+"-joined: "channels_last+graph"."""
    return tuple(v for v in spec.variant.split("+") if v)


def run_case(spec: BenchSpec, ctx: BenchContext, make_case: Callable[[], Case]) -> Measurement:
    """Measure one spec; never raises (Ctrl-C aside): every outcome is a Measurement."""
    ops = ops_for(ctx)
    reason = ops.dtype_unsupported(spec.dtype)
    if reason:
        return Measurement(spec, Status.SKIPPED, reason=reason)
    graph = "graph" in variants(spec)
    if graph and not ops.graph_available:
        return Measurement(spec, Status.SKIPPED, reason=f"no graph capture on {ops.backend} with this torch")
    try:
        with ops.float32_mode(spec.dtype):
            case = make_case()
            check = case.check() if case.check is not None else None
            if check is not None and not check.ok:
                return Measurement(spec, Status.FAILED, reason=check.message, check_error=_finite(check.error))
            ops.reset_peak_memory_stats()
            with RssSampler() as rss:
                fn = case.build()
                if graph:
                    fn = ops.capture_graph(fn)
                samples = ctx.timer.time(
                    fn, warmup_s=ctx.warmup_s, budget_s=ctx.budget_s, flush_l2=case.flush_l2,
                    min_reps=case.min_reps, wall_clock=case.wall_clock,
                )
                del fn
            peak = ops.max_memory_allocated()
    except GraphUnavailable as exc:
        return Measurement(spec, Status.SKIPPED, reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad op must not end the suite
        _recover(ctx, ops)
        if is_oom(exc):
            return Measurement(spec, Status.OOM, reason=f"out of memory at this size ({_first_line(exc)})")
        return Measurement(spec, Status.FAILED, reason=f"{type(exc).__name__}: {_first_line(exc)}")
    extra = dict(case.extra)
    extra.setdefault("l2_flushed", case.flush_l2)
    # sampled while this op was built, warmed up and timed (bench/rss.py), not the process's lifetime peak
    extra.setdefault("host_rss_max_bytes", rss.max_bytes)
    flush_bytes = getattr(getattr(ctx.timer, "_flush_buffer", None), "nbytes", None)
    if case.flush_l2 and flush_bytes:
        # peak_memory_bytes is the device's peak during the measurement: it includes this buffer
        extra.setdefault("flush_buffer_bytes", int(flush_bytes))
    return Measurement(
        spec,
        Status.OK,
        samples_s=samples,
        stats=Stats.from_samples(samples),
        flops=case.flops,
        bytes_moved=case.bytes_moved,
        items=case.items,
        check_error=check.error if check is not None else None,
        peak_memory_bytes=peak,
        extra=extra,
    )


def host_lifetime_peak_rss_bytes() -> int | None:
    """The worker's peak resident host memory since it started (Linux reports ru_maxrss in KiB): a
    high-water mark of the whole run so far, NOT of one op (that is RssSampler's host_rss_max_bytes)."""
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except (ImportError, OSError, ValueError):
        return None


def _recover(ctx: BenchContext, ops: DeviceOps) -> None:
    """Give memory back after a failure so the next op starts clean."""
    release = getattr(ctx.timer, "release", None)
    if release is not None:
        release()
    gc.collect()
    try:
        ops.empty_cache()
    except Exception:  # noqa: BLE001 - best effort
        pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
