"""`ipex up` placement: which GPU ComfyUI gets and which one Ollama gets.

With two or more GPUs, ComfyUI (the heavier, torch-bound job) takes the fastest one according to the newest
benchmark results (`ipex-benchmark run --devices all` measures every backend into one report), else the
first NVIDIA GPU (CUDA is the better-supported path for ComfyUI); Ollama takes another one. With one GPU both
share it (with a warning); with none both run on the CPU. Explicit --comfyui-device / --ollama-device win.
The result is two DeviceRequests: each then gets its own DevicePlan from the ordinary policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from ..bench.model import BenchReport, DeviceRun, Status
from ..errors import UsageError
from ..hardware.model import HardwareReport
from ..paths import data_dir
from ..plan.model import DeviceRequest
from ..runtime.model import Backend

SPEC_HELP = "auto, cpu, cuda, cuda:N, xpu or xpu:N (N as `ipex devices` numbers them)"


@dataclass(frozen=True)
class Target:
    backend: Backend
    index: int | None  # None: the backend's default device
    name: str | None = None

    @property
    def label(self) -> str:
        if self.backend is Backend.CPU:
            return "CPU"
        where = f"{self.backend.value}:{self.index}" if self.index is not None else self.backend.value
        return f"{where} ({self.name})" if self.name else where

    def request(self, source: str) -> DeviceRequest:
        return DeviceRequest(
            backend=self.backend,
            cuda_device=self.index if self.backend is Backend.CUDA else None,
            intel_device=self.index if self.backend is Backend.XPU else None,
            source=source,
        )


@dataclass(frozen=True)
class Placement:
    comfyui: DeviceRequest
    ollama: DeviceRequest
    comfyui_target: Target | None
    ollama_target: Target | None
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    results_file: str | None = None

    def to_dict(self) -> dict:
        return {"comfyui": self.comfyui.to_dict(), "ollama": self.ollama.to_dict(),
                "reasons": list(self.reasons), "warnings": list(self.warnings), "results_file": self.results_file}


def parse_device(text: str, flag: str) -> Target | None:
    """`--comfyui-device cuda:1` -> Target; "auto" -> None."""
    value = text.strip().lower()
    if value == "auto":
        return None
    name, _, index = value.partition(":")
    aliases = {"cpu": Backend.CPU, "cuda": Backend.CUDA, "nvidia": Backend.CUDA, "xpu": Backend.XPU, "intel": Backend.XPU}
    if name not in aliases:
        raise UsageError(f"{flag} {text!r}: expected {SPEC_HELP}")
    backend = aliases[name]
    if not index:
        return Target(backend, None)
    if backend is Backend.CPU or not index.isdigit():
        raise UsageError(f"{flag} {text!r}: expected {SPEC_HELP}")
    return Target(backend, int(index))


def gpu_targets(hardware: HardwareReport) -> list[Target]:
    """Every GPU a program can be placed on, NVIDIA first: integrated Intel GPUs only when nothing else exists."""
    nvidia = [Target(Backend.CUDA, i, g.label) for i, g in enumerate(hardware.nvidia)]
    intel = [Target(Backend.XPU, i, g.label) for i, g in enumerate(hardware.intel) if g.integrated is not True]
    return nvidia + intel


def place(
    hardware: HardwareReport,
    *,
    comfyui: str | None = None,
    ollama: str | None = None,
    results: BenchReport | None = None,
    results_path: str | None = None,
) -> Placement:
    reasons: list[str] = []
    warnings: list[str] = []
    targets = gpu_targets(hardware)
    comfy_t = _resolve(parse_device(comfyui, "--comfyui-device") if comfyui else None, targets)
    ollama_t = _resolve(parse_device(ollama, "--ollama-device") if ollama else None, targets)
    comfy_src = f"--comfyui-device {comfyui}" if comfy_t else "ipex up placement"
    ollama_src = f"--ollama-device {ollama}" if ollama_t else "ipex up placement"
    if comfy_t:
        reasons.append(f"ComfyUI on {comfy_t.label}: {comfy_src}")
    if ollama_t:
        reasons.append(f"Ollama on {ollama_t.label}: {ollama_src}")

    if comfy_t is None:
        free = [t for t in targets if not _same(t, ollama_t)] or targets
        if not free:
            comfy_t = Target(Backend.CPU, None)
            reasons.append("ComfyUI on the CPU: no GPU found")
        else:
            fastest, why = _fastest(free, results, results_path)
            comfy_t = fastest or _first_cuda(free)
            reasons.append(f"ComfyUI on {comfy_t.label}: {why if fastest else _default_why(comfy_t, why)}")
    if ollama_t is None:
        others = [t for t in targets if not _same(t, comfy_t)]
        if others:
            ollama_t = others[0]
            reasons.append(f"Ollama on {ollama_t.label}: the other GPU")
        elif targets:
            ollama_t = comfy_t
            warnings.append(f"only one GPU ({comfy_t.label}): ComfyUI and Ollama share it; "
                            "pass --ollama-device cpu to keep Ollama off it")
            reasons.append(f"Ollama on {ollama_t.label}: the only GPU")
        else:
            ollama_t = Target(Backend.CPU, None)
            reasons.append("Ollama on the CPU: no GPU found")
    if _same(comfy_t, ollama_t) and comfy_t.backend is not Backend.CPU and (comfyui or ollama) and len(targets) > 1:
        warnings.append(f"ComfyUI and Ollama both on {comfy_t.label}, although another GPU is free")
    return Placement(
        comfyui=comfy_t.request(comfy_src),
        ollama=ollama_t.request(ollama_src),
        comfyui_target=comfy_t,
        ollama_target=ollama_t,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        results_file=results_path,
    )


def _resolve(target: Target | None, targets: Sequence[Target]) -> Target | None:
    """Fill in the default device of a backend-only target (the first one of that backend, as the policy does)."""
    if target is None or target.backend is Backend.CPU:
        return target
    same = [t for t in targets if t.backend is target.backend]
    if target.index is None:
        return same[0] if same else target
    found = next((t for t in same if t.index == target.index), None)
    return found or target  # a wrong index is the policy's to report, with the list of GPUs


def _same(a: Target | None, b: Target | None) -> bool:
    return a is not None and b is not None and a.backend is b.backend and a.index == b.index


def _first_cuda(targets: Sequence[Target]) -> Target:
    return next((t for t in targets if t.backend is Backend.CUDA), targets[0])


def _default_why(target: Target, why_not: str) -> str:
    base = "the first NVIDIA GPU (CUDA before Intel XPU)" if target.backend is Backend.CUDA else "the first GPU"
    return f"{base}; {why_not}"


# --------------------------------------------------------------------------------------------- results


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
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def _fastest(targets: Sequence[Target], report: BenchReport | None, path: str | None) -> tuple[Target | None, str]:
    """The target whose benchmark run is fastest, with the reason; (None, why not) when undecidable."""
    if report is None:
        return None, "no benchmark results found (ipex-benchmark run --devices all measures every GPU)"
    runs = {(_key(t)): r for t in targets if (r := _run_of(t, report, targets)) is not None}
    if len(runs) < 2:
        return None, f"{path} does not measure two of these GPUs"
    by_target = [(t, runs[_key(t)]) for t in targets if _key(t) in runs]
    ref_target, ref = by_target[0]
    scores: list[tuple[float, Target, int]] = [(1.0, ref_target, 0)]
    for target, run in by_target[1:]:
        speedup, n = relative_speed(ref, run)
        if speedup is not None:
            scores.append((speedup, target, n))
    if len(scores) < 2:
        return None, f"{path}: the GPUs' runs have no measurement in common"
    best = max(scores, key=lambda s: s[0])
    runner_up = max((s for s in scores if s is not best), key=lambda s: s[0])
    ratio = best[0] / runner_up[0] if runner_up[0] else math.inf
    n = max(best[2], runner_up[2])
    if ratio < SAME_SPEED_RATIO:
        first = by_target[0][0]
        return first, (f"GPUs within {SAME_SPEED_RATIO - 1:.0%} of each other in {path} ({ratio:.2f}x, "
                       f"{n} common measurements): the first, {first.label}")
    return best[1], f"fastest GPU in {path} ({ratio:.2f}x {runner_up[1].label}, geometric mean of {n} common measurements)"


# Below this speed ratio two GPUs count as equally fast: two identical H100s in one host measured 1.03x apart
# on the SD1.5 UNet step (docs/benchmarks.md), so a smaller difference is noise, not a faster card.
SAME_SPEED_RATIO = 1.10


def _key(target: Target) -> tuple[str, int | None]:
    return (target.backend.value, target.index)


def _run_of(target: Target, report: BenchReport, targets: Sequence[Target]) -> DeviceRun | None:
    runs = [r for r in report.runs if r.backend == target.backend.value and not r.error]
    for run in runs:
        if run.device.get("plan_device_index") == target.index:
            return run
    named = [r for r in runs if target.name and r.device_name == target.name]
    if len(named) == 1:
        return named[0]
    same_backend = [t for t in targets if t.backend is target.backend]
    if len(runs) == 1 and len(same_backend) == 1:
        return runs[0]
    return None


def relative_speed(reference: DeviceRun, other: DeviceRun) -> tuple[float | None, int]:
    """How many times faster `other` is than `reference`: the geometric mean of median-time ratios over the
    measurements both have: the Stable Diffusion UNet steps when both have them (ComfyUI's work, timed on the
    device; whole-pipeline wall times also carry the host's noise), else any SD ones, else all."""
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
