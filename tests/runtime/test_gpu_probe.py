"""On a machine with a GPU: the runtime probe of a real CUDA/XPU torch agrees with the hardware probe.

Runs the interpreter in IPEX_TEST_PYTHON (default: the one running the tests). Skips where that torch sees
no GPU. On the H100:  IPEX_TEST_PYTHON=/path/to/cuda/python python -m pytest tests/runtime -m gpu -q
"""

from __future__ import annotations

import os
import sys

import pytest

from ipex_integration.hardware.probe import probe_hardware
from ipex_integration.runtime.model import Backend
from ipex_integration.runtime.probe import probe_runtime
from ipex_integration.runtime.verify import verify_environment

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def probed():
    hw = probe_hardware()
    if not (hw.nvidia or hw.intel):
        pytest.skip("no NVIDIA or Intel GPU on this machine")
    python = os.environ.get("IPEX_TEST_PYTHON", sys.executable)
    info = probe_runtime(python, timeout=120, use_cache=False)
    if not (info.ok and (info.cuda_available or info.xpu_available)):
        pytest.skip(f"no GPU visible to the torch of {python} ({info.error or info.torch_version})")
    return info, hw


def test_cuda_devices_match_the_hardware_probe(probed):
    info, hw = probed
    cuda = info.devices_of(Backend.CUDA)
    if not cuda:
        pytest.skip("no CUDA device")
    assert info.torch_build == "cuda" and info.cuda_version
    if "CUDA_VISIBLE_DEVICES" not in os.environ:
        assert len(cuda) == len(hw.nvidia)
    by_uuid = {g.uuid: g for g in hw.nvidia if g.uuid}
    for dev in cuda:
        assert dev.name and dev.total_memory_bytes > 2**30
        major, minor = dev.capability.split(".")
        assert dev.bf16 == (int(major) >= 8)
        assert dev.multiprocessors and dev.multiprocessors > 0
        if by_uuid and dev.uuid:
            gpu = by_uuid[dev.uuid]  # torch's UUID in NVML's "GPU-..." form
            assert gpu.name == dev.name
            assert gpu.compute_capability in (None, dev.capability)
            if dev.pci_slot and gpu.pci_slot:
                assert dev.pci_slot == gpu.pci_slot
    if "CUDA_VISIBLE_DEVICES" not in os.environ and all(d.pci_slot for d in cuda):
        # CUDA_DEVICE_ORDER=PCI_BUS_ID in the probe: torch's indices follow PCI order, like `ipex devices`
        assert [d.pci_slot for d in cuda] == sorted(d.pci_slot for d in cuda)


def test_the_environment_verifies_for_its_backend(probed):
    info, hw = probed
    backend = Backend.CUDA if info.cuda_available else Backend.XPU
    assert verify_environment(backend, info, hw) == []


def test_xpu_devices_have_names_and_memory(probed):
    info, _ = probed
    xpu = info.devices_of(Backend.XPU)
    if not xpu:
        pytest.skip("no XPU device")
    assert info.torch_build == "xpu"
    for dev in xpu:
        assert dev.name and dev.total_memory_bytes > 2**28
