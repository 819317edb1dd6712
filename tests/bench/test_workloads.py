"""The workload registry and the tensor/conv workloads: which specs each suite lists, and real CPU runs of
small specs (checked against float64, timed)."""

from __future__ import annotations

import pytest
import torch

from ipex_integration.bench.device import DeviceOps
from ipex_integration.bench.harness import DeviceTimer
from ipex_integration.bench.model import BenchSpec, Status
from ipex_integration.bench.workload import BenchContext, SuiteConfig
from ipex_integration.bench.workloads import (
    KNOWN_OPS,
    get_workload,
    op_selected,
    selected_workloads,
    split_only,
)
from ipex_integration.errors import UsageError

tensor = get_workload("tensor")
conv = get_workload("conv")


def keys(specs) -> set[str]:
    return {s.key for s in specs}


def test_registry_names_and_errors():
    assert tensor.name == "tensor" and conv.name == "conv"
    with pytest.raises(UsageError, match="choose from: tensor, conv, sd"):
        get_workload("llm2")


def test_known_ops_match_what_the_workloads_list():
    for workload in (tensor, conv):
        listed = {s.op for s in workload.specs(SuiteConfig(suite="full"), "cuda")}
        assert listed == set(KNOWN_OPS[workload.name])


def test_known_sd_ops_are_the_sd_workloads_own():
    from ipex_integration.bench.workloads import sd

    assert set(KNOWN_OPS["sd"]) == set(sd.OPS)
    assert split_only(["sd15_pipeline"]) == ((), ("sd15_pipeline",))


def test_split_only_sorts_workloads_from_ops_and_rejects_unknowns():
    assert split_only(["tensor", "conv2d", "matmul", "tensor"]) == (("tensor",), ("conv2d", "matmul"))
    with pytest.raises(UsageError) as err:
        split_only(["matmull"])
    assert "unknown workload or op 'matmull'" in err.value.message and "sdpa" in err.value.message


def test_selection_of_workloads_and_ops():
    assert selected_workloads((), ()) == ("tensor", "conv", "sd")
    assert selected_workloads(("sd",), ("matmul",)) == ("tensor", "sd")
    assert op_selected("tensor", "matmul", (), ("matmul",))
    assert not op_selected("tensor", "add", (), ("matmul",))
    assert op_selected("conv", "conv2d", ("conv",), ("matmul",))


def test_quick_gpu_tensor_specs_cover_the_issue():
    specs = keys(tensor.specs(SuiteConfig(), "cuda"))
    for dtype in ("fp32", "tf32", "fp16", "bf16"):
        assert f"tensor/matmul/{dtype}/8192x8192x8192" in specs
    assert "tensor/sdpa/fp16/2x8x4096x40" in specs
    assert "tensor/sdpa_cross/fp16/2x8x4096x40 kv77" in specs
    assert "tensor/group_norm/bf16/2x320x64x64 g32" in specs
    assert {"tensor/copy_h2d/-/256MiB", "tensor/copy_d2h/-/256MiB", "tensor/copy_d2d/-/256MiB"} <= specs
    assert not any("cpu-scaled" in k for k in specs)


def test_cpu_specs_are_scaled_and_say_so():
    specs = tensor.specs(SuiteConfig(), "cpu")
    by_op = {s.op: s for s in specs}
    assert "copy_h2d" not in by_op and "copy_d2d" in by_op
    assert by_op["sdpa"].shape == "1x8x1024x40 cpu-scaled"
    assert max(int(s.shape.split("x")[0]) for s in specs if s.op == "matmul") <= 1024
    assert {s.dtype for s in specs if s.op == "matmul"} == {"fp32", "bf16"}  # CPU fp16 matmul is ~100x slower


