"""The harness on a real GPU (CUDA or XPU). Skipped where torch sees neither; run these on the H100:

    python -m pytest tests/bench/test_gpu.py -q
"""

from __future__ import annotations

import pytest
import torch

from ipex_integration.bench.device import DeviceOps
from ipex_integration.bench.harness import DeviceTimer, suite_timing
from ipex_integration.bench.model import Status
from ipex_integration.bench.workload import BenchContext, SuiteConfig
from ipex_integration.bench.workloads import get_workload


def _gpu() -> str | None:
    if torch.cuda.is_available():
        return "cuda"
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        return "xpu"
    return None


BACKEND = _gpu()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(BACKEND is None, reason="needs a CUDA or XPU device")]


@pytest.fixture(scope="module")
def ops() -> DeviceOps:
    return DeviceOps(f"{BACKEND}:0")


def ctx_for(ops: DeviceOps, **config) -> BenchContext:
    warmup, budget = suite_timing("quick", ops.backend)
    config = SuiteConfig(**config)
    return BenchContext(torch.device(ops.device), ops.backend, config, DeviceTimer(ops), warmup, budget, ops.info())


def test_device_info_and_event_timer(ops):
    info = ops.info()
    assert info["name"] and info["total_memory_bytes"] > 0 and info["compute_units"] > 0
    assert info["l2_cache_bytes"] >= 1 << 20
    assert ops.event_source in ("torch.Event", f"torch.{ops.backend}.Event")


def test_event_times_agree_with_the_wall_clock(ops):
    import time

    a = torch.randn(4096, 4096, device=ops.device, dtype=torch.bfloat16)
    timer = DeviceTimer(ops)
    samples = timer.time(lambda: a @ a, warmup_s=0.05, budget_s=0.2, flush_l2=True)
    median = sorted(samples)[len(samples) // 2]
    ops.synchronize()
    start = time.perf_counter()
    for _ in range(20):
        a @ a
    ops.synchronize()
    wall = (time.perf_counter() - start) / 20
    assert 0.5 * wall < median < 1.5 * wall


def test_graph_replay_gives_the_same_result(ops):
    if not ops.graph_available:
        pytest.skip("no graph API in this torch")
    a = torch.randn(256, 256, device=ops.device)
    out = torch.empty_like(a)
    replay = ops.capture_graph(lambda: torch.mul(a, 2.0, out=out))
    out.zero_()
    replay()
    ops.synchronize()
    assert torch.equal(out, a * 2)


def test_quick_matmul_bf16_and_copies_measure_ok(ops):
    tensor = get_workload("tensor")
    ctx = ctx_for(ops, sizes=(2048,), dtypes=("bf16",))
    wanted = {"matmul", "copy_h2d", "copy_d2h", "copy_d2d"}
    results = {s.op: tensor.run(s, ctx) for s in tensor.specs(ctx.config, ops.backend) if s.op in wanted}
    assert set(results) == wanted
    for op, m in results.items():
        assert m.status is Status.OK, (op, m.reason)
    assert results["matmul"].tflops > 1 and results["matmul"].peak_memory_bytes > 0
    assert results["copy_d2d"].gbps > 10


def test_fp32_is_not_silently_tf32(ops):
    tensor = get_workload("tensor")
    ctx = ctx_for(ops, sizes=(1024,), dtypes=("fp32", "tf32"))
    specs = [s for s in tensor.specs(ctx.config, ops.backend) if s.op == "matmul"]
    by_dtype = {s.dtype: tensor.run(s, ctx) for s in specs}
    assert by_dtype["fp32"].status is Status.OK and by_dtype["fp32"].check_error < 1e-4
    if by_dtype["tf32"].status is Status.OK:
        assert by_dtype["tf32"].check_error > by_dtype["fp32"].check_error


def test_conv_channels_last_and_graph(ops):
    conv = get_workload("conv")
    ctx = ctx_for(ops, graph=True)
    specs = [s for s in conv.specs(ctx.config, ops.backend) if s.shape.startswith("2x1280x8x8")][:4]
    for spec in specs:
        m = conv.run(spec, ctx)
        assert m.status in (Status.OK, Status.SKIPPED), (spec.key, m.reason)
        if m.status is Status.OK:
            assert m.tflops > 1
