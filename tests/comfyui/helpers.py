"""Helpers for the ComfyUI tests: real plans from the real policy on fake hardware, and reading what the fake
ComfyUI printed (see tests/fakes/comfyui)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ipex_integration.hardware.model import Gpu, HardwareReport, Vendor
from ipex_integration.plan.model import DevicePlan, DeviceRequest
from ipex_integration.plan.policy import select_device
from ipex_integration.runtime.model import Backend, Environment, RuntimeInfo

PYTHON = sys.executable
H100 = Gpu(Vendor.NVIDIA, 0x10DE, 0x2330, pci_slot="0000:01:00.0", driver="nvidia", name="NVIDIA H100", integrated=False)
A770 = Gpu(Vendor.INTEL, 0x8086, 0x56A0, pci_slot="0000:03:00.0", driver="xe", name="Intel Arc A770", integrated=False)


def hardware(cuda: int = 1, xpu: int = 1) -> HardwareReport:
    gpus = tuple(
        Gpu(H100.vendor, H100.pci_vendor_id, H100.pci_device_id, pci_slot=f"0000:0{1 + i}:00.0", name=H100.name,
            integrated=False, nvidia_index=i)
        for i in range(cuda)
    ) + tuple(
        Gpu(A770.vendor, A770.pci_vendor_id, A770.pci_device_id, pci_slot=f"0000:8{i}:00.0", name=A770.name,
            integrated=False)
        for i in range(xpu)
    )
    return HardwareReport(gpus=gpus, nvidia_source="nvml" if cuda else "none")


def environments(cuda: int = 1, xpu: int = 1, python: str = PYTHON):
    """The current interpreter, reported (as the runtime probe would) to drive what the fake torch has."""
    info = RuntimeInfo(python=python, ok=True, python_version="3.11", torch_version="2.8.0", torch_build="cuda",
                       cuda_available=cuda > 0, xpu_available=xpu > 0)
    return [(Environment("current", python, None, registered=False), info)]


def resolver(tmp_path: Path, *, cuda: int = 1, xpu: int = 1):
    """A stand-in for plan.resolve.resolve_plan: the real policy, on fake hardware and environments."""
    calls: list[DeviceRequest] = []

    def resolve(request: DeviceRequest, *, environ) -> DevicePlan:
        calls.append(request)
        return select_device(request, hardware=hardware(cuda, xpu), environments=environments(cuda, xpu),
                             environ=environ, cache_dir=tmp_path / "cache")

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def plan_for(backend: Backend | None, tmp_path: Path, *, cuda: int = 1, xpu: int = 1, environ=None, **request) -> DevicePlan:
    return select_device(DeviceRequest(backend=backend, **request), hardware=hardware(cuda, xpu),
                         environments=environments(cuda, xpu), environ=environ or {}, cache_dir=tmp_path / "cache")


def reports(text: str) -> list[dict]:
    """The FAKE_COMFYUI lines the fake main.py printed."""
    return [json.loads(line.split(" ", 1)[1]) for line in text.splitlines() if line.startswith("FAKE_COMFYUI ")]

