"""probe_hardware on every fake layout, with NVML / nvidia-smi / neither."""

from __future__ import annotations

import ast
import pathlib
import time

import pytest

from ipex_integration.hardware import Vendor, probe_hardware
from tests.fakes.sysfs import (
    H100_0_NV,
    H100_1_NV,
    FakeGpu,
    FakeNvidiaSmi,
    FakeNvml,
    NVMLError_LibraryNotFound,
    build_sysfs,
    fake_nvidia_smi_for,
    fake_nvml_for,
    make_layout,
)


def probe(tmp_path, layout, **kwargs):
    kwargs.setdefault("nvml", fake_nvml_for(layout))
    kwargs.setdefault("runner", fake_nvidia_smi_for(layout))
    return probe_hardware(root=make_layout(tmp_path, layout), **kwargs)


# layout -> [(vendor, slot, name, integrated, driver)] in report order
EXPECTED = {
    "nvidia_arc": [
        ("nvidia", "0000:01:00.0", "NVIDIA GeForce RTX 4090", False, "nvidia"),
        ("intel", "0000:03:00.0", "Intel Arc A770 Graphics", False, "i915"),
    ],
    "igpu_arc": [
        ("intel", "0000:00:02.0", "Intel UHD Graphics 770 (Raptor Lake-S)", True, "i915"),
        ("intel", "0000:03:00.0", "Intel Arc B580 Graphics", False, "xe"),
    ],
    "nvidia_only": [
        ("nvidia", "0000:18:00.0", "NVIDIA H100 80GB HBM3", False, "nvidia"),
        ("nvidia", "0000:2a:00.0", "NVIDIA H100 80GB HBM3", False, "nvidia"),
    ],
    "igpu_only": [("intel", "0000:00:02.0", "Intel Arc Graphics (Meteor Lake)", True, "i915")],
    "amd_only": [("amd", "0000:03:00.0", None, None, "amdgpu")],
    "no_gpu": [],
}


@pytest.mark.parametrize("layout", sorted(EXPECTED))
def test_layouts(tmp_path, layout):
    report = probe(tmp_path, layout)
    got = [(g.vendor.value, g.pci_slot, g.name, g.integrated, g.driver) for g in report.gpus]
    assert got == EXPECTED[layout]


def test_no_gpu_says_so(tmp_path):
    report = probe(tmp_path, "no_gpu")
    assert report.gpus == () and report.nvidia_source == "none"
    assert any("no GPU found" in n for n in report.notes)


def test_nvml_details_merge_into_sysfs_rows(tmp_path):
    report = probe(tmp_path, "nvidia_only")
    assert report.nvidia_source == "nvml"
    first, second = report.nvidia
    assert first.sources == ("sysfs", "nvml") and first.nvidia_index == 0 and second.nvidia_index == 1
    assert first.compute_capability == "9.0" and first.memory_total_bytes == 81559 * 2**20
    assert first.uuid == H100_0_NV.uuid and second.uuid == H100_1_NV.uuid
    assert first.pci_device_id == 0x2330 and first.card is None


def test_bmc_vga_is_not_a_gpu(tmp_path):
    report = probe(tmp_path, "nvidia_only")  # holds an ASPEED VGA at 0000:03:00.0
    assert all(g.vendor is Vendor.NVIDIA for g in report.gpus)


def test_nvml_only_gpus_are_listed_without_sysfs(tmp_path):
    """A container: no /sys/class/drm, no PCI devices, but NVML answers (like our H100 test machine)."""
    (tmp_path / "sys").mkdir()
    report = probe_hardware(root=tmp_path, nvml=FakeNvml([H100_0_NV]), runner=FakeNvidiaSmi(state="missing"))
    (gpu,) = report.gpus
    assert gpu.name == "NVIDIA H100 80GB HBM3" and gpu.pci_slot == "0000:18:00.0"
    assert gpu.sources == ("nvml",) and gpu.driver == "nvidia" and gpu.nvidia_index == 0
    assert report.nvidia_source == "nvml" and report.notes == ()


