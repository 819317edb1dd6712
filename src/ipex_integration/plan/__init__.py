"""Selection policy: flags + environment variables + hardware + environments + config -> DevicePlan."""

from .model import DevicePlan, DeviceRequest

__all__ = ["DevicePlan", "DeviceRequest"]
