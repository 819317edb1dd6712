"""Stand-ins for GPU hardware this machine does not have: fake sysfs trees, a fake NVML, a fake nvidia-smi.

Fake sysfs trees copy the real kernel layout (relative symlinks included), so the probe reads them
exactly as it reads /sys:

    sys/devices/pci0000:00/0000:03:00.0/{vendor,device,class}     "0x8086\\n", "0x56a0\\n", "0x030000\\n"
    sys/devices/pci0000:00/0000:03:00.0/driver -> ../../../bus/pci/drivers/xe
    sys/devices/pci0000:00/0000:03:00.0/drm/{card1,card1-DP-1,renderD129}
    sys/devices/pci0000:00/0000:03:00.0/drm/card1/device -> ../../../0000:03:00.0
    sys/class/drm/card1 -> ../../devices/pci0000:00/0000:03:00.0/drm/card1   (also card1-DP-1, renderD129)
    sys/bus/pci/devices/0000:03:00.0 -> ../../../devices/pci0000:00/0000:03:00.0
    sys/module/xe/                                     (sys/module/nvidia/version holds the driver version)
    dev/dri/card1, dev/dri/renderD129                  (plain files standing in for device nodes)

Typical use (other layers' tests too):

    root = make_layout(tmp_path, "nvidia_arc")
    report = probe_hardware(root=root, nvml=fake_nvml_for("nvidia_arc"), runner=FakeNvidiaSmi([]))

Layouts: nvidia_arc, igpu_arc, nvidia_only, igpu_only, amd_only, no_gpu (see LAYOUTS).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ipex_integration.proc import CommandResult

NVIDIA, INTEL, AMD, ASPEED = 0x10DE, 0x8086, 0x1002, 0x1A03


@dataclass(frozen=True)
class FakeGpu:
    """One PCI display device in a fake tree."""

    vendor_id: int
    device_id: int
    slot: str  # "0000:03:00.0"
    driver: str | None  # bound kernel driver ("xe", "i915", "nvidia", "amdgpu"); None: no driver bound
    card: int | None = 0  # DRM card index; None: no DRM card (NVIDIA without nvidia-drm, or no driver)
    render: int | None = 128  # renderD index; None: no render node
    pci_class: int = 0x030000  # VGA; NVIDIA data-center cards are 0x030200 (3D controller)
    connectors: tuple[str, ...] = ("DP-1",)  # card<N>-<connector> entries the probe must skip


# Real device ids: NVIDIA from pci.ids, Intel from the kernel's pciids.h, AMD Navi 31.
RTX_4090 = FakeGpu(NVIDIA, 0x2684, "0000:01:00.0", "nvidia", card=0, render=128)
ARC_A770 = FakeGpu(INTEL, 0x56A0, "0000:03:00.0", "i915", card=1, render=129)
RPL_S_IGPU = FakeGpu(INTEL, 0xA780, "0000:00:02.0", "i915", card=0, render=128)
ARC_B580 = FakeGpu(INTEL, 0xE20B, "0000:03:00.0", "xe", card=1, render=129)
H100_0 = FakeGpu(NVIDIA, 0x2330, "0000:18:00.0", "nvidia", card=None, render=None, pci_class=0x030200, connectors=())
H100_1 = FakeGpu(NVIDIA, 0x2330, "0000:2a:00.0", "nvidia", card=None, render=None, pci_class=0x030200, connectors=())
BMC_VGA = FakeGpu(ASPEED, 0x2000, "0000:03:00.0", "ast", card=0, render=None, connectors=("VGA-1",))
MTL_IGPU = FakeGpu(INTEL, 0x7D55, "0000:00:02.0", "i915", card=0, render=128, connectors=("eDP-1", "DP-1"))
RX_7900 = FakeGpu(AMD, 0x744C, "0000:03:00.0", "amdgpu", card=0, render=128)

LAYOUTS: dict[str, tuple[FakeGpu, ...]] = {
    "nvidia_arc": (RTX_4090, ARC_A770),  # desktop, AMD CPU: one NVIDIA card and one Arc A770
    "igpu_arc": (RPL_S_IGPU, ARC_B580),  # Raptor Lake desktop with its iGPU and an Arc B580
    "nvidia_only": (BMC_VGA, H100_0, H100_1),  # server: two H100 without nvidia-drm, BMC VGA on card0
    "igpu_only": (MTL_IGPU,),  # Meteor Lake laptop
    "amd_only": (RX_7900,),
    "no_gpu": (),
}


def build_sysfs(
    root: str | os.PathLike[str],
    gpus: Iterable[FakeGpu],
    *,
    modules: Iterable[str] | None = None,
    nvidia_version: str = "550.54.15",
    dev_nodes: bool = True,
) -> Path:
    """Write a fake sysfs (and /dev) tree under `root` and return root. `modules` defaults to the drivers of
    the GPUs (ast excluded: not a module we look at, but harmless)."""
    root = Path(root)
    sys_dir = root / "sys"
    gpus = list(gpus)
    for sub in ("class/drm", "bus/pci/devices", "bus/pci/drivers", "module"):
        (sys_dir / sub).mkdir(parents=True, exist_ok=True)
    (sys_dir / "class/drm/version").write_text("drm 1.1.0 20060810\n")
    _add_pci_device(sys_dir, "0000:00:1f.0", 0x8086, 0x7A04, 0x060100, None)  # an ISA bridge: not a GPU
    for gpu in gpus:
        dev = _add_pci_device(sys_dir, gpu.slot, gpu.vendor_id, gpu.device_id, gpu.pci_class, gpu.driver)
        names = []
        if gpu.card is not None:
            names.append(f"card{gpu.card}")
            names += [f"card{gpu.card}-{c}" for c in gpu.connectors]
        if gpu.render is not None:
            names.append(f"renderD{gpu.render}")
        for name in names:
            node = dev / "drm" / name
            node.mkdir(parents=True)
            os.symlink(f"../../../{gpu.slot}", node / "device")
            os.symlink(f"../../devices/pci0000:00/{gpu.slot}/drm/{name}", sys_dir / "class/drm" / name)
            if dev_nodes and "-" not in name:
                (root / "dev/dri").mkdir(parents=True, exist_ok=True)
                (root / "dev/dri" / name).write_text("")
    if modules is None:
        modules = {g.driver for g in gpus if g.driver and g.driver != "ast"}
    for module in modules:
        (sys_dir / "module" / module).mkdir(exist_ok=True)
        if module == "nvidia":
            (sys_dir / "module/nvidia/version").write_text(nvidia_version + "\n")
            if dev_nodes:
                (root / "dev").mkdir(exist_ok=True)
                (root / "dev/nvidiactl").write_text("")
    return root


def _add_pci_device(sys_dir: Path, slot: str, vendor: int, device: int, pci_class: int, driver: str | None) -> Path:
    dev = sys_dir / "devices/pci0000:00" / slot
    dev.mkdir(parents=True)
    (dev / "vendor").write_text(f"0x{vendor:04x}\n")
    (dev / "device").write_text(f"0x{device:04x}\n")
    (dev / "class").write_text(f"0x{pci_class:06x}\n")
    if driver:
        (sys_dir / "bus/pci/drivers" / driver).mkdir(parents=True, exist_ok=True)
        os.symlink(f"../../../bus/pci/drivers/{driver}", dev / "driver")
    os.symlink(f"../../../devices/pci0000:00/{slot}", sys_dir / "bus/pci/devices" / slot)
    return dev


def make_layout(root: str | os.PathLike[str], name: str, **kwargs) -> Path:
    """Build one of LAYOUTS under root (a fresh directory) and return root."""
    return build_sysfs(root, LAYOUTS[name], **kwargs)


# ------------------------------------------------------------------------------------------- NVML


class NVMLError(Exception):
    """Stands in for pynvml.NVMLError; subclasses carry pynvml's class names, which the probe reads."""


