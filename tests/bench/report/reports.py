"""Hand-built BenchReports with realistic numbers (an H100 80GB HBM3 and a 2-core CPU), for the report tests.

Samples are spread symmetrically around the intended median, so each median is exact and the expected
rates can be written down: bf16 8192^3 matmul in 1.46 ms -> 753.1 TFLOP/s -> 76.1% of 989.
"""

from __future__ import annotations

from ipex_integration.bench.model import BenchReport, BenchSpec, DeviceRun, Measurement, Stats, Status

H100 = "NVIDIA H100 80GB HBM3"
CPU = "AMD EPYC 7B13"
GiB = 2**30


def samples(median_s: float, spread: float = 0.01, n: int = 9) -> list[float]:
    """n samples, symmetric around median_s, relative half-width `spread`."""
    half = n // 2
    return [median_s * (1 + spread * (i - half) / half) for i in range(n)]


def ok(
    workload: str, op: str, dtype: str, shape: str, median_s: float, *, variant: str = "", flops: float | None = None,
    bytes_moved: float | None = None, items: float | None = None, spread: float = 0.01, peak_memory: int | None = None,
) -> Measurement:
    s = samples(median_s, spread)
    return Measurement(
        spec=BenchSpec(workload, op, dtype, shape, variant), status=Status.OK, samples_s=s,
        stats=Stats.from_samples(s), flops=flops, bytes_moved=bytes_moved, items=items, check_error=1e-3,
        peak_memory_bytes=peak_memory,
    )


def bad(workload: str, op: str, dtype: str, shape: str, status: Status, reason: str) -> Measurement:
    return Measurement(spec=BenchSpec(workload, op, dtype, shape), status=status, reason=reason)


def matmul(dtype: str, n: int, median_s: float, elem_bytes: int) -> Measurement:
    return ok("tensor", "matmul", dtype, f"{n}x{n}x{n}", median_s, flops=2 * n**3, bytes_moved=3 * n * n * elem_bytes,
              peak_memory=3 * n * n * elem_bytes)


def h100_run() -> DeviceRun:
    n_add = 2**28
    return DeviceRun(
        backend="cuda",
        device_name=H100,
        device={"index": 0, "total_memory": 85520809984, "capability": "9.0"},
        software={"torch": "2.11.0+cu128", "python": "3.11.9"},
        measurements=[
            matmul("bf16", 8192, 1.46e-3, 2),  # 753.1 TFLOP/s
            matmul("tf32", 8192, 2.742e-3, 4),  # ~401 TFLOP/s
            matmul("fp32", 8192, 21.14e-3, 4),  # ~52 TFLOP/s
            # 1 GiB copied = 2 GiB moved (read + write) at 3.0 TB/s
            ok("tensor", "copy_d2d", "fp32", "1GiB", 2 * GiB / 3.0e12, bytes_moved=2 * GiB),
            # fp32 add of 2^28 elements: 2 reads + 1 write = 3.22 GB at 2.9 TB/s
            ok("tensor", "add", "fp32", "268435456", 3 * 4 * n_add / 2.9e12, flops=n_add, bytes_moved=3 * 4 * n_add),
            ok("tensor", "copy_h2d", "fp32", "1GiB", GiB / 25e9, bytes_moved=GiB),
            # a jittery softmax: samples +-40% around the median -> IQR/median ~ 0.4
            ok("tensor", "softmax", "fp16", "4096x4096", 0.05e-3, flops=5 * 4096 * 4096,
               bytes_moved=2 * 2 * 4096 * 4096, spread=0.4),
            ok("conv", "conv2d", "fp16", "2x320x64x64 k3", 0.35e-3, variant="channels_last",
               flops=2 * 2 * 320 * 320 * 9 * 64 * 64, bytes_moved=2 * (2 * 2 * 320 * 64 * 64 + 320 * 320 * 9)),
            bad("tensor", "layer_norm", "bf16", "8192x8192", Status.FAILED, "wrong result: rel err 0.31 > 0.02"),
            bad("tensor", "matmul", "fp32", "16384x16384x16384", Status.OOM, "out of memory at 16384"),
            ok("sd", "sd15_pipeline", "fp16", "512x512 b1 20 steps", 0.77, variant="cfg",
               flops=20 * 2 * 803e9, items=20, spread=0.02, peak_memory=3 * GiB),
        ],
    )


def cpu_run() -> DeviceRun:
    return DeviceRun(
        backend="cpu",
        device_name=CPU,
        software={"torch": "2.11.0+cpu"},
        measurements=[
            matmul("fp32", 1024, 2.1e-2, 4),  # ~0.10 TFLOP/s
            ok("tensor", "copy_d2d", "fp32", "256MiB", 2 * 2**28 / 8e9, bytes_moved=2 * 2**28),
            ok("tensor", "add", "fp32", "16777216", 3 * 4 * 2**24 / 6e9, flops=2**24, bytes_moved=3 * 4 * 2**24),
        ],
    )


def make_report(*runs: DeviceRun, complete: bool = True) -> BenchReport:
    return BenchReport(
        created="2026-05-01T12:00:00Z",
        command=["ipex-benchmark", "run", "--suite", "quick", "--devices", "all"],
        config={"suite": "quick", "only": [], "dtypes": None, "seed": 0},
        system={"cpu": "AMD EPYC 7B13", "ram_gb": 251.7, "os": "Linux 6.8", "python": "3.11.9"},
        runs=list(runs) if runs else [h100_run(), cpu_run()],
        complete=complete,
    )
