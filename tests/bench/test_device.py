"""bench/device.py: the XPU and CUDA paths through a faithful fake torch namespace, the CPU path for real."""

from __future__ import annotations

import pytest
import torch

from ipex_integration.bench import device as dev
from ipex_integration.bench.device import DeviceOps, is_oom

from .fake_xpu import ARC_B580, H100, MAX_1550, TURING, FakeGpuModule, FakeTorch, fake_accelerator


def xpu_ops(props=ARC_B580, **kwargs) -> tuple[DeviceOps, FakeGpuModule]:
    generic = kwargs.pop("generic_event", False)
    accelerator = kwargs.pop("accelerator", None)
    module = FakeGpuModule("xpu", props, **kwargs)
    return DeviceOps("xpu:0", torch_module=FakeTorch(module, generic_event=generic, accelerator=accelerator)), module


def test_xpu_info_reads_real_property_names():
    ops, _ = xpu_ops()
    info = ops.info()
    assert info["name"] == "Intel(R) Arc(TM) B580 Graphics"
    assert info["total_memory_bytes"] == 12_168_933_376
    assert info["compute_units"] == 160 and info["compute_unit_kind"] == "EU"
    assert info["driver"] == "1.6.33578+13"
    assert info["capability"] == "21479031808"  # the architecture enum torch reports
    assert info["uuid"] == ARC_B580["uuid"]
    assert info["l2_cache_bytes"] == dev.XPU_DEFAULT_L2_BYTES and info["l2_cache_reported"] is False
    assert info["graph_available"] is True
    assert info["timer"] == "torch.xpu.Event"


def test_xpu_l2_of_data_center_max_is_not_the_client_default():
    ops, _ = xpu_ops(MAX_1550)
    assert ops.l2_cache_bytes() == 408 * dev.MIB


def test_cuda_l2_comes_from_the_device_properties():
    module = FakeGpuModule("cuda", H100)
    ops = DeviceOps("cuda", torch_module=FakeTorch(module))
    assert ops.device == "cuda:0"
    assert ops.l2_cache_bytes() == 52_428_800
    info = ops.info()
    assert info["capability"] == "9.0" and info["compute_units"] == 132 and info["compute_unit_kind"] == "SM"


def test_generic_torch_event_is_preferred_when_present():
    ops, module = xpu_ops(generic_event=True)
    event = ops.new_event()
    assert event is not None and ops.event_source == "torch.Event"
    assert ("torch.Event", "xpu:0") in module.calls


def test_events_whose_timing_fails_fall_back_to_host_clock():
    # torch 2.5's XPU events exist but cannot time (elapsed_time raises): the timer must not use them.
    ops, _ = xpu_ops(generic_event=True, event_timing_error="elapsed_time is not supported by XPU backend")
    assert ops.new_event() is None
    assert ops.event_source is None
    assert ops.info()["timer"] == "perf_counter+synchronize"


def test_memory_stats_use_the_backend_module_without_accelerator():
    ops, module = xpu_ops()
    assert ops.max_memory_allocated() == module.peak
    ops.reset_peak_memory_stats()
    assert ("reset_peak_memory_stats", 0) in module.calls


def test_memory_stats_prefer_torch_accelerator_for_its_own_backend():
    ops, _ = xpu_ops(accelerator=fake_accelerator("xpu", peak=42))
    assert ops.max_memory_allocated() == 42
    other, module = xpu_ops(accelerator=fake_accelerator("cuda", peak=42))
    assert other.max_memory_allocated() == module.peak  # accelerator drives another backend: not ours


@pytest.mark.parametrize(
    ("props", "kwargs", "dtype", "expect"),
    [
        (ARC_B580, {}, "fp16", None),
        ({**ARC_B580, "has_fp16": False}, {}, "fp16", "no fp16"),
        (ARC_B580, {"bf16": False}, "bf16", "is_bf16_supported"),
        (ARC_B580, {}, "tf32", "no TF32"),  # B580: no tf32 matrix engine per its properties
        (MAX_1550, {}, "tf32", None),
        (ARC_B580, {"tf32": True}, "tf32", None),  # torch 2.8+: is_tf32_supported() answers first
        ({k: v for k, v in ARC_B580.items() if "tensor_float32" not in k}, {}, "tf32", "cannot tell"),
        (ARC_B580, {}, "fp32", None),
    ],
)
def test_xpu_dtype_support(props, kwargs, dtype, expect):
    ops, _ = xpu_ops(props, **kwargs)
    reason = ops.dtype_unsupported(dtype)
    if expect is None:
        assert reason is None
    else:
        assert reason is not None and expect in reason


def test_cuda_before_ampere_cannot_run_bf16_or_tf32():
    ops = DeviceOps("cuda:0", torch_module=FakeTorch(FakeGpuModule("cuda", TURING)))
    assert "8.0" in ops.dtype_unsupported("bf16")
    assert "7.5" in ops.dtype_unsupported("tf32")
    assert ops.dtype_unsupported("fp16") is None


def test_capture_graph_captures_then_replays():
    ops, module = xpu_ops()
    seen = []
    fn = module.record_call(lambda: seen.append("op"))
    replay = ops.capture_graph(fn, warmup_calls=2)
    assert seen == ["op", "op"]  # warm-up on the side stream ran the op; capture did not
    assert module.calls.index("side stream") < module.calls.index("capture")
    replay()
    assert seen == ["op", "op", "op"] and "replay" in module.calls


def test_cpu_has_no_graph_and_no_tf32():
    ops = DeviceOps("cpu")
    assert ops.graph_available is False
    with pytest.raises(dev.GraphUnavailable):
        ops.capture_graph(lambda: None)
    assert "TF32" in ops.dtype_unsupported("tf32")
    assert ops.dtype_unsupported("bf16") is None
    assert ops.new_event() is None
    assert ops.max_memory_allocated() is None


def test_cpu_llc_from_sysfs(tmp_path):
    cache = tmp_path / "devices/system/cpu/cpu0/cache"
    for index, size in (("index0", "32K"), ("index2", "1024K"), ("index3", "16M")):
        (cache / index).mkdir(parents=True)
        (cache / index / "size").write_text(size + "\n")
    assert dev.cpu_llc_bytes(tmp_path) == 16 * dev.MIB
    assert dev.cpu_llc_bytes(tmp_path / "nothing") == dev.CPU_DEFAULT_LLC_BYTES
    assert DeviceOps("cpu", sysfs_root=tmp_path).info()["l2_cache_bytes"] == 16 * dev.MIB


def test_float32_mode_switches_tf32_and_restores():
    ops = DeviceOps("cpu")
    before = torch.get_float32_matmul_precision()
    with ops.float32_mode("tf32"):
        assert torch.get_float32_matmul_precision() == "high"
    with ops.float32_mode("fp32"):
        assert torch.get_float32_matmul_precision() == "highest"
    assert torch.get_float32_matmul_precision() == before


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match="unsupported device"):
        DeviceOps("tpu:0", torch_module=object())


@pytest.mark.parametrize(
    ("exc", "expect"),
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (RuntimeError("XPU out of memory. Tried to allocate 4.00 GiB"), True),
        (RuntimeError("level_zero backend failed with error: 39 (UR_RESULT_ERROR_OUT_OF_DEVICE_MEMORY)"), True),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes"), True),
        (MemoryError(), True),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
        (ValueError("out of memory"), False),
    ],
)
def test_is_oom(exc, expect):
    assert is_oom(exc) is expect
