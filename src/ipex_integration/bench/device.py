"""The device-generic layer under the harness: synchronize, timing events, memory stats, L2 size, graph
capture, dtype support and a device-info dict, for CUDA, Intel XPU and CPU.

Built on torch's device-generic APIs (`torch.Event`, `torch.accelerator`) and on the per-backend modules
(`torch.cuda`, `torch.xpu`), whose functions share names, so running on CUDA exercises most of the XPU path.
What differs between backends lives in one table, `BACKENDS`. Runs inside a backend environment (the worker),
never in the CLI's own process. `torch_module` is the test seam: tests pass a fake `torch` with a fake `xpu`.
"""

from __future__ import annotations

import contextlib
import os
import platform
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

MIB = 1 << 20

# Intel GPUs do not report their L2 size through torch. Client parts (Arc A770 16 MiB, Arc B580 18 MiB,
# Lunar Lake iGPU 8 MiB) all sit well under 64 MiB, so assuming 64 MiB over-flushes them a little, which only
# costs time. Data Center GPU Max has a 408 MiB L2 (1550; 204 MiB on the 1100): a 64 MiB guess would leave
# data cached there, so that family is named below. Overestimating is safe, underestimating is not.
XPU_DEFAULT_L2_BYTES = 64 * MIB
XPU_L2_BY_NAME = (("Max 1100", 204 * MIB), ("Data Center GPU Max", 408 * MIB))
# CPU: the last-level cache from sysfs; this when sysfs does not say (a large server L3 slice).
CPU_DEFAULT_LLC_BYTES = 32 * MIB


@dataclass(frozen=True)
class BackendNames:
    """What is named differently per GPU backend. Everything else is the same call on `torch.<module>`."""

    module: str  # attribute of torch: "cuda" | "xpu"
    graph_class: str  # graph object in that module
    compute_units: tuple[str, ...]  # device-property names for the SM / EU count, first present wins
    compute_unit_kind: str  # what the count counts
    default_l2_bytes: int | None  # None: the device properties report it (L2_cache_size)


BACKENDS: dict[str, BackendNames] = {
    "cuda": BackendNames("cuda", "CUDAGraph", ("multi_processor_count",), "SM", None),
    "xpu": BackendNames("xpu", "XPUGraph", ("gpu_eu_count", "max_compute_units"), "EU", XPU_DEFAULT_L2_BYTES),
}


def _import_torch() -> Any:
    import torch

    return torch


