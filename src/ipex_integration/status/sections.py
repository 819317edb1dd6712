"""The sections of `ipex status`. Each is `def section(ctx: StatusContext) -> list[Check]`, registered in order
with `@section("Title")`. Later modules (ComfyUI, custom nodes, Ollama) hook in through EXTRA_SECTIONS.

Sections only read the context; the one exception is the system-library check, which asks `ldconfig -p`
through ctx.runner. A section that raises becomes an ERROR row: `ipex status` itself never crashes.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Callable, Sequence

from ..hardware.model import Gpu, Vendor
from ..hardware.probe import NO_GPU_NOTE
from ..plan.model import DevicePlan
from ..plan.vocabulary import suggested_backend, where_text
from ..runtime.model import Backend, Environment, RuntimeInfo
from .context import StatusContext
from .model import Check, Level

Section = Callable[[StatusContext], list[Check]]

# (title, function) in table order; filled by @section below.
SECTIONS: list[tuple[str, Section]] = []

# Hooks for later modules: "module:function" strings (imported when status runs; a module that does not exist
# yet is skipped) or functions appended at run time. Each returns list[Check] with its own section title.
EXTRA_SECTIONS: list[str | Section] = [
    "ipex_integration.comfyui.status:checks",
    "ipex_integration.nodes.status:checks",
    "ipex_integration.ollama.status:checks",
    "ipex_integration.llama.status:checks",
]

GROUP_FIX = "sudo usermod -aG render,video $USER, then log out and back in"
LDCONFIG_TIMEOUT_S = 10.0
# Intel GPU user-space libraries torch.xpu needs (Level Zero) and the OpenCL driver some tools use.
INTEL_LIBRARIES: tuple[tuple[str, str, str], ...] = (
    ("libze_loader.so.1", "Level Zero loader", "level-zero"),
    ("libze_intel_gpu.so.1", "Level Zero driver for Intel GPUs", "intel-compute-runtime"),
    ("libigdrcl.so", "OpenCL driver for Intel GPUs", "intel-compute-runtime"),
)


def section(title: str) -> Callable[[Section], Section]:
    def register(fn: Section) -> Section:
        SECTIONS.append((title, fn))
        return fn

    return register


def collect_status(ctx: StatusContext) -> list[Check]:
    """Every section's checks, in table order: built-in sections, then the hooks, then the selected device."""
    checks: list[Check] = []
    for title, fn in SECTIONS:
        checks += _run(title, fn, ctx)
    for entry in list(EXTRA_SECTIONS):
        try:
            fn = _resolve_hook(entry)
        except Exception as exc:  # the hook's module is there but broken (a missing dependency, a typo)
            checks.append(Check(_hook_title(entry), "status check failed", Level.ERROR,
                                f"cannot load {entry}: {type(exc).__name__}: {exc}"))
            continue
        if fn is not None:
            checks += _run(_hook_title(entry), fn, ctx)
    checks += _run("Selected device", selected_device, ctx)
    return checks


def usable(checks: Sequence[Check], plan: DevicePlan | None) -> bool:
    """The selected device path works: there is a plan and no check blocks it."""
    return plan is not None and not any(c.blocks_selected_path for c in checks)


def _run(title: str, fn: Section, ctx: StatusContext) -> list[Check]:
    try:
        return list(fn(ctx))
    except Exception as exc:  # a broken section must not hide the others
        return [Check(title, "status check failed", Level.ERROR, f"{type(exc).__name__}: {exc}")]


def _resolve_hook(entry: str | Section) -> Section | None:
    if callable(entry):
        return entry
    module_name, _, attr = entry.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            return None  # that part of the project is not installed/written yet
        raise
    return getattr(module, attr)


_HOOK_TITLES = {"comfyui": "ComfyUI", "nodes": "Custom nodes", "ollama": "Ollama", "llama": "llama.cpp"}


