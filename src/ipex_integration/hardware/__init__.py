"""Hardware probe: which GPUs this machine has, from sysfs and NVML/nvidia-smi. Never imports torch."""

from .model import Gpu, HardwareReport, Vendor
from .probe import probe_hardware

__all__ = ["Gpu", "HardwareReport", "Vendor", "probe_hardware"]
