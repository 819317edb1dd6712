"""Hardware probe: which GPUs this machine has, from sysfs and NVML/nvidia-smi. Never imports torch."""

from .model import Gpu, HardwareReport, Vendor

__all__ = ["Gpu", "HardwareReport", "Vendor"]
