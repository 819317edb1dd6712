"""The request the user made and the plan we made of it. Both are plain, printable, JSON-ready."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..runtime.model import Backend


@dataclass(frozen=True)
class DeviceRequest:
    """What the user asked for, from flags, IPEX_DEVICE and config (flags win over the variable, which wins
    over config). `backend` None means auto. `source` says where the backend choice came from."""

    backend: Backend | None = None
    cuda_device: int | None = None
    intel_device: int | None = None
    allow_integrated: bool = False  # iGPU only when asked (--intel-device N pointing at one, or this)
    fallback: bool = False  # allow falling back to the next backend instead of failing
    source: str = "default"  # "--cpu", "--force-intel-xpu", "IPEX_DEVICE=xpu", "config", "default"
    # False for programs that bring their own GPU runtime (Ollama): then a backend needs only its GPU,
    # not an environment whose torch can drive it.
    needs_torch: bool = True

    def to_dict(self) -> dict:
        return {
            "backend": self.backend.value if self.backend else "auto",
            "cuda_device": self.cuda_device,
            "intel_device": self.intel_device,
            "allow_integrated": self.allow_integrated,
            "fallback": self.fallback,
            "source": self.source,
            "needs_torch": self.needs_torch,
        }


@dataclass(frozen=True)
class DevicePlan:
    """Where work will run and how to start it there.

    - `device_index`: index among that backend's GPUs as `ipex devices` lists them (PCI order), or None for CPU.
    - `env`: variables the child gets on top of the inherited environment. The policy already left out
      anything the user set themselves (`env_kept` lists those), so applying `env` never overrides the user.
    - `reasons`: one line per decision, in order; `warnings`: things that work but deserve attention.
    """

    backend: Backend
    device_index: int | None
    device_name: str | None
    environment: str  # registry name of the environment ("cuda", "xpu", "cpu", "current")
    python: str  # interpreter that will run the work
    env: Mapping[str, str] = field(default_factory=dict)
    env_kept: Mapping[str, str] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    request: DeviceRequest = field(default_factory=DeviceRequest)

    def child_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """The full environment for a child process: `base` (usually os.environ) plus our variables."""
        merged = dict(base)
        for key, value in self.env.items():
            if key not in self.env_kept:
                merged[key] = value
        return merged

    @property
    def torch_device(self) -> str:
        """The torch device string the child should use. Device selection happens through the visibility
        variables, so the chosen GPU is always index 0 inside the child."""
        return "cpu" if self.backend is Backend.CPU else f"{self.backend.value}:0"

    def to_dict(self) -> dict:
        return {
            "backend": self.backend.value,
            "device_index": self.device_index,
            "device_name": self.device_name,
            "torch_device": self.torch_device,
            "environment": self.environment,
            "python": self.python,
            "env": dict(sorted(self.env.items())),
            "env_kept": dict(sorted(self.env_kept.items())),
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "request": self.request.to_dict(),
        }

    def to_text(self) -> str:
        from .vocabulary import where_text  # it imports the policy, which imports this module

        lines = [f"backend:     {where_text(self.backend, self.device_index, self.device_name)}", f"environment: {self.environment} ({self.python})"]
        for key, value in sorted(self.env.items()):
            lines.append(f"set:         {key}={value}")
        for key, value in sorted(self.env_kept.items()):
            lines.append(f"kept:        {key}={value} (set by you)")
        lines += [f"because:     {r}" for r in self.reasons]
        lines += [f"warning:     {w}" for w in self.warnings]
        return "\n".join(lines)
