"""The impure glue around the policy: probe the hardware and the environments, then `select_device`.

Each environment probe starts an interpreter (cached by the runtime probe, but the first one costs a second
or more), so environments are probed lazily: only those that could serve a backend the request can reach,
and the rest only if the policy then finds nothing usable.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Literal, Mapping, Sequence

from ..errors import ProbeError, SelectionError
from ..hardware.model import HardwareReport
from ..paths import cache_dir
from ..proc import Runner, in_parallel, run_command
from ..runtime.model import Backend, Environment, RuntimeInfo
from .model import DevicePlan, DeviceRequest
from .policy import CURRENT, PRIORITY, select_device

EnvPair = tuple[Environment, RuntimeInfo | None]
Prober = Callable[[Environment], RuntimeInfo]


def resolve_plan(
    request: DeviceRequest,
    *,
    environ: Mapping[str, str] | None = None,
    root: str | os.PathLike[str] = "/",
    runner: Runner = run_command,
    hardware: HardwareReport | None = None,
    environments: Sequence[EnvPair] | None = None,
    probe_timeout: float = 30.0,
    nvml: Any | None | Literal["auto"] = "auto",
) -> DevicePlan:
    """Probe what is needed and return the plan (SelectionError when the request cannot be met).

    `hardware` skips the hardware probe. `environments` replaces the registry: pairs whose RuntimeInfo is None
    are probed when needed, the others are taken as given. Our own process environment is only read.
    """
    environ = os.environ if environ is None else environ
    if hardware is None:
        hardware = probe_hardware_report(root=root, runner=runner, nvml=nvml)
    pairs = list(environments) if environments is not None else [(e, None) for e in load_environments(environ)]
    prober = _prober(runner, probe_timeout, environ)

    def decide() -> DevicePlan:
        return select_device(request, hardware=hardware, environments=pairs, environ=environ, cache_dir=cache_dir(environ))

    # Round 1: registered environments of the backends this request can reach.
    reachable = _reachable(request)
    _probe_where(pairs, prober, lambda env: env.registered and env.backend in reachable)
    # Round 2: the current interpreter, unless every reachable backend already has a working registered one.
    if not all(_works(pairs, b) for b in reachable):
        _probe_where(pairs, prober, lambda env: env.name == CURRENT)
    try:
        return decide()
    except SelectionError:
        # Round 3: everything else (CPU runs in any environment with torch), then decide again.
        if not _probe_where(pairs, prober, lambda env: True):
            raise
        return decide()


def probe_everything(
    *,
    environ: Mapping[str, str] | None = None,
    root: str | os.PathLike[str] = "/",
    runner: Runner = run_command,
    probe_timeout: float = 30.0,
    nvml: Any | None | Literal["auto"] = "auto",
    hardware: HardwareReport | None = None,
    environments: Sequence[EnvPair] | None = None,
) -> tuple[HardwareReport, list[EnvPair]]:
    """The hardware report and every environment with its probe answer (for `ipex devices` / `ipex status`).
    `hardware` / `environments` as in resolve_plan."""
    environ = os.environ if environ is None else environ
    if hardware is None:
        hardware = probe_hardware_report(root=root, runner=runner, nvml=nvml)
    pairs = list(environments) if environments is not None else [(e, None) for e in load_environments(environ)]
    _probe_where(pairs, _prober(runner, probe_timeout, environ), lambda env: True)
    return hardware, pairs


def probe_hardware_report(*, root, runner: Runner, nvml) -> HardwareReport:
    from ..hardware.probe import probe_hardware

    return probe_hardware(root=root, runner=runner, nvml=nvml)


def load_environments(environ: Mapping[str, str]) -> list[Environment]:
    """Registered environments plus the current interpreter ("current")."""
    from ..runtime.registry import load_registry

    return list(load_registry(environ).environments(include_current=True))


def probe_environment(
    env: Environment, *, runner: Runner, timeout: float, environ: Mapping[str, str] | None = None
) -> RuntimeInfo:
    """One environment's probe answer; a failed probe (timeout, crash, missing interpreter) is an answer too.
    The probe child sees the caller's variables, so torch there sees what the user's program would."""
    from ..runtime.probe import probe_runtime

    try:
        return probe_runtime(env.python, timeout=timeout, runner=runner, use_cache=True, environ=environ)
    except ProbeError as exc:
        return RuntimeInfo(python=env.python, ok=False, error=exc.message)


# --- internals --------------------------------------------------------------------------------------------


def _prober(runner: Runner, timeout: float, environ: Mapping[str, str]) -> Prober:
    return lambda env: probe_environment(env, runner=runner, timeout=timeout, environ=environ)


def _reachable(request: DeviceRequest) -> tuple[Backend, ...]:
    if request.backend is None:
        return PRIORITY
    if request.fallback:
        return PRIORITY[PRIORITY.index(request.backend):]
    return (request.backend,)


def _probe_where(pairs: list[EnvPair], prober: Prober, wanted: Callable[[Environment], bool]) -> bool:
    """Probe the not-yet-probed environments `wanted` selects, in place, all at once (one timeout for all,
    not one each). True if any was probed."""
    todo = [i for i, (env, info) in enumerate(pairs) if info is None and wanted(env)]
    answers = in_parallel(lambda i: prober(pairs[i][0]), todo)
    for i, info in zip(todo, answers):
        pairs[i] = (pairs[i][0], info)
    return bool(todo)


def _works(pairs: Sequence[EnvPair], backend: Backend) -> bool:
    return any(
        env.registered and env.backend is backend and info is not None and info.can_run(backend)
        for env, info in pairs
    )