def test_dtype_and_size_overrides():
    specs = tensor.specs(SuiteConfig(dtypes=("tf32",), sizes=(128,)), "cpu")
    matmuls = [s for s in specs if s.op == "matmul"]
    assert [(s.dtype, s.shape) for s in matmuls] == [("tf32", "128x128x128")]  # listed, then skipped on CPU
    assert not [s for s in specs if s.op == "add"]  # tf32 means nothing to an add
    adds = [s for s in tensor.specs(SuiteConfig(dtypes=("bf16",), sizes=(512,)), "cuda") if s.op == "add"]
    assert [s.key for s in adds] == ["tensor/add/bf16/512x512"]


def test_graph_variants_only_on_gpus():
    gpu = tensor.specs(SuiteConfig(graph=True), "cuda")
    assert any(s.variant == "graph" and s.op == "matmul" for s in gpu)
    assert not any(s.variant == "graph" and s.op == "copy_h2d" for s in gpu)
    assert not any(s.variant for s in tensor.specs(SuiteConfig(graph=True), "cpu"))
    conv_gpu = {s.variant for s in conv.specs(SuiteConfig(graph=True), "cuda")}
    assert conv_gpu == {"", "graph", "channels_last", "channels_last+graph"}


def test_conv_specs_are_sd15_unet_shapes():
    quick = conv.specs(SuiteConfig(), "cuda")
    assert len(quick) == 4 * 2 * 2  # 4 shapes x fp16/bf16 x 2 layouts
    assert "conv/conv2d/fp16/2x320x64x64->320 k3/channels_last" in keys(quick)
    full = keys(conv.specs(SuiteConfig(suite="full"), "cuda"))
    assert "conv/conv2d/tf32/2x2560x16x16->1280 k3" in full  # up block 1: output + skip connection
    assert "conv/conv2d/fp32/2x4x64x64->320 k3" in full  # conv_in
    cpu = conv.specs(SuiteConfig(), "cpu")
    assert {s.shape for s in cpu} == {"1x320x32x32->320 k3 cpu-scaled", "1x640x16x16->640 k3 cpu-scaled"}


# -- real runs on the CPU ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx() -> BenchContext:
    ops = DeviceOps("cpu")
    config = SuiteConfig(sizes=(128,), dtypes=("fp32", "bf16"))
    return BenchContext(torch.device("cpu"), "cpu", config, DeviceTimer(ops), 0.0, 0.003, ops.info())


@pytest.mark.parametrize(
    "op",
    ["matmul", "bmm", "add", "mul", "gelu", "sum", "softmax", "layer_norm", "group_norm", "sdpa", "sdpa_cross"]
    + ["copy_d2d"],
)
def test_tensor_ops_run_checked_and_timed_on_cpu(ctx, op):
    spec = next(s for s in tensor.specs(ctx.config, "cpu") if s.op == op and s.dtype in ("fp32", "-"))
    m = tensor.run(spec, ctx)
    assert m.status is Status.OK, m.reason
    assert m.check_error is not None and m.check_error <= 1e-4
    assert m.stats.n >= 5 and m.stats.median_s > 0
    assert (m.tflops or m.gbps) > 0


def test_bf16_matmul_error_is_bf16_sized(ctx):
    spec = BenchSpec("tensor", "matmul", "bf16", "128x128x128")
    m = tensor.run(spec, ctx)
    assert m.status is Status.OK and 1e-4 < m.check_error < 2e-2


def test_conv_runs_in_both_layouts_on_cpu():
    ops = DeviceOps("cpu")
    ctx = BenchContext(torch.device("cpu"), "cpu", SuiteConfig(), DeviceTimer(ops), 0.0, 0.003)
    specs = conv.specs(ctx.config, "cpu")[:2]
    assert {s.variant for s in specs} == {"", "channels_last"}
    for spec in specs:
        m = conv.run(spec, ctx)
        assert m.status is Status.OK, m.reason
        assert m.tflops > 0 and m.check_error < 1e-4
        assert m.extra["channels_last"] is (spec.variant == "channels_last")


def test_unknown_spec_is_failed_not_raised(ctx):
    m = tensor.run(BenchSpec("tensor", "matmul", "fp32", "7x7x7"), ctx)
    assert m.status is Status.FAILED and "not a spec" in m.reason
