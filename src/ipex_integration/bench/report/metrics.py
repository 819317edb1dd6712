"""Flat, derived rows from a BenchReport: one per measurement, with rates and "% of peak" figures.

Two references for every rate:

- % of datasheet peak: against the device's DevicePeak (peaks.py). An op is judged against the roof it is
  nearer to. On a roofline the bound at intensity I is min(P, I*B), and achieved / bound equals
  max(achieved_flops / P, achieved_bytes / B); so we compute both fractions where both are known and keep
  the larger one, calling the op "compute"- or "bandwidth"-bound accordingly. An op with only a flop count
  (an SD pipeline) is judged on compute, one with only a byte count (a copy) on bandwidth. When the op has
  both counts but one roof is unknown (no tf32 peak on Xe-HPG, say) we cannot tell which roof applies and
  say so instead of printing a misleading number. Host<->device copies run over PCIe, not DRAM, so they
  get no datasheet percentage.
- % of measured ceiling: the same rule against what this suite itself measured on the same device: the
  best matmul TFLOP/s of the op's dtype and the best device-to-device copy GB/s. When one of these is
  missing, the op's bound (from the datasheet, else from its arithmetic intensity) picks the other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..model import BenchReport, DeviceRun, Measurement, Status
from .peaks import NO_PEAK, PEAK_DTYPES, DevicePeak, PeakTable, peak_for

# Ops whose TFLOP/s defines a device's measured compute ceiling (per dtype), and whose GB/s defines its
# measured bandwidth ceiling. Names follow the tensor workload's spec names.
MATMUL_OPS = frozenset({"matmul", "bmm", "batched_matmul"})
CEILING_COPY_OPS = frozenset({"copy_d2d"})
# Bounded by the host link (PCIe / system memory), not by the device's DRAM: no datasheet roof applies.
HOST_LINK_OPS = frozenset({"copy_h2d", "copy_d2h"})

COMPUTE = "compute"
BANDWIDTH = "bandwidth"
LOW_INTENSITY = 4.0  # flop/byte: below every current device's ridge point


@dataclass(frozen=True)
class Ceilings:
    """What the suite itself measured on one device: best matmul TFLOP/s per dtype, best d2d copy GB/s."""

    compute_tflops: dict[str, float] = field(default_factory=dict)
    bandwidth_gbps: float | None = None


@dataclass(frozen=True)
class DerivedRow:
    device: str  # DeviceRun.label: "cuda: NVIDIA H100 80GB HBM3"
    backend: str
    device_name: str
    key: str
    workload: str
    op: str
    dtype: str
    shape: str
    variant: str
    status: str
    reason: str | None
    median_ms: float | None
    iqr_ms: float | None
    p95_ms: float | None
    min_ms: float | None
    n: int | None
    tflops: float | None
    gbps: float | None
    its: float | None
    intensity: float | None  # flop per byte
    bound: str | None  # "compute" | "bandwidth": the roof the op is nearer (datasheet, else measured)
    pct_peak: float | None  # percent of the datasheet roof
    peak_note: str | None  # why pct_peak is empty ("no peak known", ...)
    pct_measured: float | None  # percent of this suite's own ceiling on the same device
    peak_memory_mib: float | None
    host_rss_mib: float | None  # the worker's largest RSS sampled while this op ran (host_rss_max_bytes)
    noisy: bool | None
    check_error: float | None

    def to_dict(self) -> dict:
        return asdict(self)


COLUMNS = tuple(f.name for f in fields(DerivedRow))


def measured_ceilings(run: DeviceRun) -> Ceilings:
    compute: dict[str, float] = {}
    bandwidth: float | None = None
    for m in run.measurements:
        if m.status is not Status.OK:
            continue
        if m.spec.op in MATMUL_OPS and m.tflops:
            compute[m.spec.dtype] = max(compute.get(m.spec.dtype, 0.0), m.tflops)
        if m.spec.op in CEILING_COPY_OPS and m.gbps:
            bandwidth = max(bandwidth or 0.0, m.gbps)
    return Ceilings(compute, bandwidth)


def roof_fraction(
    tflops: float | None, gbps: float | None, compute_roof: float | None, bandwidth_roof: float | None
) -> tuple[float | None, str | None]:
    """(fraction of the nearer roof, "compute"|"bandwidth"), or (None, None) when it cannot be told."""
    has_flops, has_bytes = bool(tflops), bool(gbps)
    compute = tflops / compute_roof if has_flops and compute_roof else None
    bandwidth = gbps / bandwidth_roof if has_bytes and bandwidth_roof else None
    if has_flops and has_bytes and (compute is None or bandwidth is None):
        return None, None  # one roof unknown: we can't say which one binds
    if compute is not None and (bandwidth is None or compute >= bandwidth):
        return compute, COMPUTE
    if bandwidth is not None:
        return bandwidth, BANDWIDTH
    return None, None


def _bound_by_intensity(m: Measurement) -> str | None:
    """Last resort when no roof is known: below a few flop/byte every current CPU and GPU is
    bandwidth-bound (their ridge points lie between ~5 and ~300 flop/byte)."""
    intensity = m.arithmetic_intensity
    if intensity is None:
        return COMPUTE if m.flops else (BANDWIDTH if m.bytes_moved else None)
    return BANDWIDTH if intensity < LOW_INTENSITY else COMPUTE


def _peak_note(m: Measurement, peak: DevicePeak | None) -> str | None:
    if peak is None:
        return NO_PEAK
    if m.spec.op in HOST_LINK_OPS:
        return "host link: no datasheet roof"
    if m.tflops and peak.tflops_for(m.spec.dtype) is None:
        dtype = m.spec.dtype if m.spec.dtype in PEAK_DTYPES else f"dtype '{m.spec.dtype}'"
        return f"no {dtype} peak known"
    if m.gbps and not peak.memory_gbps:
        return "no bandwidth peak known"
    return None


def _ms(value: float | None) -> float | None:
    return value * 1e3 if value is not None else None


def _mib(value: float | int | None) -> float | None:
    return value / 2**20 if value is not None else None


def derive_run(run: DeviceRun, table: PeakTable | None = None) -> list[DerivedRow]:
    peak = peak_for(run.device_name, table)
    ceilings = measured_ceilings(run)
    rows = []
    for m in run.measurements:
        ok = m.status is Status.OK and m.stats is not None
        tflops, gbps = (m.tflops, m.gbps) if ok else (None, None)
        pct_peak = bound = pct_measured = None
        note = None
        if ok and (tflops or gbps):
            note = _peak_note(m, peak)
            if peak is not None and m.spec.op not in HOST_LINK_OPS:
                frac, bound = roof_fraction(tflops, gbps, peak.tflops_for(m.spec.dtype), peak.memory_gbps)
                pct_peak = frac * 100 if frac is not None else None
            if m.spec.op not in HOST_LINK_OPS:
                compute_ceiling = ceilings.compute_tflops.get(m.spec.dtype)
                frac, measured_bound = roof_fraction(tflops, gbps, compute_ceiling, ceilings.bandwidth_gbps)
                bound = bound or measured_bound or _bound_by_intensity(m)
                if frac is None:
                    # One measured roof is missing (no fp16 matmul in this run, say): if we know which roof
                    # binds this op, the other one is not needed.
                    value, roof = (gbps, ceilings.bandwidth_gbps) if bound == BANDWIDTH else (tflops, compute_ceiling)
                    frac = value / roof if value and roof else None
                pct_measured = frac * 100 if frac is not None else None
        stats = m.stats
        rows.append(
            DerivedRow(
                device=run.label,
                backend=run.backend,
                device_name=run.device_name,
                key=m.spec.key,
                workload=m.spec.workload,
                op=m.spec.op,
                dtype=m.spec.dtype,
                shape=m.spec.shape,
                variant=m.spec.variant,
                status=m.status.value,
                reason=m.reason,
                median_ms=_ms(stats.median_s) if stats else None,
                iqr_ms=_ms(stats.iqr_s) if stats else None,
                p95_ms=_ms(stats.p95_s) if stats else None,
                min_ms=_ms(stats.min_s) if stats else None,
                n=stats.n if stats else None,
                tflops=tflops,
                gbps=gbps,
                its=m.its if ok else None,
                intensity=m.arithmetic_intensity,
                bound=bound,
                pct_peak=pct_peak,
                peak_note=note,
                pct_measured=pct_measured,
                peak_memory_mib=_mib(m.peak_memory_bytes),
                host_rss_mib=_mib(m.extra.get("host_rss_max_bytes")),
                noisy=stats.noisy if stats else None,
                check_error=m.check_error,
            )
        )
    return rows


def derive(report: BenchReport, table: PeakTable | None = None) -> list[DerivedRow]:
    """One row per measurement of every device run, in the report's order."""
    return [row for run in report.runs for row in derive_run(run, table)]


def primary_rate(row: DerivedRow) -> tuple[float, str] | None:
    """The one number to show/plot for a row: it/s for pipelines (what people compare SD runs by), GB/s
    for bandwidth-bound ops, else TFLOP/s."""
    if row.its:
        return row.its, "it/s"
    if row.gbps and (row.bound == BANDWIDTH or not row.tflops):
        return row.gbps, "GB/s"
    if row.tflops:
        return row.tflops, "TFLOP/s"
    return None


def measurement_rate(m: Measurement) -> tuple[float, str] | None:
    """A raw measurement's headline rate, for places without peaks at hand (progress lines, compare)."""
    if m.its:
        return m.its, "it/s"
    if m.gbps and (not m.tflops or _bound_by_intensity(m) == BANDWIDTH):
        return m.gbps, "GB/s"
    if m.tflops:
        return m.tflops, "TFLOP/s"
    return None


def rate_in(row: DerivedRow, unit: str) -> float | None:
    return {"TFLOP/s": row.tflops, "GB/s": row.gbps, "it/s": row.its}.get(unit)