class DeviceOps:
    """One device's operations. `device` is a torch device string: "cuda:0", "xpu:0", "cpu"."""

    def __init__(self, device: Any = "cpu", *, torch_module: Any = None, sysfs_root: Path = Path("/sys")) -> None:
        text = str(device)
        self.backend, _, index = text.partition(":")
        if self.backend != "cpu" and self.backend not in BACKENDS:
            raise ValueError(f"unsupported device {text!r}; expected cuda[:N], xpu[:N] or cpu")
        self.index = int(index) if index else 0
        self.device = "cpu" if self.backend == "cpu" else f"{self.backend}:{self.index}"
        self.torch = torch_module if torch_module is not None else _import_torch()
        self.sysfs_root = sysfs_root
        self._event_factory: Callable[[], Any] | None | bool = False  # False: not chosen yet
        self.event_source: str | None = None

    # -- basics -------------------------------------------------------------------------------------

    @property
    def is_gpu(self) -> bool:
        return self.backend != "cpu"

    @property
    def names(self) -> BackendNames | None:
        return BACKENDS.get(self.backend)

    @property
    def module(self) -> Any:
        """torch.cuda / torch.xpu (None on CPU)."""
        return getattr(self.torch, self.names.module) if self.names else None

    def synchronize(self) -> None:
        if self.is_gpu:
            self.module.synchronize(self.index)

    def empty_cache(self) -> None:
        if self.is_gpu:
            self.module.empty_cache()

    def properties(self) -> Any:
        return self.module.get_device_properties(self.index) if self.is_gpu else None

    # -- events -------------------------------------------------------------------------------------

    def new_event(self) -> Any | None:
        """A timing event (`record()`, `elapsed_time(end)` in ms), or None where the device has none (CPU,
        or a torch too old for XPU timing events): then the timer synchronizes around a host clock."""
        if self._event_factory is False:
            self._event_factory = self._choose_event_factory()
        return self._event_factory() if self._event_factory else None

    def _choose_event_factory(self) -> Callable[[], Any] | None:
        if not self.is_gpu:
            return None
        candidates: list[tuple[str, Callable[[], Any]]] = []
        generic = getattr(self.torch, "Event", None)
        if generic is not None:
            candidates.append(("torch.Event", lambda: generic(device=self.device, enable_timing=True)))
        specific = getattr(self.module, "Event", None)
        if specific is not None:
            candidates.append((f"torch.{self.backend}.Event", lambda: specific(enable_timing=True)))
        for source, factory in candidates:
            # Prove the pair works end to end once: XPU events exist before their timing does (torch 2.6).
            try:
                start, end = factory(), factory()
                start.record()
                end.record()
                end.synchronize()
                float(start.elapsed_time(end))
            except Exception:  # noqa: BLE001 - any failure means "use the next kind"
                continue
            self.event_source = source
            return factory
        self.event_source = None
        return None

    # -- memory -------------------------------------------------------------------------------------

    def _memory_fn(self, name: str) -> Callable[..., Any] | None:
        """torch.accelerator's function when it drives this backend, else torch.<backend>'s, else None."""
        if not self.is_gpu:
            return None
        accelerator = getattr(self.torch, "accelerator", None)
        fn = getattr(accelerator, name, None) if accelerator is not None else None
        if fn is not None:
            try:
                current = accelerator.current_accelerator()
            except Exception:  # noqa: BLE001
                current = None
            if getattr(current, "type", None) == self.backend:
                return fn
        return getattr(self.module, name, None)

    def max_memory_allocated(self) -> int | None:
        fn = self._memory_fn("max_memory_allocated")
        try:
            return int(fn(self.index)) if fn else None
        except Exception:  # noqa: BLE001 - a stat we cannot read is unknown, not an error
            return None

    def reset_peak_memory_stats(self) -> None:
        fn = self._memory_fn("reset_peak_memory_stats")
        if fn:
            with contextlib.suppress(Exception):
                fn(self.index)

    # -- caches -------------------------------------------------------------------------------------

    def l2_cache_bytes(self) -> int:
        """Last-level cache the L2 flush must overwrite (the CPU's LLC on CPU)."""
        if not self.is_gpu:
            return cpu_llc_bytes(self.sysfs_root)
        reported = getattr(self.properties(), "L2_cache_size", None)
        if reported:
            return int(reported)
        name = str(getattr(self.properties(), "name", ""))
        for part, size in XPU_L2_BY_NAME if self.backend == "xpu" else ():
            if part in name:
                return size
        # CUDA torch older than 2.1 has no L2_cache_size; 64 MiB is above every NVIDIA L2 but Blackwell's.
        return self.names.default_l2_bytes or XPU_DEFAULT_L2_BYTES

    # -- graphs -------------------------------------------------------------------------------------

    @property
    def graph_available(self) -> bool:
        if not self.is_gpu:
            return False
        module = self.module
        return all(getattr(module, n, None) is not None for n in (self.names.graph_class, "graph", "Stream"))

    def capture_graph(self, fn: Callable[[], Any], warmup_calls: int = 3) -> Callable[[], Any]:
        """Capture `fn` in a device graph; returns the replay. Warm-up runs on a side stream first, as
        capture requires (lazy library handles and workspaces must exist before capture begins)."""
        if not self.graph_available:
            raise GraphUnavailable(f"no graph capture API for {self.backend} in this torch")
        module = self.module
        side = module.Stream()
        side.wait_stream(module.current_stream())
        with module.stream(side):
            for _ in range(warmup_calls):
                fn()
        module.current_stream().wait_stream(side)
        self.synchronize()
        graph = getattr(module, self.names.graph_class)()
        with module.graph(graph):
            fn()
        self.synchronize()
        return graph.replay

    # -- dtypes -------------------------------------------------------------------------------------

    def dtype_unsupported(self, dtype: str) -> str | None:
        """Why this device cannot run `dtype` ("fp32", "tf32", "fp16", "bf16", "-"), or None if it can."""
        if dtype in ("fp32", "-"):
            return None
        if self.backend == "cpu":
            if dtype == "tf32":
                return "CPU has no TF32 mode (TF32 is a tensor-core format of NVIDIA Ampere+ / Intel Xe-HPC GPUs)"
            return None
        props = self.properties()
        if self.backend == "cuda":
            capability = (getattr(props, "major", 0), getattr(props, "minor", 0))
            if dtype in ("tf32", "bf16") and capability < (8, 0):
                return f"{dtype} needs compute capability 8.0+ (Ampere); this GPU is {capability[0]}.{capability[1]}"
            return None
        # XPU: ask the properties and helpers this torch has.
        if dtype == "fp16" and getattr(props, "has_fp16", True) is False:
            return "this XPU reports no fp16 support (has_fp16 = 0)"
        if dtype == "bf16":
            check = getattr(self.module, "is_bf16_supported", None)
            if check is not None and not check():
                return "torch.xpu.is_bf16_supported() is False on this device"
        if dtype == "tf32":
            check = getattr(self.module, "is_tf32_supported", None)
            if check is not None:
                return None if check() else "torch.xpu.is_tf32_supported() is False on this device"
            flag = getattr(props, "has_subgroup_matrix_multiply_accumulate_tensor_float32", None)
            if flag is None:
                return "this torch cannot tell whether the XPU supports TF32 (no is_tf32_supported)"
            return None if flag else "this XPU has no TF32 matrix engine"
        return None

    @contextlib.contextmanager
    def float32_mode(self, dtype: str) -> Iterator[None]:
        """fp32 means IEEE fp32 (TF32 off, also for cuDNN convolutions, which default to TF32); tf32 turns
        TF32 on. Other dtypes leave the settings alone. Restores what it found."""
        if dtype not in ("fp32", "tf32"):
            yield
            return
        torch = self.torch
        tf32 = dtype == "tf32"
        old_precision = torch.get_float32_matmul_precision()
        cudnn = getattr(getattr(torch, "backends", None), "cudnn", None)
        old_cudnn = getattr(cudnn, "allow_tf32", None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # newer torch nags about the older TF32 switches
            torch.set_float32_matmul_precision("high" if tf32 else "highest")
            if cudnn is not None and old_cudnn is not None:
                cudnn.allow_tf32 = tf32
        try:
            yield
        finally:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.set_float32_matmul_precision(old_precision)
                if cudnn is not None and old_cudnn is not None:
                    cudnn.allow_tf32 = old_cudnn

    # -- info ---------------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """What we know about the device, JSON-ready. Unknown values are None."""
        if not self.is_gpu:
            return cpu_info(self.sysfs_root)
        props = self.properties()
        names = self.names
        capability = None
        if self.backend == "cuda" and hasattr(props, "major"):
            capability = f"{props.major}.{props.minor}"
        elif self.backend == "xpu":
            arch = getattr(props, "architecture", None)
            capability = str(arch) if arch is not None else getattr(props, "version", None)
        units = next((getattr(props, n) for n in names.compute_units if getattr(props, n, None)), None)
        uuid = getattr(props, "uuid", None)
        return {
            "backend": self.backend,
            "index": self.index,
            "name": str(getattr(props, "name", self.device)),
            "total_memory_bytes": _int_or_none(getattr(props, "total_memory", None)),
            "capability": capability,
            "compute_units": _int_or_none(units),
            "compute_unit_kind": names.compute_unit_kind,
            "uuid": str(uuid) if uuid is not None else None,
            "driver": self._driver_version(props),
            "l2_cache_bytes": self.l2_cache_bytes(),
            "l2_cache_reported": bool(getattr(props, "L2_cache_size", None)),
            "graph_available": self.graph_available,
            "timer": self._timer_name(),
        }

    def _timer_name(self) -> str:
        self.new_event()
        return self.event_source or "perf_counter+synchronize"

    def _driver_version(self, props: Any) -> str | None:
        if self.backend == "xpu":
            value = getattr(props, "driver_version", None)
            return str(value) if value else None
        try:  # CUDA: torch does not expose the driver version; NVML does, if the package is here.
            import pynvml

            pynvml.nvmlInit()
            try:
                value = pynvml.nvmlSystemGetDriverVersion()
            finally:
                pynvml.nvmlShutdown()
            return value.decode() if isinstance(value, bytes) else str(value)
        except Exception:  # noqa: BLE001 - unknown, not an error
            return None


class GraphUnavailable(RuntimeError):
    """This device/torch has no graph capture API."""


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def is_oom(exc: BaseException) -> bool:
    """True for out-of-memory errors on any backend: torch.OutOfMemoryError (CUDA, recent XPU), or the
    RuntimeError text older XPU/CPU builds raise."""
    if type(exc).__name__ == "OutOfMemoryError" or isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    signs = ("out of memory", "out_of_device_memory", "can't allocate memory")
    return isinstance(exc, RuntimeError) and any(sign in text for sign in signs)


# -- CPU ------------------------------------------------------------------------------------------


def cpu_llc_bytes(sysfs_root: Path = Path("/sys")) -> int:
    """The largest cache of cpu0 per sysfs (its last level), or CPU_DEFAULT_LLC_BYTES."""
    best = 0
    for size_file in sorted((sysfs_root / "devices/system/cpu/cpu0/cache").glob("index*/size")):
        with contextlib.suppress(OSError, ValueError):
            best = max(best, _parse_cache_size(size_file.read_text().strip()))
    return best or CPU_DEFAULT_LLC_BYTES


def _parse_cache_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text and text[-1].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)


