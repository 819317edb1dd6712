"""The benchmark's data: what was measured (`BenchSpec`), what came out (`Measurement`), and the whole
result file (`BenchReport`). Plain dataclasses; `to_dict`/`from_dict` define the JSON schema, whose
version is SCHEMA_VERSION (bump it on any incompatible change; `compare` refuses other versions)."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Sequence

SCHEMA_NAME = "ipex-integration/benchmark"
SCHEMA_VERSION = 1

# IQR/median above this marks a measurement as noisy: on a quiet GPU, repeat runs of a kernel agree to a
# few percent; 10% means something else (clocks, other tenants, host jitter) is in the numbers.
NOISY_IQR_RATIO = 0.10


class Status(str, Enum):
    OK = "ok"
    FAILED = "failed"  # wrong result (correctness check) or an exception: never reported as a time
    SKIPPED = "skipped"  # e.g. a dtype the device cannot run; `reason` says why
    OOM = "oom"  # out of memory at this size; the suite goes on


@dataclass(frozen=True)
class BenchSpec:
    """What is measured: hashable, the key that merges repeat runs and matches ops across reports."""

    workload: str  # "tensor" | "conv" | "sd" | "llm"
    op: str  # "matmul", "add", "copy_d2d", "conv2d", "sd15_pipeline", ...
    dtype: str  # "fp32" | "tf32" | "fp16" | "bf16" | "-"
    shape: str  # human-readable: "8192x8192x8192", "2x320x64x64 k3"
    variant: str = ""  # "channels_last", "graph", "cfg", ...

    @property
    def key(self) -> str:
        parts = [self.workload, self.op, self.dtype, self.shape]
        if self.variant:
            parts.append(self.variant)
        return "/".join(parts)


@dataclass(frozen=True)
class Stats:
    """Summary of per-repetition times in seconds."""

    n: int
    median_s: float
    mean_s: float
    min_s: float
    p95_s: float
    iqr_s: float

    @classmethod
    def from_samples(cls, samples: Sequence[float]) -> "Stats":
        if not samples:
            raise ValueError("no samples")
        ordered = sorted(samples)
        return cls(
            n=len(ordered),
            median_s=statistics.median(ordered),
            mean_s=statistics.fmean(ordered),
            min_s=ordered[0],
            p95_s=_quantile(ordered, 0.95),
            iqr_s=_quantile(ordered, 0.75) - _quantile(ordered, 0.25),
        )

    @property
    def iqr_ratio(self) -> float:
        return self.iqr_s / self.median_s if self.median_s > 0 else math.inf

    @property
    def noisy(self) -> bool:
        return self.iqr_ratio > NOISY_IQR_RATIO


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on already sorted data."""
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class Measurement:
    """One spec measured on one device. Rates are derived from the median time.

    flops / bytes_moved are per repetition (one timed call). For pipeline workloads `items` counts
    the iterations one repetition does (e.g. steps x batch), giving it/s.
    """

    spec: BenchSpec
    status: Status
    reason: str | None = None
    samples_s: list[float] = field(default_factory=list)
    stats: Stats | None = None
    flops: float | None = None
    bytes_moved: float | None = None
    items: float | None = None  # iterations per repetition, for it/s
    check_error: float | None = None  # relative error vs the float64 CPU reference
    peak_memory_bytes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # workload-specific numbers (unet_it_s, s_per_image...)

    @property
    def tflops(self) -> float | None:
        if self.stats is None or not self.flops:
            return None
        return self.flops / self.stats.median_s / 1e12

    @property
    def gbps(self) -> float | None:
        if self.stats is None or not self.bytes_moved:
            return None
        return self.bytes_moved / self.stats.median_s / 1e9

    @property
    def its(self) -> float | None:
        if self.stats is None or not self.items:
            return None
        return self.items / self.stats.median_s

    @property
    def arithmetic_intensity(self) -> float | None:
        """FLOP per byte moved, for the roofline plot."""
        if not self.flops or not self.bytes_moved:
            return None
        return self.flops / self.bytes_moved

    def to_dict(self) -> dict:
        return {
            "key": self.spec.key,
            "spec": asdict(self.spec),
            "status": self.status.value,
            "reason": self.reason,
            "samples_s": list(self.samples_s),
            "stats": asdict(self.stats) if self.stats else None,
            "flops": self.flops,
            "bytes_moved": self.bytes_moved,
            "items": self.items,
            "tflops": self.tflops,
            "gbps": self.gbps,
            "its": self.its,
            "check_error": self.check_error,
            "peak_memory_bytes": self.peak_memory_bytes,
            "noisy": self.stats.noisy if self.stats else None,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Measurement":
        stats = data.get("stats")
        return cls(
            spec=BenchSpec(**data["spec"]),
            status=Status(data["status"]),
            reason=data.get("reason"),
            samples_s=list(data.get("samples_s") or []),
            stats=Stats(**stats) if stats else None,
            flops=data.get("flops"),
            bytes_moved=data.get("bytes_moved"),
            items=data.get("items"),
            check_error=data.get("check_error"),
            peak_memory_bytes=data.get("peak_memory_bytes"),
            extra=dict(data.get("extra") or {}),
        )


@dataclass
class DeviceRun:
    """All measurements of one device, with what we know about that device and its software."""

    backend: str  # "cuda" | "xpu" | "cpu"
    device_name: str  # "NVIDIA H100 80GB HBM3", "Intel(R) Arc(TM) A770 Graphics", CPU model
    device: dict[str, Any] = field(default_factory=dict)  # index, uuid, memory, capability, driver, ...
    software: dict[str, Any] = field(default_factory=dict)  # torch version/build, python, ...
    measurements: list[Measurement] = field(default_factory=list)
    error: str | None = None  # the worker failed as a whole (the other devices' runs still count)

    @property
    def label(self) -> str:
        """"cuda:1: NVIDIA H100 80GB HBM3": the GPU's number as `ipex devices` lists it, so two cards of one
        model stay apart in a report (inside the worker every chosen GPU is device 0)."""
        index = self.device.get("plan_device_index")
        where = self.backend if index is None else f"{self.backend}:{index}"
        return f"{where}: {self.device_name}"

    def to_dict(self) -> dict:
        return {
            "backend": self.backend,
            "device_name": self.device_name,
            "device": dict(self.device),
            "software": dict(self.software),
            "error": self.error,
            "measurements": [m.to_dict() for m in self.measurements],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "DeviceRun":
        return cls(
            backend=data["backend"],
            device_name=data["device_name"],
            device=dict(data.get("device") or {}),
            software=dict(data.get("software") or {}),
            error=data.get("error"),
            measurements=[Measurement.from_dict(m) for m in data.get("measurements") or []],
        )


@dataclass
class BenchReport:
    """A whole results file: one or more device runs plus the host system, command and configuration."""

    created: str  # ISO 8601, UTC
    command: list[str]
    config: dict[str, Any]
    system: dict[str, Any]  # CPU, RAM, OS, Python, driver versions
    runs: list[DeviceRun] = field(default_factory=list)
    complete: bool = True  # False when interrupted: holds what was measured so far

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA_NAME,
            "schema_version": SCHEMA_VERSION,
            "created": self.created,
            "complete": self.complete,
            "command": list(self.command),
            "config": dict(self.config),
            "system": dict(self.system),
            "runs": [r.to_dict() for r in self.runs],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "BenchReport":
        from ..errors import UsageError

        if not isinstance(data, dict) or data.get("schema") != SCHEMA_NAME:
            raise UsageError("not an ipex-benchmark results file (no 'schema' field of ours)")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise UsageError(
                f"results file has schema version {version}, this ipex-benchmark reads version {SCHEMA_VERSION}"
            )
        complete = data.get("complete", True)
        if not isinstance(complete, bool):  # "no" would read as true
            raise UsageError(f"malformed results file: 'complete' is {complete!r}, not true or false")
        return cls(
            created=data["created"],
            command=list(data.get("command") or []),
            config=dict(data.get("config") or {}),
            system=dict(data.get("system") or {}),
            runs=[DeviceRun.from_dict(r) for r in data.get("runs") or []],
            complete=complete,
        )
