"""Which Vulkan device index is our Intel GPU N.

Ollama's Vulkan backend numbers devices as the Vulkan loader enumerates them (GGML_VK_VISIBLE_DEVICES takes
those numbers), and that order mixes vendors: an NVIDIA card (through NVIDIA's Vulkan driver) may come before
the Intel one, and software renderers (llvmpipe) appear too. `vulkaninfo --summary` lists the devices in that
order with their PCI vendor and device ids, which we match against the hardware probe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ..hardware.model import Gpu
from ..proc import Runner

VULKANINFO_TIMEOUT_S = 20.0
INTEL_VENDOR_ID = 0x8086

_GPU_HEADER = re.compile(r"^\s*GPU(\d+):\s*$")
_FIELD = re.compile(r"^\s*(\w+)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class VulkanDevice:
    index: int  # the loader's enumeration index: what GGML_VK_VISIBLE_DEVICES takes
    vendor_id: int | None
    device_id: int | None
    name: str
    device_type: str  # "PHYSICAL_DEVICE_TYPE_DISCRETE_GPU", "..._INTEGRATED_GPU", "..._CPU"


def list_vulkan_devices(runner: Runner, environ: dict[str, str] | None = None) -> tuple[VulkanDevice, ...] | None:
    """The devices `vulkaninfo --summary` reports, or None when it is missing or fails."""
    result = runner(["vulkaninfo", "--summary"], timeout=VULKANINFO_TIMEOUT_S, env=environ)
    if not result.ok:
        return None
    devices = parse_summary(result.stdout)
    return devices or None


def parse_summary(text: str) -> tuple[VulkanDevice, ...]:
    """Parse the `Devices:` part of `vulkaninfo --summary` (GPU0:, then `key = value` lines)."""
    devices: list[VulkanDevice] = []
    current: dict[str, str] | None = None
    index = -1

    def flush() -> None:
        if current is not None:
            devices.append(VulkanDevice(index, _hex(current.get("vendorID")), _hex(current.get("deviceID")),
                                        current.get("deviceName", f"GPU{index}"), current.get("deviceType", "")))

    for line in text.splitlines():
        header = _GPU_HEADER.match(line)
        if header:
            flush()
            current, index = {}, int(header.group(1))
            continue
        field = _FIELD.match(line)
        if current is not None and field:
            current[field.group(1)] = field.group(2)
    flush()
    return tuple(devices)


def vulkan_index_of(gpu: Gpu, intel_gpus: Sequence[Gpu], devices: Sequence[VulkanDevice]) -> int | None:
    """The Vulkan index of `gpu` (one of `intel_gpus`, in PCI order). Identical cards are told apart by
    order: the k-th card of a model in PCI order is taken to be its k-th Vulkan device (Mesa enumerates DRM
    devices in bus order). None when no Vulkan device matches."""
    if gpu.pci_device_id is None:
        return None
    same_model = [g for g in intel_gpus if g.pci_device_id == gpu.pci_device_id]
    rank = next((i for i, g in enumerate(same_model) if g is gpu or g == gpu), 0)
    matches = [d for d in devices if d.vendor_id == INTEL_VENDOR_ID and d.device_id == gpu.pci_device_id]
    return matches[rank].index if rank < len(matches) else None


def _hex(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value.split()[0], 0)
    except ValueError:
        return None
