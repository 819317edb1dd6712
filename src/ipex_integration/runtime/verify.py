"""Does an environment hold the torch build its backend needs, and can that torch use this machine's GPUs?

A pure function of the runtime probe's answer and the hardware report, shared by `ipex env create`, `env add`,
`env check` and `ipex status`. Each problem is one sentence that says what is wrong and why.
"""

from __future__ import annotations

from ..hardware.model import Gpu, HardwareReport
from .model import Backend, RuntimeInfo
from .wheels import PYTORCH_INDEX, format_driver, min_driver_for_cuda, parse_driver_version

# Which torch builds can serve each backend. Every build runs on the CPU, so a CPU environment takes any torch.
ACCEPTED_BUILDS: dict[Backend, frozenset[str]] = {
    Backend.CUDA: frozenset({"cuda"}),
    Backend.XPU: frozenset({"xpu"}),
    Backend.CPU: frozenset({"cpu", "cuda", "xpu", "rocm"}),
}
_WANTED = {Backend.CUDA: "+cuXXX", Backend.XPU: "+xpu", Backend.CPU: "+cpu"}


def verify_environment(backend: Backend, info: RuntimeInfo, hardware: HardwareReport) -> list[str]:
    """Problems that make `info`'s environment unfit for `backend` on this hardware; [] when it is fit."""
    if not info.ok:
        return [f"the runtime probe failed: {info.error}"]
    if info.torch_error:
        return [info.torch_error]
    if not info.has_torch:
        return [f"torch is not installed in {info.python}"]
    build = info.torch_build or "unknown"
    if build not in ACCEPTED_BUILDS[backend]:
        tag = "cuXXX" if backend is Backend.CUDA else backend.value
        return [
            f"torch {info.torch_version} is {_a(build)} build; {_a(backend.value)} environment needs a "
            f"{_WANTED[backend]} build (from {PYTORCH_INDEX}/{tag})"
        ]
    if backend is Backend.CUDA and hardware.nvidia and not info.cuda_available:
        return [_cuda_unavailable(info, hardware.nvidia, hardware)]
    if backend is Backend.XPU and hardware.intel and not info.xpu_available:
        return [_xpu_unavailable(info, hardware.intel, hardware)]
    return []


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeioux' else 'a'} {word}"  # "an xpu" (ex-pee-you), "a cuda"


def _count(gpus: tuple[Gpu, ...], what: str) -> str:
    names = ", ".join(sorted({g.label for g in gpus}))
    return f"{len(gpus)} {what} GPU{'s' if len(gpus) != 1 else ''} ({names})"


def _notes(info: RuntimeInfo) -> str:
    return f" (probe said: {'; '.join(info.notes)})" if info.notes else ""


def _cuda_unavailable(info: RuntimeInfo, gpus: tuple[Gpu, ...], hardware: HardwareReport) -> str:
    head = f"torch {info.torch_version} sees no CUDA device although this machine has {_count(gpus, 'NVIDIA')}"
    if "nvidia" not in hardware.loaded_modules and not any(g.driver == "nvidia" for g in gpus):
        return f"{head}: the nvidia kernel module is not loaded (install or load the NVIDIA driver)"
    driver = next((g.driver_version for g in gpus if g.driver_version), None)
    needed = min_driver_for_cuda(info.cuda_version)
    have = parse_driver_version(driver)
    if needed and have and have < needed:
        return (
            f"{head}: it is built for CUDA {info.cuda_version}, which needs NVIDIA driver >= {format_driver(needed)}, "
            f"and this machine has {driver} (recreate it with `ipex env create cuda`, which picks a build for "
            "this driver, or update the driver)"
        )
    return (
        f"{head}: torch.cuda.is_available() is False with driver {driver or 'of unknown version'} loaded; "
        f"CUDA_VISIBLE_DEVICES may hide the GPUs, or /dev/nvidia* is not accessible{_notes(info)}"
    )


def _xpu_unavailable(info: RuntimeInfo, gpus: tuple[Gpu, ...], hardware: HardwareReport) -> str:
    head = f"torch {info.torch_version} sees no XPU device although this machine has {_count(gpus, 'Intel')}"
    unbound = [g for g in gpus if g.driver not in ("xe", "i915")]
    if len(unbound) == len(gpus):
        drivers = ", ".join(sorted({g.driver or "none" for g in gpus}))
        return f"{head}: no Intel GPU kernel driver (xe or i915) holds them (driver: {drivers}); load xe or i915"
    no_node = [g for g in gpus if g.driver in ("xe", "i915") and not g.render_node]
    if len(no_node) == len(gpus):
        return f"{head}: the kernel driver created no /dev/dri/renderD* node for them"
    return (
        f"{head}: torch.xpu.is_available() is False although the {gpus[0].driver or 'kernel'} driver is loaded; "
        "the Level Zero loader or the Intel compute runtime is probably missing (install level-zero and "
        "intel-compute-runtime), or this user cannot open /dev/dri/renderD* (join the render group)"
        f"{_notes(info)}"
    )
