"""DevicePlan + ollama build -> the variables `ollama serve` gets.

- NVIDIA: CUDA_VISIBLE_DEVICES=N (and CUDA_DEVICE_ORDER=PCI_BUS_ID) from the plan; the Vulkan backend off
  (OLLAMA_VULKAN=0) and its devices hidden (GGML_VK_VISIBLE_DEVICES=-1). From 0.30 Vulkan is on by default and
  CUDA_VISIBLE_DEVICES restricts only the CUDA library: the NVIDIA cards it hides, and the Intel GPU, stay
  open to Vulkan (ollama/ollama#16508, #16592, #17609, #17780). The hiding variable also covers 0.12.11-0.29,
  where OLLAMA_VULKAN=1 was the opt-in. Your own OLLAMA_VULKAN / GGML_VK_VISIBLE_DEVICES ("asked") are kept.
- Intel, upstream build: the Vulkan backend. OLLAMA_VULKAN=1 (opt-in from 0.12.11 to 0.30), GGML_VK_VISIBLE_DEVICES=<the
  GPU's Vulkan index> (see vulkan.py: Vulkan numbers devices its own way), CUDA hidden.
- Intel, ipex-llm build: SYCL. OLLAMA_NUM_GPU=999 (every layer on the GPU), ONEAPI_DEVICE_SELECTOR=level_zero:N,
  ZES_ENABLE_SYSMAN=1, SYCL_CACHE_PERSISTENT=1 with a writable SYCL_CACHE_DIR (the plan's XPU variables).
- CPU: every GPU family hidden.

Hiding uses "-1", the invalid id Ollama's docs (docs/gpu.mdx) give for it; an empty value reads as "unset" to
Ollama's own device filter. User-set variables always win (kept, with a warning where that matters); the only
overrides are explicit flags, which the plan already applied (--cuda-device, --intel-device) and --host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from ..hardware.model import HardwareReport
from ..plan.child_env import EnvBuilder as _Builder  # one builder for Ollama and llama.cpp
from ..plan.model import DevicePlan
from ..plan.vocabulary import where_text
from ..runtime.model import Backend
from . import OllamaError
from .binary import Flavour, OllamaBuild
from .vulkan import VulkanDevice, vulkan_index_of

DEFAULT_HOST = "127.0.0.1:11434"
HIDE = "-1"
VULKAN_OFF = "0"  # OLLAMA_VULKAN=0: Ollama does not load its Vulkan backend (on by default from 0.30)
SYCL_NUM_GPU = "999"  # ipex-llm: offload every layer (its docs' value)
_PLAN_REASON_PREFIXES = ("backend:", "device:")  # the plan's lines that matter here (not its torch environment)


@dataclass(frozen=True)
class OllamaEnv:
    """The server's variables for one plan. `env` is applied over the inherited environment; it already
    leaves out what the user set (listed in `kept`)."""

    backend: Backend
    path: str  # "cuda" | "vulkan" | "sycl" | "cpu": how Ollama reaches the device
    device_index: int | None
    device_name: str | None
    host: str
    env: Mapping[str, str] = field(default_factory=dict)
    kept: Mapping[str, str] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def child_env(self, base: Mapping[str, str]) -> dict[str, str]:
        return {**base, **self.env}

    @property
    def where(self) -> str:
        return f"{where_text(self.backend, self.device_index, self.device_name)} via {self.path}"

    def to_dict(self) -> dict:
        return {
            "backend": self.backend.value,
            "path": self.path,
            "device_index": self.device_index,
            "device_name": self.device_name,
            "host": self.host,
            "env": dict(sorted(self.env.items())),
            "env_kept": dict(sorted(self.kept.items())),
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
        }

    def to_text(self) -> str:
        lines = [f"device:      {self.where}", f"host:        {self.host}"]
        lines += [f"set:         {k}={v}" for k, v in sorted(self.env.items())]
        lines += [f"kept:        {k}={v} (set by you)" for k, v in sorted(self.kept.items())]
        lines += [f"because:     {r}" for r in self.reasons]
        lines += [f"warning:     {w}" for w in self.warnings]
        return "\n".join(lines)


def ollama_environment(
    plan: DevicePlan,
    build: OllamaBuild,
    *,
    environ: Mapping[str, str],
    host: str | None = None,
    hardware: HardwareReport | None = None,
    vulkan_devices: Sequence[VulkanDevice] | None = None,
) -> OllamaEnv:
    """The variables for `ollama serve` on `plan`'s device. OllamaError when this build cannot drive it.

    `host`: --host (wins over the user's OLLAMA_HOST); None keeps theirs, else DEFAULT_HOST.
    `vulkan_devices`: what `vulkaninfo --summary` lists (vulkan.list_vulkan_devices), for the Vulkan path."""
    b = _Builder(environ)
    b.reasons += [r for r in plan.reasons if r.startswith(_PLAN_REASON_PREFIXES)]
    if host is not None:
        if environ.get("OLLAMA_HOST", host) != host:
            b.warnings.append(f"--host {host} replaces your OLLAMA_HOST={environ['OLLAMA_HOST']!r}")
        b.env["OLLAMA_HOST"] = host
    else:
        b.setdefault("OLLAMA_HOST", DEFAULT_HOST)
    effective_host = b.env.get("OLLAMA_HOST") or b.kept["OLLAMA_HOST"]
    from ..net import exposure_warning
    from .serve import parse_host  # serve imports this module: imported here, not at the top

    exposed = exposure_warning(parse_host(effective_host).host)
    if exposed:
        b.warnings.append(exposed)

    if plan.backend is Backend.CUDA:
        path = _cuda(plan, build, b)
    elif plan.backend is Backend.XPU:
        path = _xpu(plan, build, b, hardware, vulkan_devices)
    else:
        path = _cpu(build, b)
    return OllamaEnv(
        backend=plan.backend,
        path=path,
        device_index=plan.device_index,
        device_name=plan.device_name,
        host=effective_host,
        env=b.env,
        kept=b.kept,
        reasons=tuple(b.reasons),
        warnings=tuple(list(plan.warnings) + b.warnings),
    )


def _cuda(plan: DevicePlan, build: OllamaBuild, b: _Builder) -> str:
    if build.flavour is Flavour.IPEX_LLM:
        raise OllamaError(
            f"{build.path} is ipex-llm's SYCL build ({build.version}): it drives Intel GPUs only, not NVIDIA",
            hint="use an upstream ollama for NVIDIA (--ollama-bin PATH), or run this one with --force-intel-xpu",
        )
    if build.can_cuda is False:
        raise OllamaError(
            f"{build.path} has no CUDA backend (found {'/'.join(build.backends or ()) or 'none'} in {build.lib_dir})",
            hint="install the ollama.com build (it ships lib/ollama/cuda_v12 and cuda_v13), or --force-intel-xpu / --cpu",
        )
    if build.can_cuda is None:
        b.warnings.append(f"no backend libraries found beside {build.real_path}: assuming it can use CUDA")
    b.from_plan(plan, ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER"))
    vulkan_why = ("Ollama may also put layers on a Vulkan device (the Intel GPU, or an NVIDIA card that "
                  "CUDA_VISIBLE_DEVICES hides)")
    b.setdefault("OLLAMA_VULKAN", VULKAN_OFF, why=vulkan_why)
    b.setdefault("GGML_VK_VISIBLE_DEVICES", HIDE, why=vulkan_why)
    shown = b.env.get("CUDA_VISIBLE_DEVICES", b.kept.get("CUDA_VISIBLE_DEVICES"))
    b.reasons.append(f"NVIDIA through Ollama's CUDA backend: CUDA_VISIBLE_DEVICES={shown}; Vulkan off "
                     f"(OLLAMA_VULKAN={VULKAN_OFF}, GGML_VK_VISIBLE_DEVICES={HIDE}) so neither the Intel GPU nor "
                     "another NVIDIA card is taken through it")
    return "cuda"


def _xpu(plan: DevicePlan, build: OllamaBuild, b: _Builder, hardware: HardwareReport | None,
         vulkan_devices: Sequence[VulkanDevice] | None) -> str:
    route = build.intel_path
    if route is None:
        raise OllamaError(
            f"{build.path} ({build.label}) has no Vulkan or SYCL backend, so it cannot use Intel GPUs",
            hint="install Ollama 0.12.11 or newer from ollama.com (it ships lib/ollama/vulkan) or ipex-llm's "
                 "Ollama build, and pass --ollama-bin PATH",
        )
    if route == "sycl":
        b.from_plan(plan)  # ONEAPI_DEVICE_SELECTOR=level_zero:N, ZES_ENABLE_SYSMAN, SYCL_CACHE_* ...
        b.setdefault("OLLAMA_NUM_GPU", SYCL_NUM_GPU)
        _check_sycl_cache(b)
        selector = b.env.get("ONEAPI_DEVICE_SELECTOR", b.kept.get("ONEAPI_DEVICE_SELECTOR"))
        b.reasons.append(f"Intel through ipex-llm's SYCL build: ONEAPI_DEVICE_SELECTOR={selector}, "
                         f"OLLAMA_NUM_GPU={b.env.get('OLLAMA_NUM_GPU', b.kept.get('OLLAMA_NUM_GPU'))}")
        return "sycl"

    if build.backends is None:
        b.warnings.append(f"no backend libraries found beside {build.real_path}: assuming an upstream build "
                          "with the Vulkan backend")
    b.setdefault("CUDA_VISIBLE_DEVICES", HIDE, why="Ollama may also use that NVIDIA GPU")
    b.setdefault("OLLAMA_VULKAN", "1", why="it decides whether Ollama loads its Vulkan backend")
    if b.kept.get("OLLAMA_VULKAN", "1").strip().lower() in ("0", "false", "no", "off"):
        b.warnings.append("with OLLAMA_VULKAN off, Ollama will not use the Intel GPU at all")
    if "GGML_VK_VISIBLE_DEVICES" in b.environ:
        b.kept["GGML_VK_VISIBLE_DEVICES"] = b.environ["GGML_VK_VISIBLE_DEVICES"]
        b.reasons.append(f"Intel through Ollama's Vulkan backend: your GGML_VK_VISIBLE_DEVICES="
                         f"{b.environ['GGML_VK_VISIBLE_DEVICES']} picks the Vulkan device")
        return "vulkan"
    index, why = _vulkan_index(plan, hardware, vulkan_devices, b)
    if index is not None:
        b.env["GGML_VK_VISIBLE_DEVICES"] = str(index)
    b.reasons.append(f"Intel through Ollama's Vulkan backend: {why}")
    return "vulkan"


def _vulkan_index(plan: DevicePlan, hardware: HardwareReport | None, devices: Sequence[VulkanDevice] | None,
                  b: _Builder) -> tuple[int | None, str]:
    n = plan.device_index
    if n is None:
        b.warnings.append("the Intel GPU was chosen by your ONEAPI_DEVICE_SELECTOR, which Vulkan ignores: set "
                          "GGML_VK_VISIBLE_DEVICES to pick its Vulkan device")
        return None, "no GGML_VK_VISIBLE_DEVICES set (device chosen by your ONEAPI_DEVICE_SELECTOR)"
    intel = hardware.intel if hardware is not None else ()
    if n < len(intel) and devices:
        gpu = intel[n]
        index = vulkan_index_of(gpu, intel, devices)
        if index is None:
            listed = "; ".join(f"{d.index}: {d.name}" for d in devices)
            raise OllamaError(
                f"Vulkan lists no device for Intel GPU {n} ({gpu.label}, 0x{gpu.pci_device_id or 0:04x}); "
                f"vulkaninfo shows: {listed}",
                hint="install Mesa's Intel Vulkan driver (Debian/Ubuntu: sudo apt-get install mesa-vulkan-drivers; "
                     "NixOS: hardware.graphics.enable = true), or use ipex-llm's SYCL build",
            )
        return index, f"GGML_VK_VISIBLE_DEVICES={index} (vulkaninfo lists {gpu.label} as Vulkan device {index})"
    others = hardware is not None and any(g.vendor.value != "intel" for g in hardware.gpus)
    if others:
        b.warnings.append("vulkaninfo was not available to map the Intel GPU to its Vulkan index, and other GPUs "
                          f"are present: assuming Vulkan device {n}; check the `inference compute` lines of "
                          "Ollama's log, or set GGML_VK_VISIBLE_DEVICES yourself (install vulkan-tools to let us map it)")
    return n, f"GGML_VK_VISIBLE_DEVICES={n} (Intel GPU {n}; Vulkan order assumed to follow PCI order)"


def _check_sycl_cache(b: _Builder) -> None:
    cache = b.env.get("SYCL_CACHE_DIR") or b.kept.get("SYCL_CACHE_DIR")
    if cache and "SYCL_CACHE_DIR" in b.kept and not _writable_dir(Path(cache)):
        b.warnings.append(f"your SYCL_CACHE_DIR={cache} is not writable: SYCL kernels are recompiled on every start")


def _writable_dir(path: Path) -> bool:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def _cpu(build: OllamaBuild, b: _Builder) -> str:
    why = "Ollama may still use a GPU"
    for name, value in (("CUDA_VISIBLE_DEVICES", HIDE), ("GGML_VK_VISIBLE_DEVICES", HIDE),
                        ("ROCR_VISIBLE_DEVICES", HIDE), ("HIP_VISIBLE_DEVICES", HIDE),
                        ("ONEAPI_DEVICE_SELECTOR", "opencl:cpu")):
        b.setdefault(name, value, why=why)
    if build.flavour is Flavour.IPEX_LLM:
        b.setdefault("OLLAMA_NUM_GPU", "0", why=why)
    b.reasons.append("CPU: every GPU family hidden from Ollama (CUDA, Vulkan, ROCm, Level Zero)")
    return "cpu"