def _hook_title(entry: str | Section) -> str:
    """The title for an ERROR row when a hook itself fails: from its module, "ipex_integration.comfyui.x"."""
    module = entry.partition(":")[0] if isinstance(entry, str) else getattr(entry, "__module__", "")
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else module
    return _HOOK_TITLES.get(key, key or "extra")


def _blocks(ctx: StatusContext, backend: Backend) -> bool:
    return ctx.plan is not None and ctx.plan.backend is backend


# ----------------------------------------------------------------------------------------------- GPUs


@section("GPUs")
def gpus(ctx: StatusContext) -> list[Check]:
    hw = ctx.hardware
    title = "GPUs"
    if not hw.gpus:
        note = next((n for n in hw.notes if n.startswith(NO_GPU_NOTE)), NO_GPU_NOTE)
        checks = [Check(title, "GPU", Level.WARNING, f"{note}; work runs on the CPU",
                        fix="if this machine has a GPU, check that its kernel driver is loaded (lspci -k)")]
    else:
        checks = [_gpu_check(title, gpu, i) for i, gpu in enumerate(hw.gpus)]
    checks += [Check(title, "probe", Level.WARNING, note) for note in hw.notes if not note.startswith(NO_GPU_NOTE)]
    return checks


def _gpu_check(title: str, gpu: Gpu, position: int) -> Check:
    parts = [f"{gpu.vendor.value}"]
    if gpu.vendor is Vendor.INTEL:
        parts.append({True: "integrated", False: "discrete", None: "integrated/discrete unknown"}[gpu.integrated])
    if gpu.pci_slot:
        parts.append(f"at {gpu.pci_slot}")
    if gpu.memory_total_bytes:
        parts.append(f"{gpu.memory_total_bytes / 2**30:.1f} GiB")
    if gpu.compute_capability:
        parts.append(f"compute capability {gpu.compute_capability}")
    if gpu.render_node:
        parts.append(gpu.render_node)
    detail = ", ".join(parts)
    if gpu.vendor is Vendor.AMD:
        return Check(title, gpu.label, Level.WARNING, detail + "; AMD GPUs are not a backend of ipex-integration "
                     "(CUDA, Intel XPU and CPU are)")
    return Check(title, gpu.label, Level.OK, detail)


# ----------------------------------------------------------------------------------------------- drivers


@section("Drivers")
def drivers(ctx: StatusContext) -> list[Check]:
    hw = ctx.hardware
    title = "Drivers"
    checks: list[Check] = []
    if hw.nvidia:
        checks.append(_nvidia_driver(ctx))
    for gpu in hw.intel:
        checks.append(_intel_driver(ctx, gpu))
    if not checks:
        loaded = ", ".join(hw.loaded_modules) or "none of nvidia, xe, i915"
        checks.append(Check(title, "kernel modules", Level.OK, f"no NVIDIA or Intel GPU to drive (loaded: {loaded})"))
    return checks


def _nvidia_driver(ctx: StatusContext) -> Check:
    hw = ctx.hardware
    version = next((g.driver_version for g in hw.nvidia if g.driver_version), None)
    others = sorted({g.driver for g in hw.nvidia if g.driver and g.driver != "nvidia"})
    if "nvidia" in hw.loaded_modules or hw.nvidia_source in ("nvml", "nvidia-smi"):
        detail = f"nvidia {version or '(version unknown)'} loaded"
        if hw.nvidia_source == "sysfs":
            return Check("Drivers", "nvidia", Level.WARNING, detail + ", but neither NVML nor nvidia-smi answered",
                         fix="run nvidia-smi to see the driver's error")
        return Check("Drivers", "nvidia", Level.OK, detail + f" (details from {hw.nvidia_source})")
    bound = f"; the GPU is bound to {', '.join(others)}" if others else ""
    return Check(
        "Drivers", "nvidia", Level.ERROR, f"the nvidia kernel module is not loaded{bound}: CUDA cannot run",
        fix="install NVIDIA's driver (Debian: sudo apt-get install nvidia-driver; NixOS: "
            'services.xserver.videoDrivers = [ "nvidia" ]), then reboot',
        blocks_selected_path=_blocks(ctx, Backend.CUDA),
    )


