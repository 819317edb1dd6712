"""Hardware reports and runtime-probe answers, built directly (the policy is a pure function of them).

The GPUs mirror tests/fakes/sysfs.py's layouts (same PCI ids and slots), as the hardware probe reports them;
the RuntimeInfo answers are what the runtime probe returns for a CUDA, XPU or CPU torch build.
"""

from __future__ import annotations

import dataclasses

from ipex_integration.hardware.model import Gpu, HardwareReport, Vendor
from ipex_integration.runtime.model import Backend, Environment, RuntimeInfo, TorchDevice

RTX_4090 = Gpu(Vendor.NVIDIA, 0x10DE, 0x2684, "0000:01:00.0", "nvidia", "card0", "/dev/dri/renderD128",
               name="NVIDIA GeForce RTX 4090", integrated=False, uuid="GPU-5c0bd9a1-3f27-4a8e-9d57-2b8c6e0f1a42")
H100_0 = Gpu(Vendor.NVIDIA, 0x10DE, 0x2330, "0000:18:00.0", "nvidia", name="NVIDIA H100 80GB HBM3",
             integrated=False, uuid="GPU-0b6f1e0c-8f5a-4c1d-a7b2-9e3d4c5b6a71")
H100_1 = Gpu(Vendor.NVIDIA, 0x10DE, 0x2330, "0000:2a:00.0", "nvidia", name="NVIDIA H100 80GB HBM3",
             integrated=False, uuid="GPU-7d2a9c4e-1b3f-4e6a-8c5d-0f9e8d7c6b52")
ARC_A770 = Gpu(Vendor.INTEL, 0x8086, 0x56A0, "0000:03:00.0", "i915", "card1", "/dev/dri/renderD129",
               name="Intel Arc A770 Graphics", family="Arc Alchemist", integrated=False)
ARC_B580 = Gpu(Vendor.INTEL, 0x8086, 0xE20B, "0000:03:00.0", "xe", "card1", "/dev/dri/renderD129",
               name="Intel Arc B580 Graphics", family="Arc Battlemage", integrated=False)
RPL_IGPU = Gpu(Vendor.INTEL, 0x8086, 0xA780, "0000:00:02.0", "i915", "card0", "/dev/dri/renderD128",
               name="Intel UHD Graphics 770", family="Raptor Lake-S", integrated=True)
MTL_IGPU = Gpu(Vendor.INTEL, 0x8086, 0x7D55, "0000:00:02.0", "i915", "card0", "/dev/dri/renderD128",
               name="Intel Arc Graphics (Meteor Lake)", family="Meteor Lake", integrated=True)
UNKNOWN_INTEL = Gpu(Vendor.INTEL, 0x8086, 0xFFFF, "0000:04:00.0", "xe", "card2", "/dev/dri/renderD130")
RX_7900 = Gpu(Vendor.AMD, 0x1002, 0x744C, "0000:03:00.0", "amdgpu", "card0", "/dev/dri/renderD128",
              name=None, integrated=False)

MACHINES: dict[str, HardwareReport] = {
    "nvidia_arc": HardwareReport(gpus=(RTX_4090, ARC_A770), nvidia_source="nvml"),
    "igpu_arc": HardwareReport(gpus=(RPL_IGPU, ARC_B580)),
    "nvidia_only": HardwareReport(gpus=(H100_0, H100_1), nvidia_source="nvml"),
    "igpu_only": HardwareReport(gpus=(MTL_IGPU,)),
    "amd_only": HardwareReport(gpus=(RX_7900,)),
    "no_gpu": HardwareReport(),
    "igpu_unknown": HardwareReport(gpus=(RPL_IGPU, UNKNOWN_INTEL)),
    "igpu_two_arc": HardwareReport(gpus=(RPL_IGPU, ARC_A770, Gpu(Vendor.INTEL, 0x8086, 0xE20B, "0000:04:00.0",
                                                                  "xe", name="Intel Arc B580 Graphics",
                                                                  integrated=False))),
}

CUDA_PY = "/envs/cuda/bin/python"
XPU_PY = "/envs/xpu/bin/python"
CPU_PY = "/envs/cpu/bin/python"
CUR_PY = "/usr/bin/python3"


def cuda_info(python: str = CUDA_PY, devices: int = 1) -> RuntimeInfo:
    return RuntimeInfo(
        python, True, python_version="3.11.9", torch_version="2.8.0+cu128", torch_build="cuda", cuda_version="12.8",
        cuda_available=True,
        devices=tuple(TorchDevice(Backend.CUDA, i, f"NVIDIA GPU {i}", 24 << 30, "8.9", True, False)
                      for i in range(devices)),
    )


