"""The one device vocabulary: how a user names a backend or a device, and how we name where a plan runs.

Every command spells devices through this module: the backend flags (--cuda, --force-intel-xpu/--xpu, --cpu),
the device-index flags, the `--device` / IPEX_DEVICE choices, the `cuda:N` / `xpu:N` / `cpu` specs, the
backend to suggest for a machine and the text that says where a plan runs. The order of backends is
plan.policy.PRIORITY; everything here that lists backends derives its order from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from ..errors import UsageError
from ..runtime.model import Backend
from .policy import PRIORITY

if TYPE_CHECKING:
    from ..hardware.model import HardwareReport

AUTO = "auto"

# Backend flags (spelling -> backend). --xpu is the short alias of --force-intel-xpu.
BACKEND_FLAGS: dict[str, Backend] = {
    "--cpu": Backend.CPU,
    "--cuda": Backend.CUDA,
    "--force-intel-xpu": Backend.XPU,
    "--xpu": Backend.XPU,
}
# The flag that forces each backend (its main spelling).
FORCE_FLAG: dict[Backend, str] = {Backend.CPU: "--cpu", Backend.CUDA: "--cuda", Backend.XPU: "--force-intel-xpu"}
# The flag that picks one GPU of a backend (and implies that backend).
INDEX_FLAG: dict[Backend, str] = {Backend.CUDA: "--cuda-device", Backend.XPU: "--intel-device"}
VENDOR: dict[Backend, str] = {Backend.CUDA: "NVIDIA", Backend.XPU: "Intel"}

# `--device` / IPEX_DEVICE / config `device` / `--backend` words, in priority order after "auto".
BACKEND_CHOICES: tuple[str, ...] = tuple(b.value for b in PRIORITY)
DEVICE_CHOICES: tuple[str, ...] = (AUTO, *BACKEND_CHOICES)
# Spec words: a backend name or its vendor's.
_SPEC_WORDS: dict[str, Backend] = {
    **{b.value: b for b in PRIORITY}, "nvidia": Backend.CUDA, "intel": Backend.XPU,
}
SPEC_HELP = "auto, cpu, cuda, cuda:N, xpu or xpu:N (N as `ipex devices` numbers them)"  # alphabetical, not a priority


# Names for help texts: plain ("XPU"), Intel's spelled out ("Intel XPU"), each with its vendor ("NVIDIA CUDA"),
# and the vendor alone ("Intel").
NAME: dict[Backend, str] = {b: b.name for b in Backend}
HELP_NAME: dict[Backend, str] = {**NAME, Backend.XPU: "Intel XPU"}
LONG_NAME: dict[Backend, str] = {Backend.CUDA: "NVIDIA CUDA", Backend.XPU: "Intel XPU", Backend.CPU: "CPU"}
VENDOR_NAME: dict[Backend, str] = {**VENDOR, Backend.CPU: "CPU"}


def priority_text(names: Mapping[Backend, str] = NAME, separator: str = " > ") -> str:
    """PRIORITY as help text: `names` of its backends joined by `separator` (" > ", ", else ", ...)."""
    return separator.join(names[b] for b in PRIORITY)


def backend_of_flag(flag: str) -> Backend:
    """--cuda -> CUDA; a KeyError for anything that is not a backend flag."""
    return BACKEND_FLAGS[flag]


@dataclass(frozen=True)
class DeviceSpec:
    """A device named as `cuda:1`, `xpu`, `cpu`: a backend, and a GPU number (None: the backend's default)."""

    backend: Backend
    index: int | None = None

    @property
    def text(self) -> str:
        return self.backend.value if self.index is None else f"{self.backend.value}:{self.index}"


def parse_device_spec(text: str, flag: str) -> DeviceSpec | None:
    """`cuda:1` -> DeviceSpec(CUDA, 1); "auto" -> None; anything else is a UsageError naming `flag`."""
    value = text.strip().lower()
    if value == AUTO:
        return None
    name, colon, index = value.partition(":")
    backend = _SPEC_WORDS.get(name)
    if backend is None:
        raise UsageError(f"{flag} {text!r}: expected {SPEC_HELP}")
    if not colon:
        return DeviceSpec(backend)
    if backend is Backend.CPU or not index.isdigit():
        raise UsageError(f"{flag} {text!r}: expected {SPEC_HELP}")
    return DeviceSpec(backend, int(index))


def parse_backend_choice(text: str, where: str) -> Backend | None:
    """An IPEX_DEVICE / --device / config word -> a backend; "auto" -> None."""
    choice = text.strip().lower()
    if choice not in DEVICE_CHOICES:
        raise UsageError(f"{where} is not one of: {', '.join(DEVICE_CHOICES)}")
    return None if choice == AUTO else Backend(choice)


def _present(backend: Backend, hardware: "HardwareReport") -> bool:
    if backend is Backend.CUDA:
        return bool(hardware.nvidia)
    if backend is Backend.XPU:
        return bool(hardware.intel_discrete)
    return True


def suggested_backend(hardware: "HardwareReport") -> Backend:
    """The backend to suggest an environment for: the first in PRIORITY whose GPU is here."""
    return next(b for b in PRIORITY if _present(b, hardware))


def where_text(backend: Backend, index: int | None = None, name: str | None = None) -> str:
    """Where a plan runs, as every command says it: "CUDA device 1 (NVIDIA H100)"."""
    text = backend.value.upper()
    if index is not None:
        text += f" device {index}"
    return text + (f" ({name})" if name else "")