def _intel_driver(ctx: StatusContext, gpu: Gpu) -> Check:
    name = f"{gpu.label} ({gpu.pci_slot})"
    if gpu.driver in ("xe", "i915"):
        return Check("Drivers", name, Level.OK, f"{gpu.driver} loaded and bound")
    if gpu.driver is None:
        needs_xe = gpu.family in ("Arc Battlemage", "Lunar Lake", "Panther Lake")
        module = "xe" if needs_xe else "xe or i915"
        return Check(
            "Drivers", name, Level.ERROR, f"no kernel driver is bound to this GPU (it needs {module})",
            fix=("sudo modprobe xe (Linux 6.12 or newer for Battlemage/Lunar Lake)" if needs_xe else
                 "sudo modprobe i915 (or xe); a kernel too old for this GPU needs an upgrade or "
                 f"i915.force_probe=0x{gpu.pci_device_id or 0:04x}"),
            blocks_selected_path=_blocks(ctx, Backend.XPU),
        )
    return Check("Drivers", name, Level.WARNING,
                 f"bound to {gpu.driver}, not xe/i915 (passed through to a virtual machine?): XPU cannot use it")


# ----------------------------------------------------------------------------------------------- render nodes


@section("Render nodes")
def render_nodes(ctx: StatusContext) -> list[Check]:
    """Intel (and AMD) compute opens /dev/dri/renderD*: the user needs read and write access to it."""
    targets = [g for g in ctx.hardware.gpus if g.vendor in (Vendor.INTEL, Vendor.AMD)]
    if not targets:
        return []
    checks = []
    groups = None
    for gpu in targets:
        name = f"{gpu.label} ({gpu.pci_slot})"
        blocks = gpu.vendor is Vendor.INTEL and _blocks(ctx, Backend.XPU)
        if not gpu.render_node:
            checks.append(Check("Render nodes", name, Level.ERROR, "this GPU has no render node (no DRM driver bound?)",
                                fix="see the Drivers section", blocks_selected_path=blocks))
            continue
        path = ctx.root / gpu.render_node.lstrip("/")
        if not path.exists():
            checks.append(Check("Render nodes", name, Level.ERROR, f"{gpu.render_node} does not exist",
                                fix="in a container, pass the device in (docker run --device /dev/dri)",
                                blocks_selected_path=blocks))
        elif ctx.access(path):
            checks.append(Check("Render nodes", name, Level.OK, f"{gpu.render_node} readable and writable"))
        else:
            groups = ctx.groups() if groups is None else groups
            member = sorted({"render", "video"} & set(groups))
            if member:
                checks.append(Check(
                    "Render nodes", name, Level.ERROR,
                    f"{gpu.render_node} not accessible yet: you are in group {member[0]}, but this login session "
                    "started before that", fix="log out and back in (or run: newgrp render)",
                    blocks_selected_path=blocks))
            else:
                checks.append(Check(
                    "Render nodes", name, Level.ERROR,
                    f"{gpu.render_node} not readable and writable by you (not in the render or video group)",
                    fix=GROUP_FIX, blocks_selected_path=blocks))
    return checks


# ----------------------------------------------------------------------------------------------- libraries


@section("Intel GPU runtime")
def intel_runtime(ctx: StatusContext) -> list[Check]:
    """Level Zero and the compute runtime, found through ldconfig, LD_LIBRARY_PATH, NixOS' driver dir and the
    OpenCL ICD files. Only worth a warning where an Intel GPU is present."""
    title = "Intel GPU runtime"
    if not ctx.hardware.intel:
        return [Check(title, "Level Zero / compute runtime", Level.OK, "not needed: no Intel GPU")]
    found = _find_libraries(ctx, [lib for lib, _, _ in INTEL_LIBRARIES])
    nixos = (ctx.root / "etc" / "NIXOS").exists()
    checks = []
    for lib, what, package in INTEL_LIBRARIES:
        if lib in found:
            checks.append(Check(title, lib, Level.OK, f"{what}: {found[lib]}"))
        else:
            checks.append(Check(title, lib, Level.MISSING, f"{what} not found (ldconfig, LD_LIBRARY_PATH)",
                                fix=_library_fix(package, nixos)))
    return checks


