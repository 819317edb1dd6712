"""sysfs reading on fake trees that copy the kernel's layout."""

from __future__ import annotations

import os

import pytest

from ipex_integration.hardware import sysfs
from tests.fakes.sysfs import ARC_B580, BMC_VGA, H100_0, LAYOUTS, FakeGpu, build_sysfs, make_layout


def test_reads_vendor_device_driver_card_render_and_slot(tmp_path):
    root = build_sysfs(tmp_path, [ARC_B580])
    (dev,) = sysfs.scan(root)
    assert dev == sysfs.SysfsDevice(
        pci_slot="0000:03:00.0", vendor_id=0x8086, device_id=0xE20B, pci_class=0x030000,
        driver="xe", card="card1", render_node="/dev/dri/renderD129",
    )


def test_connector_entries_and_version_file_are_not_devices(tmp_path):
    root = make_layout(tmp_path, "igpu_only")  # card0, card0-eDP-1, card0-DP-1, renderD128, version
    assert sorted(os.listdir(root / "sys/class/drm")) == ["card0", "card0-DP-1", "card0-eDP-1", "renderD128", "version"]
    assert [d.pci_slot for d in sysfs.scan(root)] == ["0000:00:02.0"]


def test_gpu_without_drm_card_is_found_through_pci_class(tmp_path):
    root = build_sysfs(tmp_path, [H100_0])
    assert not [n for n in os.listdir(root / "sys/class/drm") if n.startswith("card")]
    (dev,) = sysfs.scan(root)
    assert (dev.pci_slot, dev.driver, dev.card, dev.render_node) == ("0000:18:00.0", "nvidia", None, None)


def test_device_with_no_driver_bound(tmp_path):
    unbound = FakeGpu(0x8086, 0x56A0, "0000:03:00.0", None, card=None, render=None)
    (dev,) = sysfs.scan(build_sysfs(tmp_path, [unbound]))
    assert dev.driver is None and dev.device_id == 0x56A0


def test_non_display_pci_devices_are_ignored_and_order_is_by_slot(tmp_path):
    root = make_layout(tmp_path, "nvidia_only")  # also holds an ISA bridge at 0000:00:1f.0
    assert [d.pci_slot for d in sysfs.scan(root)] == ["0000:03:00.0", "0000:18:00.0", "0000:2a:00.0"]
    assert sysfs.scan(root)[0].vendor_id == BMC_VGA.vendor_id


def test_missing_sys_gives_nothing(tmp_path):
    assert sysfs.scan(tmp_path) == []
    assert sysfs.loaded_modules(tmp_path) == ()


@pytest.mark.parametrize(
    "layout, modules",
    [("nvidia_arc", ("nvidia", "i915")), ("igpu_arc", ("xe", "i915")), ("amd_only", ("amdgpu",)), ("no_gpu", ())],
)
def test_loaded_modules(tmp_path, layout, modules):
    assert sysfs.loaded_modules(make_layout(tmp_path, layout)) == modules


def test_nvidia_module_version(tmp_path):
    root = build_sysfs(tmp_path, [H100_0], nvidia_version="570.86.15")
    assert sysfs.module_version(root, "nvidia") == "570.86.15"
    assert sysfs.module_version(root, "xe") is None


def test_garbage_in_id_files_reads_as_unknown(tmp_path):
    root = build_sysfs(tmp_path, [ARC_B580])
    (root / "sys/devices/pci0000:00/0000:03:00.0/device").write_text("garbage\n")
    (dev,) = sysfs.scan(root)
    assert dev.device_id is None and dev.vendor_id == 0x8086


def test_every_layout_builds(tmp_path):
    for name, gpus in LAYOUTS.items():
        root = make_layout(tmp_path / name, name)
        assert len(sysfs.scan(root)) == len(gpus), name
