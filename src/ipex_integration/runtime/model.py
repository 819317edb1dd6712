"""What a runtime probe learns about one Python environment, and how environments are registered."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum


class Backend(str, Enum):
    """A compute backend. The order of members is NOT the priority: see plan.policy.PRIORITY."""

    CUDA = "cuda"
    XPU = "xpu"
    CPU = "cpu"

    @classmethod
    def parse(cls, text: str) -> "Backend":
        from ..errors import UsageError

        try:
            return cls(text.strip().lower())
        except ValueError:
            choices = ", ".join(b.value for b in cls)
            raise UsageError(f"unknown backend {text!r}; choose one of: {choices}") from None


@dataclass(frozen=True)
class TorchDevice:
    """One device as torch sees it inside an environment (index is torch's own, after any *_VISIBLE filters)."""

    backend: Backend
    index: int
    name: str
    total_memory_bytes: int | None = None
    capability: str | None = None  # CUDA "9.0"; XPU: architecture or driver/platform string
    bf16: bool | None = None
    integrated: bool | None = None
    uuid: str | None = None
    multiprocessors: int | None = None  # CUDA SMs / XPU execution units or subslices
    pci_slot: str | None = None  # "0000:03:00.0" where torch reports it (CUDA), to match the hardware probe

    def to_dict(self) -> dict:
        data = asdict(self)
        data["backend"] = self.backend.value
        return data


@dataclass(frozen=True)
class RuntimeInfo:
    """The answer of one interpreter to the runtime probe. `ok` False means `error` says why."""

    python: str  # interpreter path as given
    ok: bool
    error: str | None = None
    python_version: str | None = None
    torch_version: str | None = None  # "2.8.0+xpu"
    torch_build: str | None = None  # "cuda" | "xpu" | "cpu" | "rocm" | None (no torch)
    cuda_version: str | None = None  # torch.version.cuda
    cuda_available: bool = False
    xpu_available: bool = False
    devices: tuple[TorchDevice, ...] = ()
    ipex_version: str | None = None  # intel-extension-for-pytorch, discontinued upstream after 2.8
    site_packages: tuple[str, ...] = ()
    torch_error: str | None = None  # torch is installed but `import torch` failed (the exception, one line)
    notes: tuple[str, ...] = ()  # parts of the probe that failed (a driver call that raised, ...)

    @property
    def has_torch(self) -> bool:
        return self.torch_version is not None

    def devices_of(self, backend: Backend) -> tuple[TorchDevice, ...]:
        return tuple(d for d in self.devices if d.backend == backend)

    def can_run(self, backend: Backend) -> bool:
        if not (self.ok and self.has_torch):
            return False
        if backend is Backend.CPU:
            return True
        if backend is Backend.CUDA:
            return self.cuda_available
        return self.xpu_available

    def to_dict(self) -> dict:
        data = asdict(self)
        data["devices"] = [d.to_dict() for d in self.devices]
        data["site_packages"] = list(self.site_packages)
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "RuntimeInfo":
        devices = tuple(
            TorchDevice(**{**d, "backend": Backend(d["backend"])}) for d in data.get("devices", ())
        )
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "devices"}
        fields["site_packages"] = tuple(fields.get("site_packages", ()))
        fields["notes"] = tuple(fields.get("notes", ()))
        return cls(**fields, devices=devices)


@dataclass(frozen=True)
class Environment:
    """A Python environment we may run work in.

    `name` is the registry key: a backend name ("cuda", "xpu", "cpu") for registered environments,
    or "current" for the interpreter running `ipex` itself (which counts as an environment too).
    """

    name: str
    python: str
    backend: Backend | None  # what it is registered for; None for "current"
    registered: bool = True

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "python": self.python,
            "backend": self.backend.value if self.backend else None,
            "registered": self.registered,
        }
