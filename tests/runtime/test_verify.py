"""verify_environment: a pure function from (backend, runtime probe answer, hardware report) to problems."""

from __future__ import annotations

import pytest

from ipex_integration.errors import EnvironmentSetupError
from ipex_integration.runtime.create import verify_environment as verify_from_create
from ipex_integration.runtime.model import Backend, RuntimeInfo, TorchDevice
from ipex_integration.runtime.verify import verify_environment
from ipex_integration.runtime.wheels import cuda_index_tag, default_index_url, min_driver_for_cuda

from .helpers import NO_GPU, hardware, intel_arc, nvidia_gpu

H100_DEV = TorchDevice(Backend.CUDA, 0, "NVIDIA H100 80GB HBM3", capability="9.0", bf16=True)
ARC_DEV = TorchDevice(Backend.XPU, 0, "Intel(R) Arc(TM) A770 Graphics", bf16=True)


def info(version=None, build=None, *, cuda=None, cuda_ok=False, xpu_ok=False, devices=(), ok=True, **kw):
    return RuntimeInfo(
        python="/envs/x/bin/python",
        ok=ok,
        torch_version=version,
        torch_build=build,
        cuda_version=cuda,
        cuda_available=cuda_ok,
        xpu_available=xpu_ok,
        devices=devices,
        **kw,
    )


CUDA_OK = info("2.8.0+cu128", "cuda", cuda="12.8", cuda_ok=True, devices=(H100_DEV,))
XPU_OK = info("2.8.0+xpu", "xpu", xpu_ok=True, devices=(ARC_DEV,))
CPU_TORCH = info("2.8.0+cpu", "cpu")
CUDA_BLIND = info("2.8.0+cu128", "cuda", cuda="12.8")
CU130_BLIND = info("2.9.0+cu130", "cuda", cuda="13.0")
XPU_BLIND = info("2.8.0+xpu", "xpu", notes=("XPU probe failed: RuntimeError: level zero loader",))
H100_HW = hardware(nvidia_gpu())
ARC_HW = hardware(intel_arc())


@pytest.mark.parametrize(
    "backend, runtime, hw, expected",
    [
        # fits
        (Backend.CUDA, CUDA_OK, H100_HW, None),
        (Backend.XPU, XPU_OK, ARC_HW, None),
        (Backend.CPU, CPU_TORCH, NO_GPU, None),
        (Backend.CPU, CUDA_OK, H100_HW, None),  # every build runs on the CPU
        # a GPU build on a machine without that GPU is fine to create (the GPU may come later)
        (Backend.CUDA, CUDA_BLIND, NO_GPU, None),
        (Backend.XPU, info("2.8.0+xpu", "xpu"), NO_GPU, None),
        # wrong build
        (Backend.XPU, CPU_TORCH, ARC_HW, "torch 2.8.0+cpu is a cpu build; an xpu environment needs a +xpu build"),
        (Backend.XPU, CUDA_OK, ARC_HW, "is a cuda build; an xpu environment needs a +xpu build"),
        (Backend.CUDA, XPU_OK, H100_HW, "torch 2.8.0+xpu is an xpu build; a cuda environment needs a +cuXXX"),
        (Backend.CUDA, info("2.8.0+rocm6.4", "rocm"), H100_HW, "is a rocm build"),
        # no torch, broken torch, failed probe
        (Backend.CPU, info(), NO_GPU, "torch is not installed in /envs/x/bin/python"),
        (Backend.CUDA, info(torch_error="`import torch` failed: ImportError: libcudnn"), H100_HW, "libcudnn"),
        (Backend.CPU, info(ok=False, error="probe timed out after 30 s"), NO_GPU, "probe failed: probe timed out"),
        # the right build that cannot see the GPU this machine has: say why
        (Backend.XPU, XPU_BLIND, ARC_HW, "sees no XPU device although this machine has 1 Intel GPU (Intel Arc A770)"),
        (Backend.XPU, XPU_BLIND, ARC_HW, "Level Zero loader or the Intel compute runtime"),
        (Backend.XPU, XPU_BLIND, ARC_HW, "probe said: XPU probe failed: RuntimeError: level zero loader"),
        (Backend.XPU, XPU_BLIND, hardware(intel_arc(driver=None)), "no Intel GPU kernel driver (xe or i915)"),
        (Backend.XPU, XPU_BLIND, hardware(intel_arc(render_node=None)), "no /dev/dri/renderD* node"),
        (Backend.CUDA, CUDA_BLIND, hardware(nvidia_gpu(driver=None), modules=()), "nvidia kernel module is not loaded"),
        (
            Backend.CUDA,
            CU130_BLIND,
            hardware(nvidia_gpu(driver_version="570.124.06")),
            "built for CUDA 13.0, which needs NVIDIA driver >= 580.65.06, and this machine has 570.124.06",
        ),
        (Backend.CUDA, CUDA_BLIND, H100_HW, "torch.cuda.is_available() is False with driver 570.124.06 loaded"),
    ],
)
def test_verify(backend, runtime, hw, expected):
    problems = verify_environment(backend, runtime, hw)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert expected in problems[0]


def test_create_exports_the_same_function():
    assert verify_from_create is verify_environment


@pytest.mark.parametrize(
    "driver, tag",
    [
        ("595.45.04", "cu130"),
        ("580.65.06", "cu130"),
        ("580.65.05", "cu128"),
        ("575.51.03", "cu128"),
        ("570.26", "cu128"),
        ("565.57.01", "cu126"),
        ("560.28.03", "cu126"),
        ("550.54.15", "cu124"),
        ("535.183.01", "cu124"),
        ("525.60.13", "cu124"),
        ("520.61.05", "cu118"),
        ("470.256.02", "cu118"),
        (None, "cu126"),
        ("garbage", "cu126"),
    ],
)
def test_cuda_index_follows_the_driver(driver, tag):
    assert cuda_index_tag(driver)[0] == tag
    url, why = default_index_url(Backend.CUDA, driver)
    assert url == f"https://download.pytorch.org/whl/{tag}"
    assert why


def test_driver_too_old_for_any_build():
    with pytest.raises(EnvironmentSetupError, match="418.87.01 is too old") as excinfo:
        cuda_index_tag("418.87.01")
    assert "--index-url" in excinfo.value.hint


def test_xpu_and_cpu_indexes():
    assert default_index_url(Backend.XPU)[0] == "https://download.pytorch.org/whl/xpu"
    assert default_index_url(Backend.CPU)[0] == "https://download.pytorch.org/whl/cpu"


def test_min_driver_for_cuda():
    assert min_driver_for_cuda("13.0") == (580, 65, 6)
    assert min_driver_for_cuda("12.8") == (525, 60, 13)
    assert min_driver_for_cuda(None) is None
