"""What each device choice (auto, cuda, xpu, cpu, and the user's own request) would run on: a pure summary
built from the same inputs as the policy, for `ipex devices` (and `ipex status`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

from ..errors import SelectionError
from ..hardware.model import HardwareReport
from ..runtime.model import Backend, Environment, RuntimeInfo
from .model import DevicePlan, DeviceRequest
from .policy import PRIORITY, select_device

MISSING_PREFIX = "interpreter not found"  # how the runtime probe words a registered interpreter that is gone


@dataclass(frozen=True)
class Choice:
    """One row: a request and either its plan or the error it gives."""

    label: str  # "auto", "cuda", "xpu", "cpu", or "selected (--cuda-device 1)"
    request: DeviceRequest
    plan: DevicePlan | None
    error: str | None = None
    hint: str | None = None
    selected: bool = False  # this row is what the user's flags / IPEX_DEVICE ask for

    def to_dict(self) -> dict:
        return {
            "choice": self.label,
            "selected": self.selected,
            "ok": self.plan is not None,
            "plan": self.plan.to_dict() if self.plan else None,
            "error": self.error,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class EnvironmentRow:
    environment: Environment
    runtime: RuntimeInfo | None
    state: str  # "ok" | "missing" | "error" | "no torch" | "not probed"
    can_run: tuple[Backend, ...]

    def to_dict(self) -> dict:
        return {
            **self.environment.to_dict(),
            "state": self.state,
            "can_run": [b.value for b in self.can_run],
            "runtime": self.runtime.to_dict() if self.runtime else None,
        }


@dataclass(frozen=True)
class DeviceOverview:
    hardware: HardwareReport
    environments: tuple[EnvironmentRow, ...]
    choices: tuple[Choice, ...]
    request: DeviceRequest

    @property
    def no_gpu(self) -> bool:
        return not self.hardware.gpus

    @property
    def auto(self) -> Choice:
        return next(c for c in self.choices if c.label == "auto")

    def to_dict(self) -> dict:
        return {
            "request": self.request.to_dict(),
            "no_gpu": self.no_gpu,
            "hardware": self.hardware.to_dict(),
            "environments": [row.to_dict() for row in self.environments],
            "choices": [c.to_dict() for c in self.choices],
        }


def build_overview(
    request: DeviceRequest,
    *,
    hardware: HardwareReport,
    environments: Sequence[tuple[Environment, RuntimeInfo | None]],
    environ: Mapping[str, str],
    cache_dir: Path,
) -> DeviceOverview:
    """Rows for auto and each backend (keeping the user's device indices where they apply), plus the user's own
    request when it is not plain auto."""
    base = replace(request, fallback=False)
    rows = [
        ("auto", replace(base, backend=None, source="auto")),
        ("cuda", replace(base, backend=Backend.CUDA, intel_device=None, source="--cuda")),
        ("xpu", replace(base, backend=Backend.XPU, cuda_device=None, source="--force-intel-xpu")),
        ("cpu", replace(base, backend=Backend.CPU, cuda_device=None, intel_device=None, source="--cpu")),
    ]
    own = request.backend is not None or request.fallback or request.source != "default"
    if own:
        rows.insert(0, (f"selected ({request.source})", request))
    choices = []
    for label, row_request in rows:
        selected = (label == "auto" and not own) or label.startswith("selected")
        choices.append(_choice(label, row_request, selected, hardware, environments, environ, cache_dir))
    env_rows = tuple(_env_row(env, info) for env, info in environments)
    return DeviceOverview(hardware=hardware, environments=env_rows, choices=tuple(choices), request=request)


def _choice(label, request, selected, hardware, environments, environ, cache_dir) -> Choice:
    try:
        plan = select_device(request, hardware=hardware, environments=environments, environ=environ,
                             cache_dir=cache_dir)
    except SelectionError as exc:
        return Choice(label, request, None, error=exc.message, hint=exc.hint, selected=selected)
    return Choice(label, request, plan, selected=selected)


def _env_row(env: Environment, info: RuntimeInfo | None) -> EnvironmentRow:
    if info is None:
        state = "not probed"
    elif not info.ok:
        state = "missing" if (info.error or "").startswith(MISSING_PREFIX) else "error"
    elif not info.has_torch:
        state = "no torch"
    else:
        state = "ok"
    can_run = tuple(b for b in PRIORITY if info is not None and info.can_run(b))
    return EnvironmentRow(env, info, state, can_run)