def test_nvidia_smi_when_nvml_is_missing(tmp_path):
    smi = fake_nvidia_smi_for("nvidia_only")
    report = probe(tmp_path, "nvidia_only", nvml=FakeNvml(init_error=NVMLError_LibraryNotFound()), runner=smi)
    assert report.nvidia_source == "nvidia-smi" and len(smi.calls) == 1
    assert [g.name for g in report.nvidia] == ["NVIDIA H100 80GB HBM3"] * 2
    assert report.nvidia[0].sources == ("sysfs", "nvidia-smi")
    assert any("used nvidia-smi" in n for n in report.notes)


def test_nvml_disabled_uses_nvidia_smi(tmp_path):
    report = probe(tmp_path, "nvidia_arc", nvml=None, runner=fake_nvidia_smi_for("nvidia_arc"))
    assert report.nvidia_source == "nvidia-smi" and report.nvidia[0].name == "NVIDIA GeForce RTX 4090"


def test_sysfs_only_nvidia_when_both_fail(tmp_path):
    report = probe(
        tmp_path, "nvidia_only",
        nvml=FakeNvml(init_error=NVMLError_LibraryNotFound()), runner=FakeNvidiaSmi(state="no_driver"),
    )
    assert report.nvidia_source == "sysfs"
    assert [g.name for g in report.nvidia] == [None, None]
    assert report.nvidia[0].driver_version == "550.54.15"  # from /sys/module/nvidia/version
    assert report.nvidia[0].label == "nvidia GPU 0x2330"
    (note,) = report.notes
    assert "2 NVIDIA GPU(s) found in sysfs" in note and "couldn't communicate" in note


def test_no_nvidia_in_sight_skips_nvidia_smi(tmp_path):
    smi = FakeNvidiaSmi(state="missing")
    report = probe(tmp_path, "igpu_arc", nvml=FakeNvml(init_error=NVMLError_LibraryNotFound()), runner=smi)
    assert smi.calls == [] and report.nvidia_source == "none" and report.notes == ()


def test_driver_loaded_but_nothing_answers_is_noted(tmp_path):
    root = build_sysfs(tmp_path, [], modules=["nvidia"])
    report = probe_hardware(
        root=root, nvml=FakeNvml(init_error=NVMLError_LibraryNotFound()), runner=FakeNvidiaSmi(state="hang")
    )
    assert report.gpus == ()
    assert any("NVIDIA driver is loaded" in n and "no answer" in n for n in report.notes)


def test_unknown_intel_id_is_unknown_and_noted(tmp_path):
    future = FakeGpu(0x8086, 0xFFF0, "0000:04:00.0", "xe", card=0, render=128)
    report = probe_hardware(root=build_sysfs(tmp_path, [future]), nvml=None, runner=FakeNvidiaSmi(state="missing"))
    (gpu,) = report.gpus
    assert gpu.integrated is None and gpu.name is None
    assert any("0xfff0" in n and "not in our id table" in n for n in report.notes)
    assert report.intel_discrete == ()


def test_order_is_vendor_then_slot(tmp_path):
    gpus = [
        FakeGpu(0x8086, 0x56A0, "0000:01:00.0", "i915", card=0, render=128),
        FakeGpu(0x10DE, 0x2684, "0000:05:00.0", "nvidia", card=1, render=129),
        FakeGpu(0x10DE, 0x2684, "0000:02:00.0", "nvidia", card=2, render=130),
    ]
    report = probe_hardware(root=build_sysfs(tmp_path, gpus), nvml=None, runner=FakeNvidiaSmi(state="missing"))
    assert [(g.vendor.value, g.pci_slot) for g in report.gpus] == [
        ("nvidia", "0000:02:00.0"), ("nvidia", "0000:05:00.0"), ("intel", "0000:01:00.0")
    ]


def test_report_is_json_ready(tmp_path):
    import json

    data = json.loads(json.dumps(probe(tmp_path, "nvidia_arc").to_dict()))
    assert data["gpus"][1]["pci_device_id"] == "0x56a0" and data["nvidia_source"] == "nvml"


def test_this_machine_fast_and_no_crash():
    """The real probe on this machine (no GPU here; on a GPU machine it lists them). Well under 100 ms."""
    probe_hardware()  # warm: imports pynvml once
    start = time.perf_counter()
    report = probe_hardware()
    assert time.perf_counter() - start < 0.1
    assert isinstance(report.gpus, tuple)


def test_hardware_package_never_imports_torch():
    package = pathlib.Path(__import__("ipex_integration.hardware", fromlist=["x"]).__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "torch" for n in names), path
