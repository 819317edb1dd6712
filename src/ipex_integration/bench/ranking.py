"""A benchmark report -> a device ranking: how fast each measured GPU is, and from what.

`ipex up` places ComfyUI on the fastest GPU. It reads a DeviceRanking, not a report, so placement needs
nothing of the benchmark's data model and the benchmark nothing of `ipex up`. Each device's speed is its
geometric-mean speed-up over a reference run (1.0: the first of the first backend in PRIORITY), over the measurements the
two have in common: the Stable Diffusion UNet steps when both have them (ComfyUI's work, timed on the device;
whole-pipeline wall times also carry the host's noise), else any SD ones, else all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..errors import UsageError
from ..paths import data_dir
from ..plan.policy import PRIORITY
from ..runtime.model import Backend
from .model import BenchReport, DeviceRun, Status


@dataclass(frozen=True)
class RankedDevice:
    """One measured device and its speed relative to the ranking's reference device."""

    backend: Backend
    index: int | None  # the GPU's number as `ipex devices` lists it; None when the report does not say
    name: str | None
    speed: float | None  # times faster than the reference (1.0 for it); None: nothing in common with it
    measurements: int  # how many common measurements `speed` is the geometric mean of (0 for the reference)
    source: str  # where the figure comes from: the results file

    @property
    def label(self) -> str:
        where = self.backend.value if self.index is None else f"{self.backend.value}:{self.index}"
        return f"{where} ({self.name})" if self.name else where


@dataclass(frozen=True)
class DeviceRanking:
    """The measured devices of one report, in its order."""

    devices: tuple[RankedDevice, ...]
    source: str

    def of_backend(self, backend: Backend) -> tuple[RankedDevice, ...]:
        return tuple(d for d in self.devices if d.backend is backend)


def rank_devices(report: BenchReport, source: str) -> DeviceRanking:
    """The ranking of `report`'s successful runs (CPU runs included: placement picks among its GPUs)."""
    runs = [r for r in report.runs if not r.error and r.backend in {b.value for b in Backend}]
    devices: list[RankedDevice] = []
    # The reference is the first measured run of the first backend in PRIORITY (the order placement tries).
    measured = [r for r in runs if _medians(r)]
    reference = min(measured, key=lambda r: PRIORITY.index(Backend(r.backend)), default=None)
    for run in runs:
        if run is reference:
            speed, n = 1.0, 0
        elif reference is None:
            speed, n = None, 0
        else:
            speed, n = relative_speed(reference, run)
        index = run.device.get("plan_device_index")
        devices.append(RankedDevice(Backend(run.backend), index if isinstance(index, int) else None,
                                    run.device_name or None, speed, n, source))
    return DeviceRanking(tuple(devices), source)


def load_ranking(path: str | Path) -> DeviceRanking:
    """The ranking of the report in `path` (UsageError when it cannot be read)."""
    from .report.writer import load_report

    return rank_devices(load_report(path), str(path))


def find_results(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """--results FILE, else the newest results JSON ipex-benchmark wrote under the data dir."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise UsageError(f"--results {explicit}: no such file")
        return path
    root = data_dir(environ)
    # results-N.json: a later run into the same folder (bench/report/writer.py never replaces an earlier one).
    candidates = [p for pattern in ("benchmarks/*/results*.json", "results/*.json", "results/*/results*.json")
                  for p in root.glob(pattern) if p.is_file()]
    return max(candidates, key=_last_written) if candidates else None


def _last_written(results: Path) -> float:
    """A run in progress writes its journal (results.jsonl), not results.json, after each measurement."""
    from .report.writer import journal_path

    journal = journal_path(results)
    return max(results.stat().st_mtime, journal.stat().st_mtime if journal.is_file() else 0.0)


def relative_speed(reference: DeviceRun, other: DeviceRun) -> tuple[float | None, int]:
    """How many times faster `other` is than `reference`, and over how many common measurements."""
    ref = _medians(reference)
    oth = _medians(other)
    common = sorted(set(ref) & set(oth))
    sd = [k for k in common if k.startswith("sd/")]
    unet = [k for k in sd if "_unet_step/" in k]
    keys = unet or sd or common
    if not keys:
        return None, 0
    logs = [math.log(ref[k] / oth[k]) for k in keys if ref[k] > 0 and oth[k] > 0]
    if not logs:
        return None, 0
    return math.exp(sum(logs) / len(logs)), len(logs)


def _medians(run: DeviceRun) -> dict[str, float]:
    return {m.spec.key: m.stats.median_s for m in run.measurements
            if m.status is Status.OK and m.stats is not None and m.spec.workload != "llm"}
