"""NVIDIA details from NVML (nvidia-ml-py's `pynvml`) or, failing that, `nvidia-smi --query-gpu`.

Both paths return the same rows. Every driver call goes through one choke point that turns an error
into None for that field (a consumer card has no serial number; that is not a failure of the probe).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..proc import Runner

NVIDIA_SMI_TIMEOUT_S = 15.0  # nvidia-smi can hang for seconds on a wedged driver; do not hang with it
SMI_FIELDS = ("index", "name", "uuid", "serial", "pci.bus_id", "memory.total", "driver_version", "compute_cap",
              "pci.device_id")
_UNKNOWN_FIELD = re.compile(r'Field "([^"]+)" is not a valid field to query')
_SMI_MISSING = {"", "[N/A]", "N/A", "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]"}


@dataclass(frozen=True)
class NvidiaRow:
    """One NVIDIA GPU as NVML or nvidia-smi reports it."""

    index: int
    name: str | None = None
    uuid: str | None = None
    serial: str | None = None
    pci_slot: str | None = None  # normalised like sysfs: "0000:03:00.0"
    pci_device_id: int | None = None
    memory_total_bytes: int | None = None
    driver_version: str | None = None
    compute_capability: str | None = None  # "9.0"


@dataclass(frozen=True)
class NvidiaAnswer:
    rows: tuple[NvidiaRow, ...] = ()
    error: str | None = None  # None: the source answered (possibly with zero GPUs)
    not_found: bool = False  # the source is not installed at all (library or program missing)

    @property
    def ok(self) -> bool:
        return self.error is None


def load_pynvml() -> Any | None:
    """The pynvml module, or None when nvidia-ml-py is not installed."""
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def normalize_bus_id(bus_id: str | bytes | None) -> str | None:
    """NVML/nvidia-smi write "00000000:03:00.0" (32-bit domain, upper case); sysfs writes "0000:03:00.0"."""
    if bus_id is None:
        return None
    text = bus_id.decode(errors="replace") if isinstance(bus_id, bytes) else str(bus_id)
    text = text.strip().lower()
    try:
        domain, rest = text.split(":", 1)
        return f"{int(domain, 16):04x}:{rest}"
    except ValueError:
        return text or None


def query_nvml(nvml: Any) -> NvidiaAnswer:
    """Ask NVML through a pynvml-like object (the real module, or a fake with the same function names)."""
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, _NoPermission, ...
        missing = type(exc).__name__ in ("NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded")
        return NvidiaAnswer(error=f"NVML: {_text(exc)}", not_found=missing)
    try:
        count = nvml.nvmlDeviceGetCount()
        driver = _str(_call(nvml.nvmlSystemGetDriverVersion))
        rows = tuple(_nvml_row(nvml, i, driver) for i in range(count))
    except Exception as exc:
        return NvidiaAnswer(error=f"NVML: {_text(exc)}")
    finally:
        _call(nvml.nvmlShutdown)
    return NvidiaAnswer(rows=rows)


def _nvml_row(nvml: Any, index: int, driver: str | None) -> NvidiaRow:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = _call(nvml.nvmlDeviceGetMemoryInfo, handle)
    capability = _call(nvml.nvmlDeviceGetCudaComputeCapability, handle)
    pci = _call(nvml.nvmlDeviceGetPciInfo, handle)
    device_id = getattr(pci, "pciDeviceId", None)
    return NvidiaRow(
        index=index,
        name=_str(_call(nvml.nvmlDeviceGetName, handle)),
        uuid=_str(_call(nvml.nvmlDeviceGetUUID, handle)),
        serial=_str(_call(nvml.nvmlDeviceGetSerial, handle)),
        pci_slot=normalize_bus_id(getattr(pci, "busId", None)),
        # pciDeviceId packs the device id in the upper 16 bits and the vendor id (0x10de) in the lower.
        pci_device_id=(int(device_id) >> 16) if device_id else None,
        memory_total_bytes=getattr(memory, "total", None),
        driver_version=driver,
        compute_capability=f"{capability[0]}.{capability[1]}" if capability else None,
    )


def query_nvidia_smi(runner: Runner) -> NvidiaAnswer:
    """Run `nvidia-smi --query-gpu=...` through the runner. Fields an older driver does not know
    (compute_cap came with driver 510) are dropped and the query repeated, so the rest still counts."""
    fields = list(SMI_FIELDS)
    while True:
        argv = ["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"]
        result = runner(argv, timeout=NVIDIA_SMI_TIMEOUT_S)
        if result.not_found:
            return NvidiaAnswer(error="nvidia-smi: not found", not_found=True)
        if result.timed_out:
            return NvidiaAnswer(error=f"nvidia-smi: no answer within {NVIDIA_SMI_TIMEOUT_S:.0f} s")
        output = (result.stdout + result.stderr).strip()
        unknown = _UNKNOWN_FIELD.search(output)
        if result.returncode != 0 and unknown and unknown.group(1) in fields and unknown.group(1) != "index":
            fields.remove(unknown.group(1))
            continue
        if result.returncode != 0:
            first = output.splitlines()[0] if output else "no output"
            return NvidiaAnswer(error=f"nvidia-smi: exit {result.returncode}: {first}")
        break
    rows = []
    for position, line in enumerate(l for l in result.stdout.splitlines() if l.strip()):
        values = [v.strip() for v in line.split(",")]
        if len(values) != len(fields):
            return NvidiaAnswer(error=f"nvidia-smi: unexpected line {line.strip()!r}")
        rows.append(_smi_row(dict(zip(fields, values)), position))
    return NvidiaAnswer(rows=tuple(rows))


def _smi_row(v: dict[str, str], position: int) -> NvidiaRow:
    def get(key: str) -> str | None:
        value = v.get(key)
        return None if value is None or value in _SMI_MISSING else value

    index = _int(get("index"))
    memory_mib = _int(get("memory.total"))
    device_id = _int(get("pci.device_id"), 16)
    return NvidiaRow(
        index=position if index is None else index,
        name=get("name"),
        uuid=get("uuid"),
        serial=get("serial"),
        pci_slot=normalize_bus_id(get("pci.bus_id")),
        pci_device_id=(device_id >> 16) if device_id else None,
        memory_total_bytes=memory_mib * 1024 * 1024 if memory_mib is not None else None,
        driver_version=get("driver_version"),
        compute_capability=get("compute_cap"),
    )


def _call(fn: Any, *args: Any) -> Any:
    """The choke point: a driver call that fails (not supported, no permission) gives None."""
    try:
        return fn(*args)
    except Exception:
        return None


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _int(text: str | None, base: int = 10) -> int | None:
    if text is None:
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