class NVMLError_LibraryNotFound(NVMLError):  # noqa: N801 (pynvml's name)
    def __init__(self) -> None:
        super().__init__("NVML Shared Library Not Found")


class NVMLError_DriverNotLoaded(NVMLError):  # noqa: N801
    def __init__(self) -> None:
        super().__init__("Driver Not Loaded")


class NVMLError_NotSupported(NVMLError):  # noqa: N801
    def __init__(self) -> None:
        super().__init__("Not Supported")


class NVMLError_NoPermission(NVMLError):  # noqa: N801
    def __init__(self) -> None:
        super().__init__("Insufficient Permissions")


@dataclass(frozen=True)
class FakeNvidiaDevice:
    """What NVML/nvidia-smi would say about one NVIDIA GPU. serial None: "Not Supported" (consumer cards)."""

    name: str
    uuid: str
    bus_id: str  # as NVML writes it: "00000000:18:00.0"
    memory_mib: int
    compute_capability: tuple[int, int]
    device_id: int
    serial: str | None = None


@dataclass
class _Memory:
    total: int
    free: int
    used: int = 0


@dataclass
class _PciInfo:
    busId: str  # noqa: N815 (pynvml's field names)
    pciDeviceId: int  # noqa: N815
    domain: int = 0


class FakeNvml:
    """Stands in for the `pynvml` module (nvidia-ml-py): the same function names, answering from a list of
    FakeNvidiaDevice. `init_error` makes nvmlInit raise it (e.g. NVMLError_LibraryNotFound()). Calls are
    recorded in `calls` so tests can check that nvmlShutdown followed nvmlInit."""

    NVMLError = NVMLError

    def __init__(
        self,
        devices: Sequence[FakeNvidiaDevice] = (),
        *,
        driver_version: str = "550.54.15",
        init_error: Exception | None = None,
    ) -> None:
        self.devices = list(devices)
        self.driver_version = driver_version
        self.init_error = init_error
        self.calls: list[str] = []
        self._initialised = False

    def _check(self, name: str) -> None:
        self.calls.append(name)
        if not self._initialised:
            raise NVMLError("Uninitialized")

    def nvmlInit(self) -> None:  # noqa: N802
        self.calls.append("nvmlInit")
        if self.init_error is not None:
            raise self.init_error
        self._initialised = True

    def nvmlShutdown(self) -> None:  # noqa: N802
        self._check("nvmlShutdown")
        self._initialised = False

    def nvmlSystemGetDriverVersion(self) -> str:  # noqa: N802
        self._check("nvmlSystemGetDriverVersion")
        return self.driver_version

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        self._check("nvmlDeviceGetCount")
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeNvidiaDevice:  # noqa: N802
        self._check("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.devices):
            raise NVMLError("Invalid Argument")
        return self.devices[index]

    def nvmlDeviceGetName(self, handle: FakeNvidiaDevice) -> str:  # noqa: N802
        self._check("nvmlDeviceGetName")
        return handle.name

    def nvmlDeviceGetUUID(self, handle: FakeNvidiaDevice) -> str:  # noqa: N802
        self._check("nvmlDeviceGetUUID")
        return handle.uuid

    def nvmlDeviceGetSerial(self, handle: FakeNvidiaDevice) -> str:  # noqa: N802
        self._check("nvmlDeviceGetSerial")
        if handle.serial is None:
            raise NVMLError_NotSupported()
        return handle.serial

    def nvmlDeviceGetMemoryInfo(self, handle: FakeNvidiaDevice) -> _Memory:  # noqa: N802
        self._check("nvmlDeviceGetMemoryInfo")
        total = handle.memory_mib * 1024 * 1024
        return _Memory(total=total, free=total)

    def nvmlDeviceGetCudaComputeCapability(self, handle: FakeNvidiaDevice) -> tuple[int, int]:  # noqa: N802
        self._check("nvmlDeviceGetCudaComputeCapability")
        return handle.compute_capability

    def nvmlDeviceGetPciInfo(self, handle: FakeNvidiaDevice) -> _PciInfo:  # noqa: N802
        self._check("nvmlDeviceGetPciInfo")
        return _PciInfo(busId=handle.bus_id, pciDeviceId=(handle.device_id << 16) | NVIDIA)


RTX_4090_NV = FakeNvidiaDevice(
    "NVIDIA GeForce RTX 4090", "GPU-5c0bd9a1-3f27-4a8e-9d57-2b8c6e0f1a42", "00000000:01:00.0", 24564, (8, 9), 0x2684
)
H100_0_NV = FakeNvidiaDevice(
    "NVIDIA H100 80GB HBM3", "GPU-0b6f1e0c-8f5a-4c1d-a7b2-9e3d4c5b6a71", "00000000:18:00.0", 81559, (9, 0), 0x2330,
    serial="1654922003541",
)
H100_1_NV = FakeNvidiaDevice(
    "NVIDIA H100 80GB HBM3", "GPU-7d2a9c4e-1b3f-4e6a-8c5d-0f9e8d7c6b52", "00000000:2A:00.0", 81559, (9, 0), 0x2330,
    serial="1654922003542",
)

NVIDIA_OF_LAYOUT: dict[str, tuple[FakeNvidiaDevice, ...]] = {
    "nvidia_arc": (RTX_4090_NV,),
    "nvidia_only": (H100_0_NV, H100_1_NV),
}


def fake_nvml_for(layout: str, **kwargs) -> FakeNvml:
    """A FakeNvml that sees the NVIDIA GPUs of a layout. Layouts without NVIDIA get an NVML whose init
    fails the way it does on such machines (no libnvidia-ml.so.1)."""
    devices = NVIDIA_OF_LAYOUT.get(layout, ())
    if not devices:
        kwargs.setdefault("init_error", NVMLError_LibraryNotFound())
    return FakeNvml(devices, **kwargs)


# ------------------------------------------------------------------------------------------- nvidia-smi

_SMI_VALUES = {
    "index": lambda i, d, drv: str(i),
    "name": lambda i, d, drv: d.name,
    "uuid": lambda i, d, drv: d.uuid,
    "serial": lambda i, d, drv: d.serial or "[N/A]",
    "pci.bus_id": lambda i, d, drv: d.bus_id.upper(),
    "memory.total": lambda i, d, drv: str(d.memory_mib),
    "driver_version": lambda i, d, drv: drv,
    "compute_cap": lambda i, d, drv: f"{d.compute_capability[0]}.{d.compute_capability[1]}",
    "pci.device_id": lambda i, d, drv: f"0x{d.device_id:04X}{NVIDIA:04X}",
}


class FakeNvidiaSmi:
    """A Runner standing in for `nvidia-smi --query-gpu=... --format=csv,noheader,nounits`.

    Answers only the fields it is asked for, in that order, like the real program; an unknown field (or one in
    `unsupported_fields`, as on old drivers without compute_cap) fails the whole query with nvidia-smi's message
    and exit code 2. `state`: "ok", "missing" (not installed), "no_driver" (installed, driver not loaded),
    "hang" (times out). Other programs are passed to `fallback` (a Runner) or reported as not found.
    Every argv is recorded in `calls`.
    """

    def __init__(
        self,
        devices: Sequence[FakeNvidiaDevice] = (),
        *,
        driver_version: str = "550.54.15",
        state: str = "ok",
        unsupported_fields: Iterable[str] = (),
        fallback=None,
    ) -> None:
        self.devices = list(devices)
        self.driver_version = driver_version
        self.state = state
        self.unsupported = set(unsupported_fields)
        self.fallback = fallback
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv, *, timeout: float, env: Mapping[str, str] | None = None, input: str | None = None):
        argv = tuple(str(a) for a in argv)
        if os.path.basename(argv[0]) != "nvidia-smi":
            if self.fallback is not None:
                return self.fallback(argv, timeout=timeout, env=env, input=input)
            return CommandResult(argv, 127, "", f"No such file or directory: {argv[0]!r}", not_found=True)
        self.calls.append(argv)
        if self.state == "missing":
            return CommandResult(argv, 127, "", "No such file or directory: 'nvidia-smi'", not_found=True)
        if self.state == "hang":
            return CommandResult(argv, -1, "", "", timed_out=True)
        if self.state == "no_driver":
            return CommandResult(
                argv, 9,
                "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                "Make sure that the latest NVIDIA driver is installed and running.\n\n", "",
            )
        query = next((a.split("=", 1)[1] for a in argv if a.startswith("--query-gpu=")), None)
        if query is None:
            return CommandResult(argv, 0, "fake nvidia-smi: only --query-gpu is supported\n", "")
        fields = query.split(",")
        for f in fields:
            if f not in _SMI_VALUES or f in self.unsupported:
                return CommandResult(argv, 2, f'Field "{f}" is not a valid field to query.\n\n', "")
        lines = [
            ", ".join(_SMI_VALUES[f](i, d, self.driver_version) for f in fields) for i, d in enumerate(self.devices)
        ]
        return CommandResult(argv, 0, "".join(line + "\n" for line in lines), "")


def fake_nvidia_smi_for(layout: str, **kwargs) -> FakeNvidiaSmi:
    """A FakeNvidiaSmi seeing the NVIDIA GPUs of a layout; layouts without NVIDIA get a missing nvidia-smi."""
    devices = NVIDIA_OF_LAYOUT.get(layout, ())
    if not devices:
        kwargs.setdefault("state", "missing")
    return FakeNvidiaSmi(devices, **kwargs)