def xpu_info(python: str = XPU_PY, devices: int = 1) -> RuntimeInfo:
    return RuntimeInfo(
        python, True, python_version="3.11.9", torch_version="2.8.0+xpu", torch_build="xpu", xpu_available=True,
        devices=tuple(TorchDevice(Backend.XPU, i, f"Intel(R) Arc(TM) GPU {i}", 16 << 30, None, True, False)
                      for i in range(devices)),
    )


def xpu_no_device_info(python: str = XPU_PY) -> RuntimeInfo:
    """An xpu torch that sees no XPU (driver or Level Zero missing)."""
    return RuntimeInfo(python, True, torch_version="2.8.0+xpu", torch_build="xpu", xpu_available=False)


def cpu_info(python: str = CPU_PY) -> RuntimeInfo:
    return RuntimeInfo(python, True, python_version="3.11.9", torch_version="2.8.0+cpu", torch_build="cpu")


def notorch_info(python: str = CUR_PY) -> RuntimeInfo:
    return RuntimeInfo(python, True, python_version="3.11.9")


def missing_info(python: str) -> RuntimeInfo:
    return RuntimeInfo(python, False, error=f"interpreter not found: {python}")


def env(name: str, python: str) -> Environment:
    if name == "current":
        return Environment("current", python, None, registered=False)
    return Environment(name, python, Backend(name))


CUDA_ENV = (env("cuda", CUDA_PY), cuda_info())
XPU_ENV = (env("xpu", XPU_PY), xpu_info())
CPU_ENV = (env("cpu", CPU_PY), cpu_info())
CUR_CPU = (env("current", CUR_PY), cpu_info(CUR_PY))
CUR_NOTORCH = (env("current", CUR_PY), notorch_info())
CUR_CUDA = (env("current", CUR_PY), cuda_info(CUR_PY))
CUR_XPU = (env("current", CUR_PY), xpu_info(CUR_PY))

ENVS: dict[str, tuple] = {
    "all": (CUDA_ENV, XPU_ENV, CPU_ENV, CUR_NOTORCH),
    "cuda_xpu": (CUDA_ENV, XPU_ENV, CUR_NOTORCH),
    "cuda_only": (CUDA_ENV, CUR_NOTORCH),
    "xpu_only": (XPU_ENV, CUR_NOTORCH),
    "current_cpu": (CUR_CPU,),
    "current_cuda": (CUR_CUDA,),
    "current_xpu": (CUR_XPU,),
    "none": (CUR_NOTORCH,),
    "xpu_env_cpu_torch": ((env("xpu", XPU_PY), cpu_info(XPU_PY)), CUR_NOTORCH),
    "xpu_env_no_device": ((env("xpu", XPU_PY), xpu_no_device_info()), CUR_CPU),
    "xpu_env_missing": ((env("xpu", XPU_PY), missing_info(XPU_PY)), CUR_CPU),
    "only_xpu_has_torch": (XPU_ENV, (env("cpu", CPU_PY), missing_info(CPU_PY)), CUR_NOTORCH),
    "container_cuda": ((env("cuda", CUDA_PY), cuda_info(devices=2)), CUR_NOTORCH),
    "container_xpu": ((env("xpu", XPU_PY), xpu_info(devices=1)), CUR_NOTORCH),
}


def envs_on(machine: str, name: str) -> tuple:
    """ENVS[name] as the runtime probe would answer on MACHINES[machine]: a CUDA/XPU torch sees no device where
    the machine has no GPU of that vendor. The container_* sets keep their devices on purpose (sysfs missing)."""
    pairs = ENVS[name]
    if name.startswith("container_"):
        return pairs
    hardware = MACHINES[machine]
    has = {Backend.CUDA: bool(hardware.nvidia), Backend.XPU: bool(hardware.intel)}
    adjusted = []
    for environment, info in pairs:
        for backend, present in has.items():
            if info is not None and not present:
                info = dataclasses.replace(
                    info,
                    cuda_available=info.cuda_available and backend is not Backend.CUDA,
                    xpu_available=info.xpu_available and backend is not Backend.XPU,
                    devices=tuple(d for d in info.devices if d.backend is not backend),
                )
        adjusted.append((environment, info))
    return tuple(adjusted)
