"""Helpers for runtime tests: a runner that records what it ran (around the real one), hand-made hardware."""

from __future__ import annotations

from ipex_integration.hardware.model import Gpu, HardwareReport, Vendor
from ipex_integration.proc import run_command


class RecordingRunner:
    """The real run_command, recording each call (argv, env) so tests can count and inspect child processes."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv, *, timeout, env=None, input=None):
        self.calls.append({"argv": list(argv), "env": dict(env) if env is not None else None, "timeout": timeout})
        return run_command(argv, timeout=timeout, env=env, input=input)


def nvidia_gpu(driver_version="570.124.06", driver="nvidia", slot="0000:1b:00.0"):
    return Gpu(
        vendor=Vendor.NVIDIA,
        pci_vendor_id=0x10DE,
        pci_device_id=0x2330,
        pci_slot=slot,
        driver=driver,
        name="NVIDIA H100 80GB HBM3",
        integrated=False,
        driver_version=driver_version,
        compute_capability="9.0",
        nvidia_index=0,
        sources=("sysfs", "nvml"),
    )


def intel_arc(driver="xe", render_node="/dev/dri/renderD129", slot="0000:03:00.0"):
    return Gpu(
        vendor=Vendor.INTEL,
        pci_vendor_id=0x8086,
        pci_device_id=0x56A0,
        pci_slot=slot,
        driver=driver,
        card="card1",
        render_node=render_node,
        name="Intel Arc A770",
        family="Arc Alchemist",
        integrated=False,
        sources=("sysfs",),
    )


def hardware(*gpus, modules=None):
    if modules is None:
        modules = tuple(sorted({g.driver for g in gpus if g.driver}))
    return HardwareReport(gpus=tuple(gpus), nvidia_source="nvml", loaded_modules=modules)


NO_GPU = HardwareReport()


def build_wheel(dest_dir, name, version, files, requires=()):
    """A minimal pure-Python wheel (stdlib zipfile) for offline pip installs in tests."""
    import base64
    import hashlib
    import zipfile
    from pathlib import Path

    dist_info = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    contents = dict(files)
    contents[f"{dist_info}/METADATA"] = meta
    contents[f"{dist_info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for rel, text in contents.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{rel},sha256={digest},{len(data)}")
    contents[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n"
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    wheel = dest_dir / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for rel, text in contents.items():
            zf.writestr(rel, text)
    return wheel


def tree_snapshot(root):
    """{relative path: bytes or link target} of everything under root, to prove a folder was left untouched."""
    import os
    from pathlib import Path

    root = Path(root)
    snap = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            snap[rel] = ("link", os.readlink(path))
        elif path.is_file():
            snap[rel] = path.read_bytes()
        else:
            snap[rel] = "dir"
    return snap
