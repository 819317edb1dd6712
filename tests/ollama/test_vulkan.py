"""`vulkaninfo --summary` parsing and the Intel GPU -> Vulkan index mapping."""

from __future__ import annotations

import dataclasses

from ipex_integration.ollama.vulkan import list_vulkan_devices, parse_summary, vulkan_index_of
from ipex_integration.proc import CommandResult

from .helpers import A770, B580, VULKANINFO_NVIDIA_ARC


def test_parse_summary():
    devices = parse_summary(VULKANINFO_NVIDIA_ARC)
    assert [(d.index, d.vendor_id, d.device_id) for d in devices] == [(0, 0x10DE, 0x2684), (1, 0x8086, 0x56A0),
                                                                       (2, 0x10005, 0)]
    assert devices[1].name == "Intel(R) Arc(tm) A770 Graphics (DG2)"
    assert devices[2].device_type == "PHYSICAL_DEVICE_TYPE_CPU"


def test_intel_gpu_behind_an_nvidia_one_maps_to_its_vulkan_index():
    devices = parse_summary(VULKANINFO_NVIDIA_ARC)
    assert vulkan_index_of(A770, [A770], devices) == 1
    assert vulkan_index_of(B580, [A770, B580], devices) is None  # not listed by Vulkan


def test_identical_cards_are_told_apart_by_order():
    second = dataclasses.replace(A770, pci_slot="0000:05:00.0")
    text = VULKANINFO_NVIDIA_ARC.replace("GPU2:", "GPU2:\n\tvendorID = 0x8086\n\tdeviceID = 0x56a0\n"
                                                  "\tdeviceName = Intel(R) Arc(tm) A770 Graphics (DG2)\nGPU3:")
    devices = parse_summary(text)
    assert vulkan_index_of(A770, [A770, second], devices) == 1
    assert vulkan_index_of(second, [A770, second], devices) == 2


def test_missing_vulkaninfo_gives_none():
    calls = []

    def runner(argv, *, timeout, env=None, input=None):
        calls.append(list(argv))
        return CommandResult(tuple(argv), 127, "", "not found", not_found=True)

    assert list_vulkan_devices(runner) is None
    assert calls == [["vulkaninfo", "--summary"]]
