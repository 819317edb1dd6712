"""What the hardware probe reports: plain frozen dataclasses, JSON-ready through `to_dict`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum


class Vendor(str, Enum):
    NVIDIA = "nvidia"
    INTEL = "intel"
    AMD = "amd"
    OTHER = "other"

    @classmethod
    def from_pci_id(cls, vendor_id: int) -> "Vendor":
        return {0x10DE: cls.NVIDIA, 0x8086: cls.INTEL, 0x1002: cls.AMD}.get(vendor_id, cls.OTHER)


@dataclass(frozen=True)
class Gpu:
    """One GPU. Fields we could not learn are None (the report's `notes` say why)."""

    vendor: Vendor
    pci_vendor_id: int | None
    pci_device_id: int | None
    pci_slot: str | None = None  # "0000:03:00.0", lower-case, the sort key for device indices
    driver: str | None = None  # kernel driver bound: "nvidia", "xe", "i915", "amdgpu", ...
    card: str | None = None  # "card1" under /sys/class/drm
    render_node: str | None = None  # "/dev/dri/renderD128"
    name: str | None = None  # marketing name (NVML, nvidia-smi or our Intel id table)
    family: str | None = None  # Intel: "Arc Alchemist", "Arc Battlemage", "Data Center GPU Max", iGPU family
    integrated: bool | None = None  # Intel: True for iGPUs; NVIDIA/AMD discrete cards: False
    memory_total_bytes: int | None = None
    uuid: str | None = None
    serial: str | None = None
    driver_version: str | None = None
    compute_capability: str | None = None  # NVIDIA "9.0"
    nvidia_index: int | None = None  # NVML index (PCI bus order, the order CUDA uses with CUDA_DEVICE_ORDER=PCI_BUS_ID)
    sources: tuple[str, ...] = ()  # where the facts came from: "sysfs", "nvml", "nvidia-smi"

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.pci_device_id is not None:
            return f"{self.vendor.value} GPU 0x{self.pci_device_id:04x}"
        return f"{self.vendor.value} GPU"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["vendor"] = self.vendor.value
        data["pci_vendor_id"] = _hex(self.pci_vendor_id)
        data["pci_device_id"] = _hex(self.pci_device_id)
        data["sources"] = list(self.sources)
        return data


def _hex(value: int | None) -> str | None:
    return None if value is None else f"0x{value:04x}"


@dataclass(frozen=True)
class HardwareReport:
    """Every GPU found, in a stable order (vendor, then PCI slot), and notes on what could not be probed."""

    gpus: tuple[Gpu, ...] = ()
    nvidia_source: str = "none"  # "nvml" | "nvidia-smi" | "sysfs" | "none"
    loaded_modules: tuple[str, ...] = ()  # kernel modules of interest that are loaded (nvidia, xe, i915, amdgpu)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def of_vendor(self, vendor: Vendor) -> tuple[Gpu, ...]:
        return tuple(g for g in self.gpus if g.vendor == vendor)

    @property
    def nvidia(self) -> tuple[Gpu, ...]:
        """NVIDIA GPUs in CUDA index order (PCI bus order; the plan sets CUDA_DEVICE_ORDER=PCI_BUS_ID)."""
        return self.of_vendor(Vendor.NVIDIA)

    @property
    def intel(self) -> tuple[Gpu, ...]:
        """Intel GPUs in Level Zero index order (PCI bus order), integrated ones included."""
        return self.of_vendor(Vendor.INTEL)

    @property
    def intel_discrete(self) -> tuple[Gpu, ...]:
        return tuple(g for g in self.intel if g.integrated is False)

    def to_dict(self) -> dict:
        return {
            "gpus": [g.to_dict() for g in self.gpus],
            "nvidia_source": self.nvidia_source,
            "loaded_modules": list(self.loaded_modules),
            "notes": list(self.notes),
        }
