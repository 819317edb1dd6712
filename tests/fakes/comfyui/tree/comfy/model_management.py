"""Test double of ComfyUI's comfy/model_management.py: only the device choice, with stock ComfyUI's rules.

What the launcher must cope with (DESIGN.md), reproduced here:
- the device state is read ONCE, when this module is imported;
- intel_extension_for_pytorch is imported when it can be (torch builds before 2.5 get torch.xpu from it);
- an Intel XPU, when torch sees one, wins over CUDA; MPS wins over both; `--cpu` wins over everything;
- otherwise the device is torch.cuda.current_device(), which raises when torch sees no CUDA device.
The module names main.py reads (`xpu_available`, `get_torch_device`) are ComfyUI's.
"""

import logging

import torch
from comfy.cli_args import args


def _import_ipex() -> None:
    try:
        import intel_extension_for_pytorch  # noqa: F401 - imported for its side effects, as stock ComfyUI does
    except Exception:  # ImportError, or a broken install: stock ComfyUI carries on without it
        pass


def _available(backend) -> bool:
    try:
        return bool(backend is not None and backend.is_available())
    except Exception:  # a half-working runtime counts as absent
        return False


_import_ipex()
xpu_available = _available(getattr(torch, "xpu", None))
mps_available = _available(getattr(getattr(torch, "backends", None), "mps", None))

if args.cpu:
    _choice = "cpu"
elif mps_available:
    _choice = "mps"
elif xpu_available:
    _choice = "xpu"
else:
    _choice = "cuda"


def is_intel_xpu() -> bool:
    return _choice == "xpu"


def get_torch_device():
    if _choice == "xpu":
        return torch.device("xpu", torch.xpu.current_device())
    if _choice == "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device(_choice)


logging.info("Device: %s", get_torch_device())
