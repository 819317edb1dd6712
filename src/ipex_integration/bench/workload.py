"""The contract between the harness and the workloads (tensor, conv, sd, llm).

A workload lists the specs it would measure for a configuration (so the runner can show progress and an
ETA before anything runs), then measures one spec at a time. It never prints; it returns Measurements,
with failures, skips and OOMs as statuses, so one bad op never ends the suite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from .model import BenchSpec, Measurement

SUITES = ("quick", "standard", "full")
DTYPES = ("fp32", "tf32", "fp16", "bf16")


@dataclass(frozen=True)
class SuiteConfig:
    """What the user asked the benchmark to do. None means "the suite's default"."""

    suite: str = "quick"
    only: tuple[str, ...] = ()  # workload names; () = every workload of the suite
    dtypes: tuple[str, ...] | None = None
    sizes: tuple[int, ...] | None = None  # matmul/elementwise sizes override
    warmup_s: float | None = None  # per measurement; None = the suite's default
    budget_s: float | None = None  # timed repetitions per measurement
    graph: bool = False  # also time CUDA/XPU graph replays where available
    sd_model: str | None = None  # "tiny" | "sd15" | "sdxl"; None = suite default for the device
    sd_steps: int | None = None
    sd_resolution: int | None = None
    seed: int = 0
    ops: tuple[str, ...] = ()  # op names (`--only matmul`): run these ops too; only+ops both () = everything

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict) -> "SuiteConfig":
        """Inverse of to_dict (lists back to tuples); unknown keys are ignored."""
        fields = {}
        for key, value in data.items():
            if key in cls.__dataclass_fields__:
                fields[key] = tuple(value) if isinstance(value, list) else value
        return cls(**fields)


class Timer(Protocol):
    """Times a callable on the context's device. Implemented in bench/harness.py."""

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
        """Per-repetition seconds after warm-up (device events on GPUs, perf_counter on CPU; with
        wall_clock, perf_counter around each synchronized call on every device)."""
        ...


@dataclass
class BenchContext:
    """Everything a workload needs to run on one device. Built by the worker inside the child process."""

    device: Any  # torch.device
    backend: str  # "cuda" | "xpu" | "cpu"
    config: SuiteConfig
    timer: Timer
    warmup_s: float
    budget_s: float
    info: dict[str, Any] = field(default_factory=dict)  # device properties (name, memory, capability...)


class Workload(Protocol):
    name: str  # "tensor" | "conv" | "sd" | "llm"

    def specs(self, config: SuiteConfig, backend: str) -> Sequence[BenchSpec]: ...

    def run(self, spec: BenchSpec, ctx: BenchContext) -> Measurement: ...
