"""A fake `torch` namespace with a fake `torch.xpu` (and, by the same recipe, `torch.cuda`) for testing
bench/device.py and the harness where no Intel or NVIDIA GPU exists.

It stands in for the device-generic parts of real torch that device.py calls, with real torch's names and
signatures: `torch.xpu.{is_available, device_count, get_device_properties, synchronize, Event, Stream, stream,
current_stream, graph, XPUGraph, max_memory_allocated, reset_peak_memory_stats, empty_cache,
is_bf16_supported}`, the generic `torch.Event(device=..., enable_timing=...)`, `torch.accelerator` and
`torch.{get,set}_float32_matmul_precision`. Device properties carry the fields real `_XpuDeviceProperties`
has (torch 2.5+, names as printed by `torch.xpu.get_device_properties(0)` on an Arc B580).

Events read a FakeClock: `record()` stamps the clock, `elapsed_time(end)` returns milliseconds, as real
events do. Every call is recorded in `calls` so tests can assert what the layer did.
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any

ARC_B580 = {
    "name": "Intel(R) Arc(TM) B580 Graphics",
    "platform_name": "Intel(R) oneAPI Unified Runtime over Level-Zero",
    "vendor": "Intel(R) Corporation",
    "type": "gpu",
    "driver_version": "1.6.33578+13",
    "version": "20.1.0",
    "total_memory": 12_168_933_376,
    "max_compute_units": 160,
    "gpu_eu_count": 160,
    "gpu_subslice_count": 20,
    "max_work_group_size": 1024,
    "max_num_sub_groups": 64,
    "sub_group_sizes": [16, 32],
    "has_fp16": True,
    "has_fp64": True,
    "has_atomic64": True,
    "has_bfloat16_conversions": True,
    "has_subgroup_matrix_multiply_accumulate": True,
    "has_subgroup_matrix_multiply_accumulate_tensor_float32": False,
    "has_subgroup_2d_block_io": True,
    "device_id": 57867,
    "architecture": 21479031808,
    "uuid": "86800be2-0000-0000-0300-000000000000",
}
MAX_1550 = {**ARC_B580, "name": "Intel(R) Data Center GPU Max 1550", "gpu_eu_count": 1024,
            "total_memory": 68_719_476_736, "has_subgroup_matrix_multiply_accumulate_tensor_float32": True}
H100 = {
    "name": "NVIDIA H100 80GB HBM3",
    "total_memory": 85_045_870_592,
    "major": 9,
    "minor": 0,
    "multi_processor_count": 132,
    "L2_cache_size": 52_428_800,
    "uuid": "58ff5b63-7ff0-d1e2-5d2b-2bb3f2c0a0f1",
}
TURING = {**H100, "name": "NVIDIA GeForce RTX 2080", "major": 7, "minor": 5, "L2_cache_size": 4_194_304}


class FakeClock:
    """A host clock that only moves when told to (the harness's `clock` parameter)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeEvent:
    def __init__(self, module: "FakeGpuModule", enable_timing: bool = False) -> None:
        self.module = module
        self.enable_timing = enable_timing
        self.stamp: float | None = None

    def record(self, stream: Any = None) -> None:
        self.stamp = self.module.clock()

    def synchronize(self) -> None:
        pass

    def query(self) -> bool:
        return True

    def elapsed_time(self, end: "FakeEvent") -> float:
        if self.module.event_timing_error:
            raise RuntimeError(self.module.event_timing_error)
        if not (self.enable_timing and end.enable_timing):
            raise ValueError("Both events must be created with argument 'enable_timing=True'.")
        return (end.stamp - self.stamp) * 1e3


class FakeGraph:
    def __init__(self, module: "FakeGpuModule") -> None:
        self.module = module
        self.captured = None

    def replay(self) -> None:
        self.module.calls.append("replay")
        self.captured()


class FakeGpuModule:
    """torch.xpu (kind "xpu") or torch.cuda (kind "cuda") for one device with the given properties."""

    def __init__(self, kind: str, props: dict, clock: FakeClock | None = None, *, bf16: bool = True,
                 tf32: bool | None = None, event_timing_error: str | None = None) -> None:
        self.kind = kind
        self.props = SimpleNamespace(**props)
        self.clock = clock or FakeClock()
        self.calls: list[Any] = []
        self.peak = 123_456_789
        self.bf16 = bf16
        self.event_timing_error = event_timing_error
        self._capturing: Any = None
        if tf32 is not None:  # torch.xpu.is_tf32_supported exists from torch 2.8 only
            self.is_tf32_supported = lambda: tf32
        graph_name = "XPUGraph" if kind == "xpu" else "CUDAGraph"
        setattr(self, graph_name, lambda keep_graph=False: FakeGraph(self))

    def is_available(self) -> bool:
        return True

    def device_count(self) -> int:
        return 1

    def get_device_properties(self, device: Any = None) -> SimpleNamespace:
        return self.props

    def synchronize(self, device: Any = None) -> None:
        self.calls.append(("synchronize", device))

    def Event(self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False) -> FakeEvent:
        return FakeEvent(self, enable_timing)

    def Stream(self, device: Any = None, priority: int = 0) -> SimpleNamespace:
        return SimpleNamespace(wait_stream=lambda other: None)

    def current_stream(self, device: Any = None) -> SimpleNamespace:
        return SimpleNamespace(wait_stream=lambda other: None)

    @contextlib.contextmanager
    def stream(self, stream: Any):
        self.calls.append("side stream")
        yield

    @contextlib.contextmanager
    def graph(self, graph: FakeGraph, pool: Any = None, stream: Any = None):
        self.calls.append("capture")
        self._capturing = graph
        yield
        self._capturing = None

    def record_call(self, fn):
        """Wrap an op so a call inside `graph()` is captured rather than run (as real capture does)."""

        def wrapped():
            if self._capturing is not None:
                self._capturing.captured = fn
                return None
            return fn()

        return wrapped

    def max_memory_allocated(self, device: Any = None) -> int:
        return self.peak

    def reset_peak_memory_stats(self, device: Any = None) -> None:
        self.calls.append(("reset_peak_memory_stats", device))

    def empty_cache(self) -> None:
        self.calls.append("empty_cache")

    def is_bf16_supported(self, including_emulation: bool = True) -> bool:
        return self.bf16


class FakeTorch(SimpleNamespace):
    """The `torch` namespace: `xpu`/`cuda` modules, optionally a generic `Event` and `accelerator`."""

    def __init__(self, module: FakeGpuModule, *, generic_event: bool = False, accelerator: Any = None) -> None:
        super().__init__()
        setattr(self, module.kind, module)
        self.precision = "highest"
        if generic_event:
            def event(device=None, *, enable_timing=False, blocking=False, interprocess=False):
                module.calls.append(("torch.Event", str(device)))
                return FakeEvent(module, enable_timing)

            self.Event = event
        if accelerator is not None:
            self.accelerator = accelerator

    def get_float32_matmul_precision(self) -> str:
        return self.precision

    def set_float32_matmul_precision(self, value: str) -> None:
        self.precision = value


def fake_accelerator(kind: str, peak: int) -> SimpleNamespace:
    """torch.accelerator (2.6+; memory functions 2.8+) whose current accelerator is `kind`."""
    return SimpleNamespace(
        current_accelerator=lambda: SimpleNamespace(type=kind),
        max_memory_allocated=lambda device_index=None: peak,
        reset_peak_memory_stats=lambda device_index=None: None,
    )
