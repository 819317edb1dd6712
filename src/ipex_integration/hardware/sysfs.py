"""Read GPUs from Linux sysfs: no libraries, no subprocesses, just a few small files.

Layout on a real machine (every path below is under `root`, "/" in production):

    sys/class/drm/card1 -> ../../devices/pci0000:00/0000:03:00.0/drm/card1
    sys/class/drm/card1-DP-1 ...                       (a connector: skipped)
    sys/class/drm/card1/device -> ../../../0000:03:00.0  (the PCI device; its name is the slot)
    sys/devices/pci0000:00/0000:03:00.0/{vendor,device,class}   ("0x8086\\n", "0x56a0\\n", "0x030000\\n")
    sys/devices/pci0000:00/0000:03:00.0/driver -> ../../../bus/pci/drivers/xe
    sys/devices/pci0000:00/0000:03:00.0/drm/{card1,renderD128}
    sys/bus/pci/devices/0000:03:00.0 -> ../../../devices/pci0000:00/0000:03:00.0
    sys/module/xe                                       (present while the module is loaded)

Display-class PCI devices are read too, so a GPU without a DRM card (NVIDIA without nvidia-drm, or a
card with no driver bound) is still found.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

MODULES_OF_INTEREST = ("nvidia", "xe", "i915", "amdgpu")
PCI_CLASS_DISPLAY = 0x03  # base class of VGA, 3D and other display controllers

_CARD = re.compile(r"card\d+$")
_RENDER = re.compile(r"renderD\d+$")
_SLOT = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


@dataclass(frozen=True)
class SysfsDevice:
    """One PCI display device as sysfs shows it. Unreadable values are None."""

    pci_slot: str
    vendor_id: int | None
    device_id: int | None
    pci_class: int | None
    driver: str | None
    card: str | None
    render_node: str | None  # the device path in /dev, e.g. "/dev/dri/renderD128"


def scan(root: str | os.PathLike[str] = "/") -> list[SysfsDevice]:
    """All display devices, sorted by PCI slot: those with a DRM card plus display-class PCI devices."""
    sys_dir = Path(root) / "sys"
    found: dict[str, SysfsDevice] = {}
    for device_dir in _drm_device_dirs(sys_dir):
        dev = read_pci_device(device_dir)
        if dev is not None:
            found.setdefault(dev.pci_slot, dev)
    for device_dir in _pci_device_dirs(sys_dir):
        if device_dir.name in found:
            continue
        pci_class = _read_hex(device_dir / "class")
        if pci_class is None or pci_class >> 16 != PCI_CLASS_DISPLAY:
            continue
        dev = read_pci_device(device_dir)
        if dev is not None:
            found[dev.pci_slot] = dev
    return [found[slot] for slot in sorted(found)]


def loaded_modules(root: str | os.PathLike[str] = "/", names=MODULES_OF_INTEREST) -> tuple[str, ...]:
    """Which of `names` are loaded (or built in with parameters): /sys/module/<name> exists."""
    module_dir = Path(root) / "sys" / "module"
    return tuple(name for name in names if (module_dir / name).is_dir())


def module_version(root: str | os.PathLike[str], name: str) -> str | None:
    """/sys/module/<name>/version (the NVIDIA driver version for `nvidia`), or None."""
    return _read_text(Path(root) / "sys" / "module" / name / "version")


def read_pci_device(device_dir: Path) -> SysfsDevice | None:
    """Read one PCI device directory (or a symlink to it). None when it is not a PCI device."""
    try:
        slot = os.path.basename(os.path.realpath(device_dir)).lower()
    except OSError:
        return None
    if not _SLOT.match(slot):
        return None  # a platform framebuffer (simpledrm) or a virtual device, not a PCI GPU
    return SysfsDevice(
        pci_slot=slot,
        vendor_id=_read_hex(device_dir / "vendor"),
        device_id=_read_hex(device_dir / "device"),
        pci_class=_read_hex(device_dir / "class"),
        driver=_link_name(device_dir / "driver"),
        card=_first_match(device_dir / "drm", _CARD),
        render_node=_render_node(device_dir / "drm"),
    )


def _drm_device_dirs(sys_dir: Path) -> list[Path]:
    drm = sys_dir / "class" / "drm"
    try:
        names = os.listdir(drm)
    except OSError:
        return []  # no DRM at all: a container or a VM without a display device
    return [drm / name / "device" for name in sorted(names) if _CARD.match(name)]


def _pci_device_dirs(sys_dir: Path) -> list[Path]:
    devices = sys_dir / "bus" / "pci" / "devices"
    try:
        names = os.listdir(devices)
    except OSError:
        return []
    return [devices / name for name in sorted(names)]


def _render_node(drm_dir: Path) -> str | None:
    name = _first_match(drm_dir, _RENDER)
    return f"/dev/dri/{name}" if name else None


def _first_match(directory: Path, pattern: re.Pattern[str]) -> str | None:
    try:
        names = sorted(n for n in os.listdir(directory) if pattern.match(n))
    except OSError:
        return None
    return names[0] if names else None


def _link_name(path: Path) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None  # no driver bound


def _read_text(path: Path) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _read_hex(path: Path) -> int | None:
    text = _read_text(path)
    if text is None:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None
