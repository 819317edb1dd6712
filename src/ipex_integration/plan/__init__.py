"""Selection policy: flags + environment variables + hardware + environments + config -> DevicePlan."""

from .model import DevicePlan, DeviceRequest
from .policy import PRIORITY, select_device

__all__ = ["PRIORITY", "DevicePlan", "DeviceRequest", "select_device"]
