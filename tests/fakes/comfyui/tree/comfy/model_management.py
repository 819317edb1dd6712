"""Test double of ComfyUI's comfy/model_management.py: only its device selection, kept as in v0.3.47.

Like the real module it reads the device state ONCE, at import: XPU is checked before CUDA, an importable
intel_extension_for_pytorch counts, `--cpu` wins, and without XPU it falls through to
torch.cuda.current_device() (which fails when torch sees no CUDA device).
"""

import logging
from enum import Enum

import torch
from comfy.cli_args import args


class CPUState(Enum):
    GPU = 0
    CPU = 1
    MPS = 2


cpu_state = CPUState.GPU

xpu_available = False
torch_version = ""
try:
    torch_version = torch.version.__version__
    temp = torch_version.split(".")
    torch_version_numeric = (int(temp[0]), int(temp[1]))
    xpu_available = (torch_version_numeric[0] < 2 or (torch_version_numeric[0] == 2 and torch_version_numeric[1] <= 4)) and torch.xpu.is_available()
except:  # noqa: E722 - as upstream
    pass

try:
    import intel_extension_for_pytorch as ipex  # noqa: F401
    _ = torch.xpu.device_count()
    xpu_available = xpu_available or torch.xpu.is_available()
except:  # noqa: E722 - as upstream
    xpu_available = xpu_available or (hasattr(torch, "xpu") and torch.xpu.is_available())

try:
    if torch.backends.mps.is_available():
        cpu_state = CPUState.MPS
except:  # noqa: E722 - as upstream
    pass

if args.cpu:
    cpu_state = CPUState.CPU


def is_intel_xpu():
    return cpu_state == CPUState.GPU and xpu_available


def get_torch_device():
    if cpu_state == CPUState.MPS:
        return torch.device("mps")
    if cpu_state == CPUState.CPU:
        return torch.device("cpu")
    if is_intel_xpu():
        return torch.device("xpu", torch.xpu.current_device())
    return torch.device(torch.cuda.current_device())


def get_torch_device_name(device):
    if device.type == "cuda":
        return "{} {}".format(device, torch.cuda.get_device_name(device))
    if device.type == "xpu":
        return "{} {}".format(device, torch.xpu.get_device_name(device))
    return "{}".format(device.type)


logging.info("Device: {}".format(get_torch_device_name(get_torch_device())))