def cpu_info(sysfs_root: Path = Path("/sys"), cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    name = None
    with contextlib.suppress(OSError):
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "backend": "cpu",
        "index": None,
        "name": name or platform.processor() or platform.machine() or "CPU",
        "total_memory_bytes": memory,
        "capability": platform.machine() or None,
        "compute_units": os.cpu_count(),
        "compute_unit_kind": "logical CPU",
        "uuid": None,
        "driver": None,
        "l2_cache_bytes": cpu_llc_bytes(sysfs_root),
        "l2_cache_reported": True,
        "graph_available": False,
        "timer": "perf_counter",
    }


# -- module-level helpers for workloads (one cached DeviceOps per device) -----------------------------


@lru_cache(maxsize=None)
def device_ops(device: str) -> DeviceOps:
    """The shared DeviceOps of a device string (workloads call this with str(ctx.device))."""
    return DeviceOps(device)


def synchronize(device: Any) -> None:
    device_ops(str(device)).synchronize()


def max_memory_allocated(device: Any) -> int | None:
    return device_ops(str(device)).max_memory_allocated()


def reset_peak_memory_stats(device: Any) -> None:
    device_ops(str(device)).reset_peak_memory_stats()


def empty_cache(device: Any) -> None:
    device_ops(str(device)).empty_cache()


def device_info(device: Any) -> dict[str, Any]:
    return device_ops(str(device)).info()