def _library_fix(package: str, nixos: bool) -> str:
    if nixos:
        return ("NixOS: hardware.graphics.extraPackages = with pkgs; [ intel-compute-runtime level-zero ]; "
                "then nixos-rebuild switch")
    debian = {"level-zero": "libze1", "intel-compute-runtime": "libze-intel-gpu1 intel-opencl-icd"}[package]
    return f"Debian/Ubuntu: sudo apt-get install {debian} (other systems: the {package} package)"


def _find_libraries(ctx: StatusContext, names: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    cache = _ldconfig_cache(ctx)
    for name in names:
        if name in cache:
            found[name] = cache[name]
    dirs = [d for d in ctx.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d]
    dirs.append(str(ctx.root / "run" / "opengl-driver" / "lib"))  # NixOS: hardware.graphics packages land here
    for name in names:
        for d in dirs:
            if name not in found and (Path(d) / name).exists():
                found[name] = str(Path(d) / name)
    # Debian's intel-opencl-icd puts libigdrcl.so outside the linker's path; the ICD file names it.
    vendors = ctx.root / "etc" / "OpenCL" / "vendors"
    if "libigdrcl.so" in names and "libigdrcl.so" not in found and vendors.is_dir():
        for icd in sorted(vendors.glob("*.icd")):
            try:
                text = icd.read_text(errors="replace").strip()
            except OSError:
                continue
            if "libigdrcl" in text:
                found["libigdrcl.so"] = f"{text} (via {icd.name})"
                break
    return found


def _ldconfig_cache(ctx: StatusContext) -> dict[str, str]:
    """name -> path from `ldconfig -p` (Debian keeps ldconfig in /sbin, not always on a user's PATH)."""
    result = None
    for program in ("ldconfig", "/sbin/ldconfig"):
        result = ctx.runner([program, "-p"], timeout=LDCONFIG_TIMEOUT_S)
        if not result.not_found:
            break
    if result is None or not result.ok:
        return {}
    cache: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, arrow, path = line.strip().partition(" => ")
        if arrow:
            cache.setdefault(name.split(" (")[0], path.strip())
    return cache


# ----------------------------------------------------------------------------------------------- environments


@section("Environments")
def environments(ctx: StatusContext) -> list[Check]:
    checks = [_environment_check(ctx, env, info) for env, info in ctx.environments]
    if not any(env.registered for env, _ in ctx.environments):
        backend = suggested_backend(ctx.hardware)
        checks.append(Check("Environments", "backend environments", Level.MISSING,
                            "none registered: work runs in the interpreter running ipex, if its torch can",
                            fix=f"ipex env create {backend.value}"))
    return checks


def _environment_check(ctx: StatusContext, env: Environment, info: RuntimeInfo | None) -> Check:
    title = "Environments"
    name = env.name
    planned = ctx.plan is not None and ctx.plan.environment == env.name
    backend = env.backend
    recreate = f"ipex env create {backend.value}" if backend else None
    if env.registered and not Path(env.python).exists():
        return Check(title, name, Level.MISSING, f"interpreter {env.python} no longer exists",
                     fix=f"ipex env remove {env.name}, or {recreate}", blocks_selected_path=planned)
    if info is None:
        return Check(title, name, Level.MISSING, f"{env.python}: not probed", fix="ipex env check")
    if not info.ok:
        return Check(title, name, Level.ERROR, f"{env.python}: probe failed: {info.error}",
                     fix=recreate or "ipex env check", blocks_selected_path=planned)
    if not info.has_torch:
        if not env.registered:
            return Check(title, name, Level.MISSING,
                         f"{env.python} (running ipex) has no torch: fine, work runs in backend environments")
        return Check(title, name, Level.ERROR, f"{env.python} has no torch installed", fix=recreate,
                     blocks_selected_path=planned)
    torch = f"torch {info.torch_version}"
    build = info.torch_build or "unknown"
    blocks = planned and ctx.plan is not None and not info.can_run(ctx.plan.backend)
    if backend in (Backend.CUDA, Backend.XPU) and info.torch_build != backend.value:
        return Check(title, name, Level.ERROR,
                     f"registered for {backend.value}, but holds a {build} build ({torch})",
                     fix=recreate, blocks_selected_path=blocks)
    if backend is None:
        sees = [b.value for b in (Backend.CUDA, Backend.XPU) if info.can_run(b)] + ["cpu"]
        return Check(title, name, Level.OK, f"{env.python}: {torch} ({build} build), can run on "
                     + ", ".join(sees) + _devices_text(info), blocks_selected_path=blocks)
    if backend is Backend.CPU:
        return Check(title, name, Level.OK, f"{torch} ({build} build) runs on the CPU",
                     blocks_selected_path=blocks)
    devices = info.devices_of(backend)
    if info.can_run(backend):
        return Check(title, name, Level.OK, f"{torch} sees {len(devices)} {backend.value} device(s)"
                     + _devices_text(info, backend), blocks_selected_path=blocks)
    vendor_gpus = ctx.hardware.nvidia if backend is Backend.CUDA else ctx.hardware.intel
    if not vendor_gpus:
        vendor = "NVIDIA" if backend is Backend.CUDA else "Intel"
        return Check(title, name, Level.WARNING, f"{torch} is fine, but this machine has no {vendor} GPU for it",
                     blocks_selected_path=blocks)
    why = ("check `nvidia-smi` and that this torch's CUDA suits the driver" if backend is Backend.CUDA else
           "check the Drivers, Render nodes and Intel GPU runtime rows above")
    return Check(title, name, Level.ERROR, f"{torch} sees no {backend.value} device although the GPU is present",
                 fix=f"{why}; then ipex env check", blocks_selected_path=blocks)


def _devices_text(info: RuntimeInfo, backend: Backend | None = None) -> str:
    devices = info.devices_of(backend) if backend else [d for d in info.devices if d.backend is not Backend.CPU]
    if not devices:
        return ""
    return ": " + "; ".join(f"{d.backend.value}:{d.index} {d.name}" for d in devices)


# ----------------------------------------------------------------------------------------------- IPEX


@section("IPEX")
def ipex(ctx: StatusContext) -> list[Check]:
    """intel-extension-for-pytorch: optional and discontinued upstream (torch.xpu replaces it)."""
    with_ipex = [(env, info) for env, info in ctx.environments if info is not None and info.ipex_version]
    if not with_ipex:
        return [Check("IPEX", "intel-extension-for-pytorch", Level.OK,
                      "not installed, and not needed: PyTorch's own torch.xpu drives Intel GPUs")]
    return [
        Check("IPEX", f"intel-extension-for-pytorch in {env.name}", Level.WARNING,
              f"version {info.ipex_version}: discontinued upstream (last release 2.8, repository archived); "
              "ipex-integration uses torch.xpu instead",
              fix=f"{env.python} -m pip uninstall intel-extension-for-pytorch")
        for env, info in with_ipex
    ]


# ----------------------------------------------------------------------------------------------- selection


def selected_device(ctx: StatusContext) -> list[Check]:
    title = "Selected device"
    if ctx.plan is None:
        if ctx.plan_error is None:
            return []
        return [Check(title, "device plan", Level.ERROR, ctx.plan_error,
                      fix="see `ipex devices` and the rows above", blocks_selected_path=True)]
    plan = ctx.plan
    where = where_text(plan.backend, plan.device_index, plan.device_name)
    checks = [Check(title, "device plan", Level.OK, f"{where} in environment {plan.environment} "
                    f"({plan.python}); chosen by {plan.request.source}")]
    checks += [Check(title, "plan warning", Level.WARNING, w) for w in plan.warnings]
    return checks
