"""DevicePlan + llama-server build -> the server's variables, flags and command (`LlamaServeSpec`).

- NVIDIA (a build with CUDA): CUDA_VISIBLE_DEVICES=N (CUDA_DEVICE_ORDER=PCI_BUS_ID) from the plan; the build's
  other GPU backends hidden (GGML_VK_VISIBLE_DEVICES=-1 for Vulkan: NVIDIA's Vulkan driver shows the same card,
  and the Intel GPU, to it; ONEAPI_DEVICE_SELECTOR=opencl:cpu for SYCL).
- Intel, a build with SYCL (preferred: llama.cpp's fastest Intel path for many models):
  ONEAPI_DEVICE_SELECTOR=level_zero:N and the plan's other XPU variables (ZES_ENABLE_SYSMAN, SYCL cache).
- Intel, a build with Vulkan: GGML_VK_VISIBLE_DEVICES=<the GPU's Vulkan index> (ollama/vulkan.py maps it).
  Either way CUDA_VISIBLE_DEVICES=-1, so CUDA does not see the NVIDIA card.
- GPUs: all layers offloaded (`--n-gpu-layers 999`); CPU: every GPU backend hidden and `--n-gpu-layers 0`.

Variables the user set win (kept, with a warning where that matters), as for Ollama.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from ..hardware.model import HardwareReport
from ..ollama.vulkan import VulkanDevice, vulkan_index_of
from ..plan.child_env import EnvBuilder as _Vars  # one builder for Ollama and llama.cpp
from ..plan.model import DevicePlan
from ..runtime.model import Backend
from . import LlamaError
from .binary import LlamaServerBuild
from .serve import LlamaServeSpec, default_log_path

HIDE = "-1"
SYCL_NONE = "opencl:cpu"  # a SYCL selector that matches no GPU
ALL_LAYERS = "999"
DEFAULT_PORT = 8080  # llama-server's own default


@dataclass(frozen=True)
class LlamaEnv:
    backend: Backend
    path: str  # "cuda" | "sycl" | "vulkan" | "cpu"
    env: Mapping[str, str] = field(default_factory=dict)
    kept: Mapping[str, str] = field(default_factory=dict)
    gpu_layers: str = ALL_LAYERS
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def llama_environment(plan: DevicePlan, build: LlamaServerBuild, *, environ: Mapping[str, str],
                      hardware: HardwareReport | None = None,
                      vulkan_devices: Sequence[VulkanDevice] | None = None) -> LlamaEnv:
    """The variables for `llama-server` on the plan's device. LlamaError when the build cannot drive it."""
    v = _Vars(environ)
    v.reasons += [r for r in plan.reasons if r.startswith(("backend:", "device:"))]
    layers = ALL_LAYERS
    if plan.backend is Backend.CUDA:
        if not build.has("cuda"):
            raise LlamaError(f"{build.path} ({build.label}) has no CUDA backend, so it cannot use the NVIDIA GPU",
                             hint="use a CUDA build of llama-server (--llama-server PATH), or --force-intel-xpu / --cpu")
        v.from_plan(plan, ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER"))
        _hide_others(build, v, keep="cuda")
        path = "cuda"
        v.reasons.append(f"NVIDIA through llama.cpp's CUDA backend: CUDA_VISIBLE_DEVICES={v.value('CUDA_VISIBLE_DEVICES')}")
    elif plan.backend is Backend.XPU:
        path = build.intel_path or ""
        if not path:
            raise LlamaError(f"{build.path} ({build.label}) has no SYCL or Vulkan backend, so it cannot use Intel GPUs",
                             hint="build llama.cpp with -DGGML_SYCL=ON (oneAPI) or -DGGML_VULKAN=ON, or use its "
                                  "Vulkan release archive")
        v.setdefault("CUDA_VISIBLE_DEVICES", HIDE, why="llama.cpp may also use the NVIDIA GPU")
        if path == "sycl":
            v.from_plan(plan)  # ONEAPI_DEVICE_SELECTOR=level_zero:N, ZES_ENABLE_SYSMAN, SYCL_CACHE_* ...
            v.reasons.append(f"Intel through llama.cpp's SYCL backend: ONEAPI_DEVICE_SELECTOR="
                             f"{v.value('ONEAPI_DEVICE_SELECTOR')}")
        else:
            _vulkan_device(plan, v, hardware, vulkan_devices)
        _hide_others(build, v, keep=path)
    else:
        for name, value in (("CUDA_VISIBLE_DEVICES", HIDE), ("GGML_VK_VISIBLE_DEVICES", HIDE),
                            ("ONEAPI_DEVICE_SELECTOR", SYCL_NONE), ("HIP_VISIBLE_DEVICES", HIDE)):
            v.setdefault(name, value, why="llama.cpp may still use a GPU")
        path, layers = "cpu", "0"
        v.reasons.append("CPU: every GPU backend hidden, no layers offloaded")
    return LlamaEnv(plan.backend, path, v.env, v.kept, layers, tuple(v.reasons),
                    tuple(list(plan.warnings) + v.warnings))


def _hide_others(build: LlamaServerBuild, v: _Vars, *, keep: str) -> None:
    why = "llama.cpp may also put layers on another GPU through that backend"
    if build.has("vulkan") and keep != "vulkan":
        v.setdefault("GGML_VK_VISIBLE_DEVICES", HIDE, why=why)
    if build.has("sycl") and keep != "sycl":
        v.setdefault("ONEAPI_DEVICE_SELECTOR", SYCL_NONE, why=why)
    if build.has("rocm"):
        v.setdefault("HIP_VISIBLE_DEVICES", HIDE, why=why)


def _vulkan_device(plan: DevicePlan, v: _Vars, hardware: HardwareReport | None,
                   devices: Sequence[VulkanDevice] | None) -> None:
    if "GGML_VK_VISIBLE_DEVICES" in v.environ:
        v.kept["GGML_VK_VISIBLE_DEVICES"] = v.environ["GGML_VK_VISIBLE_DEVICES"]
        v.reasons.append("Intel through llama.cpp's Vulkan backend: your GGML_VK_VISIBLE_DEVICES picks the device")
        return
    n = plan.device_index
    intel = hardware.intel if hardware is not None else ()
    index = None
    if n is not None and n < len(intel) and devices:
        index = vulkan_index_of(intel[n], intel, devices)
        if index is None:
            raise LlamaError(f"Vulkan lists no device for Intel GPU {n} ({intel[n].label})",
                             hint="install Mesa's Intel Vulkan driver (mesa-vulkan-drivers), or use a SYCL build")
    if index is None:
        index = n or 0
        if hardware is not None and any(g.vendor.value != "intel" for g in hardware.gpus):
            v.warnings.append(f"vulkaninfo was not available and other GPUs are present: assuming Vulkan device "
                              f"{index}; set GGML_VK_VISIBLE_DEVICES yourself to be sure")
    v.env["GGML_VK_VISIBLE_DEVICES"] = str(index)
    v.reasons.append(f"Intel through llama.cpp's Vulkan backend: GGML_VK_VISIBLE_DEVICES={index}")


def build_spec(build: LlamaServerBuild, server: LlamaEnv, *, model: str | os.PathLike[str], host: str, port: int,
               base_env: Mapping[str, str], log_path: str | os.PathLike[str] | None = None,
               extra_args: Sequence[str] = ()) -> LlamaServeSpec:
    """The command: `llama-server --model M --host H --port P --n-gpu-layers N` plus `extra_args`."""
    argv = (build.path, "--model", str(model), "--host", host, "--port", str(port),
            "--n-gpu-layers", server.gpu_layers, *extra_args)
    log = Path(log_path) if log_path is not None else default_log_path(port, base_env)
    return LlamaServeSpec(kind="llama-server", argv=argv, env={**base_env, **server.env}, host=host, port=port,
                          log_path=str(log), model=str(model), reasons=server.reasons, set_env=dict(server.env))
