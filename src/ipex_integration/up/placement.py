"""`ipex up` placement: which GPU ComfyUI gets and which one the LLM server (Ollama or llama-server) gets.

With two or more GPUs, ComfyUI (the heavier, torch-bound job) takes the fastest one by a DeviceRanking
(bench.ranking makes one from the newest benchmark results: `ipex-benchmark run --devices all` measures
every backend into one report), else the first NVIDIA GPU (CUDA is the better-supported path for ComfyUI);
Ollama takes another one. With one GPU both
share it (with a warning); with none both run on the CPU. Explicit --comfyui-device / --ollama-device win.
The result is two DeviceRequests: each then gets its own DevicePlan from the ordinary policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from ..bench.ranking import DeviceRanking, RankedDevice
from ..hardware.model import HardwareReport
from ..plan.model import DeviceRequest
from ..plan.policy import PRIORITY
from ..plan.vocabulary import HELP_NAME, VENDOR, parse_device_spec
from ..runtime.model import Backend


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
    spec = parse_device_spec(text, flag)
    return None if spec is None else Target(spec.backend, spec.index)


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
    ranking: DeviceRanking | None = None,
    llm: str = "Ollama",
) -> Placement:
    """`llm`: the LLM server's name in the reasons ("Ollama" or "llama-server"); its device is --ollama-device."""
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
        reasons.append(f"{llm} on {ollama_t.label}: {ollama_src}")

    if comfy_t is None:
        free = [t for t in targets if not _same(t, ollama_t)] or targets
        if not free:
            comfy_t = Target(Backend.CPU, None)
            reasons.append("ComfyUI on the CPU: no GPU found")
        else:
            fastest, why = _fastest(free, ranking)
            comfy_t = fastest or _first_cuda(free)
            reasons.append(f"ComfyUI on {comfy_t.label}: {why if fastest else _default_why(comfy_t, why)}")
    if ollama_t is None:
        others = [t for t in targets if not _same(t, comfy_t)]
        if others:
            ollama_t = others[0]
            reasons.append(f"{llm} on {ollama_t.label}: the other GPU")
        elif targets:
            ollama_t = comfy_t
            warnings.append(f"only one GPU ({comfy_t.label}): ComfyUI and {llm} share it; "
                            f"pass --ollama-device cpu to keep {llm} off it")
            reasons.append(f"{llm} on {ollama_t.label}: the only GPU")
        else:
            ollama_t = Target(Backend.CPU, None)
            reasons.append(f"{llm} on the CPU: no GPU found")
    if _same(comfy_t, ollama_t) and comfy_t.backend is not Backend.CPU and (comfyui or ollama) and len(targets) > 1:
        warnings.append(f"ComfyUI and {llm} both on {comfy_t.label}, although another GPU is free")
    return Placement(
        comfyui=comfy_t.request(comfy_src),
        ollama=ollama_t.request(ollama_src),
        comfyui_target=comfy_t,
        ollama_target=ollama_t,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        results_file=ranking.source if ranking is not None else None,
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
    gpus_in_order = " before ".join(HELP_NAME[b] for b in PRIORITY if b is not Backend.CPU)  # "CUDA before Intel XPU"
    base = f"the first {VENDOR[Backend.CUDA]} GPU ({gpus_in_order})" if target.backend is Backend.CUDA else "the first GPU"
    return f"{base}; {why_not}"


# --------------------------------------------------------------------------------------------- ranking


def _fastest(targets: Sequence[Target], ranking: DeviceRanking | None) -> tuple[Target | None, str]:
    """The target the ranking puts first, with the reason; (None, why not) when undecidable."""
    if ranking is None:
        return None, "no benchmark results found (ipex-benchmark run --devices all measures every GPU)"
    path = ranking.source
    ranked = [(t, d) for t in targets if (d := _ranked(t, ranking, targets)) is not None]
    if len(ranked) < 2:
        return None, f"{path} does not measure two of these GPUs"
    scores = [(d.speed, t, d.measurements) for t, d in ranked if d.speed is not None]
    if len(scores) < 2:
        return None, f"{path}: the GPUs' runs have no measurement in common"
    best = max(scores, key=lambda s: s[0])
    runner_up = max((s for s in scores if s is not best), key=lambda s: s[0])
    ratio = best[0] / runner_up[0] if runner_up[0] else math.inf
    n = max(best[2], runner_up[2])
    if ratio < SAME_SPEED_RATIO:
        first = ranked[0][0]
        return first, (f"GPUs within {SAME_SPEED_RATIO - 1:.0%} of each other in {path} ({ratio:.2f}x, "
                       f"{n} common measurements): the first, {first.label}")
    return best[1], f"fastest GPU in {path} ({ratio:.2f}x {runner_up[1].label}, geometric mean of {n} common measurements)"


# Below this speed ratio two GPUs count as equally fast: two identical H100s in one host measured 1.03x apart
# on the SD1.5 UNet step (docs/benchmarks.md), so a smaller difference is noise, not a faster card.
SAME_SPEED_RATIO = 1.10


def _ranked(target: Target, ranking: DeviceRanking, targets: Sequence[Target]) -> RankedDevice | None:
    """The ranking's entry for `target`: by GPU number, else by a unique name, else the backend's only one."""
    devices = ranking.of_backend(target.backend)
    for device in devices:
        if device.index is not None and device.index == target.index:
            return device
    named = [d for d in devices if target.name and d.name == target.name]
    if len(named) == 1:
        return named[0]
    same_backend = [t for t in targets if t.backend is target.backend]
    if len(devices) == 1 and len(same_backend) == 1:
        return devices[0]
    return None
