"""Builders for hand-made status contexts: runtime answers as CUDA/XPU/CPU torches give them, a fake ldconfig."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from ipex_integration.hardware.model import HardwareReport
from ipex_integration.hardware.probe import probe_hardware
from ipex_integration.plan.model import DevicePlan, DeviceRequest
from ipex_integration.proc import CommandResult
from ipex_integration.runtime.model import Backend, Environment, RuntimeInfo, TorchDevice
from tests.fakes.sysfs import fake_nvidia_smi_for, fake_nvml_for, make_layout


def hardware_of(tmp_path: Path, layout: str) -> tuple[HardwareReport, Path]:
    """The probe's report for a fake layout, and the fake root (which also holds dev/dri/renderD*)."""
    root = make_layout(tmp_path / "root", layout)
    return probe_hardware(root=root, nvml=fake_nvml_for(layout), runner=fake_nvidia_smi_for(layout)), root


def interpreter(tmp_path: Path, name: str) -> str:
    """A file standing where a registered environment's python would be."""
    path = tmp_path / "envs" / name / "bin" / "python"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def env(name: str, python: str, backend: Backend | None = None) -> Environment:
    if name == "current":
        return Environment(name="current", python=python, backend=None, registered=False)
    return Environment(name=name, python=python, backend=backend or Backend(name), registered=True)


def cuda_info(python: str, *, available: bool = True, ipex: str | None = None) -> RuntimeInfo:
    devices = (TorchDevice(Backend.CUDA, 0, "NVIDIA GeForce RTX 4090", 24 * 2**30, "8.9", True, False),)
    return RuntimeInfo(python=python, ok=True, python_version="3.11.9", torch_version="2.8.0+cu128",
                       torch_build="cuda", cuda_version="12.8", cuda_available=available,
                       devices=devices if available else (), ipex_version=ipex)


def xpu_info(python: str, *, available: bool = True, ipex: str | None = None) -> RuntimeInfo:
    devices = (TorchDevice(Backend.XPU, 0, "Intel(R) Arc(TM) B580 Graphics", 12 * 2**30, "xe2", True, False),)
    return RuntimeInfo(python=python, ok=True, python_version="3.11.9", torch_version="2.8.0+xpu",
                       torch_build="xpu", xpu_available=available, devices=devices if available else (),
                       ipex_version=ipex)


def cpu_info(python: str, *, ipex: str | None = None) -> RuntimeInfo:
    return RuntimeInfo(python=python, ok=True, python_version="3.11.9", torch_version="2.8.0+cpu",
                       torch_build="cpu", ipex_version=ipex)


def no_torch_info(python: str) -> RuntimeInfo:
    return RuntimeInfo(python=python, ok=True, python_version="3.11.9")


def plan(backend: Backend, environment: str, python: str, *, index: int | None = None, name: str | None = None,
         warnings: tuple[str, ...] = ()) -> DevicePlan:
    return DevicePlan(backend=backend, device_index=index, device_name=name, environment=environment, python=python,
                      warnings=warnings, request=DeviceRequest(source="default"))


class FakeLdconfig:
    """Stands in for `ldconfig -p` (the linker cache listing). `libs`: name -> path in the cache.
    `location`: the argv[0] that works ("ldconfig" or "/sbin/ldconfig"); others are not found.
    Every argv is recorded in `calls`."""

    def __init__(self, libs: Mapping[str, str] = (), *, location: str = "ldconfig") -> None:
        self.libs = dict(libs)
        self.location = location
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv, *, timeout: float, env=None, input=None) -> CommandResult:
        argv = tuple(argv)
        self.calls.append(argv)
        if argv[0] != self.location or os.path.basename(argv[0]) != "ldconfig":
            return CommandResult(argv, 127, "", f"No such file or directory: {argv[0]!r}", not_found=True)
        lines = [f"{len(self.libs) + 2} libs found in cache `/etc/ld.so.cache'",
                 "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1"]
        lines += [f"\t{name} (libc6,x86-64) => {path}" for name, path in self.libs.items()]
        lines.append("\tlibc.so.6 (libc6,x86-64, OS ABI: Linux 3.2.0) => /lib/x86_64-linux-gnu/libc.so.6")
        return CommandResult(argv, 0, "\n".join(lines) + "\n", "")


ALL_INTEL_LIBS = {
    "libze_loader.so.1": "/lib/x86_64-linux-gnu/libze_loader.so.1",
    "libze_intel_gpu.so.1": "/lib/x86_64-linux-gnu/libze_intel_gpu.so.1",
    "libigdrcl.so": "/lib/x86_64-linux-gnu/libigdrcl.so",
}
