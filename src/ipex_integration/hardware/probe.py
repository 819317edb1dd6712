"""The hardware probe: which GPUs this machine has, without importing torch.

sysfs says what is plugged in and which kernel driver holds it; NVML (or nvidia-smi) adds NVIDIA names,
memory and CUDA capability, and lists NVIDIA GPUs that sysfs does not show (containers, some VMs).
Rows from both are merged by PCI slot. Nothing here raises for a missing GPU, driver or tool: what could
not be learned is None, and the report's notes say why.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from ..proc import Runner, run_command
from . import intel_ids, nvidia, sysfs
from .model import Gpu, HardwareReport, Vendor

NO_GPU_NOTE = "no GPU found"  # how the note starts when nothing was found (status shows it as the GPUs row)
_VENDOR_ORDER = {Vendor.NVIDIA: 0, Vendor.INTEL: 1, Vendor.AMD: 2, Vendor.OTHER: 3}


def probe_hardware(
    *,
    root: str | os.PathLike[str] = "/",
    runner: Runner = run_command,
    nvml: Any | None | Literal["auto"] = "auto",
) -> HardwareReport:
    """Probe GPUs. `root` is the filesystem root under which sys/ (and dev/) live; `runner` runs
    nvidia-smi; `nvml` is "auto" (import pynvml if installed), None (do not use NVML) or a pynvml-like object."""
    root = Path(root)
    notes: list[str] = []
    devices = sysfs.scan(root)
    modules = sysfs.loaded_modules(root)
    # Only GPU vendors we can compute on; a BMC's VGA (ASPEED) or a VM's virtio-gpu is not a GPU for us.
    devices = [d for d in devices if Vendor.from_pci_id(d.vendor_id or 0) is not Vendor.OTHER]

    sysfs_nvidia = [d for d in devices if Vendor.from_pci_id(d.vendor_id or 0) is Vendor.NVIDIA]
    nvidia_signs = bool(sysfs_nvidia) or "nvidia" in modules or _nvidia_device_nodes(root)
    answer, source = _ask_nvidia(nvml, runner, nvidia_signs, notes)
    if not answer.ok and sysfs_nvidia:
        source = "sysfs"
        notes.append(
            f"{len(sysfs_nvidia)} NVIDIA GPU(s) found in sysfs, but no NVIDIA details ({answer.error}): "
            "names, memory and CUDA capability are unknown"
        )
    elif not answer.ok and nvidia_signs:
        notes.append(f"the NVIDIA driver is loaded, but no GPU could be listed: {answer.error}")

    gpus: list[Gpu] = []
    rows_by_slot = {row.pci_slot: row for row in answer.rows if row.pci_slot}
    used_rows: set[int] = set()
    sysfs_driver_version = sysfs.module_version(root, "nvidia") if sysfs_nvidia else None
    for dev in devices:
        vendor = Vendor.from_pci_id(dev.vendor_id or 0)
        if vendor is Vendor.NVIDIA:
            row = rows_by_slot.get(dev.pci_slot)
            if row is not None:
                used_rows.add(row.index)
            gpus.append(_nvidia_gpu(dev, row, source, sysfs_driver_version))
        elif vendor is Vendor.INTEL:
            gpus.append(_intel_gpu(dev, notes))
        else:
            gpus.append(_sysfs_gpu(dev, vendor))
    for row in answer.rows:
        if row.index not in used_rows:
            gpus.append(_nvidia_gpu(None, row, source, None))

    gpus.sort(key=lambda g: (_VENDOR_ORDER[g.vendor], g.pci_slot or "", g.nvidia_index or 0))
    if not gpus:
        notes.append(_no_gpu_note(root))
    return HardwareReport(gpus=tuple(gpus), nvidia_source=source, loaded_modules=modules, notes=tuple(notes))


def _ask_nvidia(nvml: Any, runner: Runner, nvidia_signs: bool, notes: list[str]) -> tuple[nvidia.NvidiaAnswer, str]:
    """NVML first, then nvidia-smi. nvidia-smi is only started where an NVIDIA GPU or driver is in sight, or
    where NVML could not be asked at all: on a machine without either it would only cost time."""
    auto = isinstance(nvml, str) and nvml == "auto"
    module = nvidia.load_pynvml() if auto else nvml
    nvml_answer = None
    if module is not None:
        nvml_answer = nvidia.query_nvml(module)
        if nvml_answer.ok:
            return nvml_answer, "nvml"
        if nvml_answer.not_found and not nvidia_signs:
            return nvml_answer, "none"
    elif auto:
        nvml_answer = nvidia.NvidiaAnswer(error="NVML: nvidia-ml-py is not installed", not_found=True)
    smi_answer = nvidia.query_nvidia_smi(runner)
    if smi_answer.ok:
        if nvml_answer is not None and nvidia_signs:
            notes.append(f"used nvidia-smi because {nvml_answer.error}")
        return smi_answer, "nvidia-smi"
    errors = "; ".join(a.error for a in (nvml_answer, smi_answer) if a is not None and a.error)
    return nvidia.NvidiaAnswer(error=errors, not_found=smi_answer.not_found), "none"


def _nvidia_device_nodes(root: Path) -> bool:
    """/dev/nvidiactl or /proc/driver/nvidia: the driver is there even where sysfs shows no GPU (containers)."""
    return (root / "dev" / "nvidiactl").exists() or (root / "proc" / "driver" / "nvidia").exists()


def _nvidia_gpu(
    dev: sysfs.SysfsDevice | None, row: nvidia.NvidiaRow | None, source: str, driver_version: str | None
) -> Gpu:
    sources = tuple(s for s, present in (("sysfs", dev), (source, row)) if present is not None)
    return Gpu(
        vendor=Vendor.NVIDIA,
        pci_vendor_id=0x10DE,
        pci_device_id=(dev.device_id if dev else None) or (row.pci_device_id if row else None),
        pci_slot=(dev.pci_slot if dev else None) or (row.pci_slot if row else None),
        driver=dev.driver if dev else "nvidia",  # NVML answering means the nvidia driver holds it
        card=dev.card if dev else None,
        render_node=dev.render_node if dev else None,
        name=row.name if row else None,
        integrated=False,
        memory_total_bytes=row.memory_total_bytes if row else None,
        uuid=row.uuid if row else None,
        serial=row.serial if row else None,
        driver_version=(row.driver_version if row else None) or driver_version,
        compute_capability=row.compute_capability if row else None,
        nvidia_index=row.index if row else None,
        sources=sources,
    )


def _intel_gpu(dev: sysfs.SysfsDevice, notes: list[str]) -> Gpu:
    info = intel_ids.lookup(dev.device_id) if dev.device_id is not None else None
    if info is None:
        notes.append(
            f"Intel GPU {_hex(dev.device_id)} at {dev.pci_slot} is not in our id table "
            "(data/intel_gpu_ids.toml): integrated or discrete is unknown"
        )
    return _sysfs_gpu(dev, Vendor.INTEL, name=info.name if info else None, family=info.family if info else None,
                      integrated=info.integrated if info else None)


def _sysfs_gpu(dev: sysfs.SysfsDevice, vendor: Vendor, **known: Any) -> Gpu:
    """A GPU as sysfs describes it; `known`: what an id table adds (name, family, integrated)."""
    return Gpu(
        vendor=vendor,
        pci_vendor_id=dev.vendor_id,
        pci_device_id=dev.device_id,
        pci_slot=dev.pci_slot,
        driver=dev.driver,
        card=dev.card,
        render_node=dev.render_node,
        sources=("sysfs",),
        **known,
    )


def _no_gpu_note(root: Path) -> str:
    drm = (root / "sys" / "class" / "drm").is_dir()
    where = "/sys/class/drm and /sys/bus/pci" if drm else "/sys/bus/pci (there is no /sys/class/drm)"
    return f"{NO_GPU_NOTE}: no NVIDIA, Intel or AMD display device in {where}, and no NVIDIA GPU through NVML"


def _hex(value: int | None) -> str:
    return "0x????" if value is None else f"0x{value:04x}"
