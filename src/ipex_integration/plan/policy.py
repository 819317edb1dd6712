"""The selection policy: a pure function from (request, hardware, environments, user variables) to a DevicePlan.

Nothing here probes, prints or reads os.environ: every input is a parameter, so the whole policy is tested as
a table of cases. The ONE priority table is `PRIORITY`; nothing else in the project may restate the order.

Rules (each decision adds a reason line to the plan):
- Backend: the request's (flags > IPEX_DEVICE > config, decided in flags.py), else the first usable backend
  in PRIORITY. A forced backend that cannot be used is a SelectionError, unless `request.fallback`: then the
  next backend in PRIORITY is tried, with a warning.
- Environment: CUDA/XPU use the environment registered for that backend, else the current interpreter when its
  torch can drive the backend. CPU uses the registered cpu environment, else the current interpreter if it has
  torch, else any environment with torch.
- Device: NVIDIA N is the N-th NVIDIA GPU in PCI order (CUDA_VISIBLE_DEVICES=N, CUDA_DEVICE_ORDER=PCI_BUS_ID).
  Intel N counts every Intel GPU in PCI order, iGPUs included, as Level Zero does with
  ZE_ENABLE_PCI_ID_DEVICE_ORDER=1 (ONEAPI_DEVICE_SELECTOR=level_zero:N; torch.xpu.set_device is thread-local
  and ComfyUI runs prompts on a worker thread, see DESIGN.md). The default Intel device is the first discrete
  one; an iGPU only when asked (--intel-device pointing at it, or --igpu).
- Variables: our defaults never override a variable the user set (it is listed in `env_kept`). The one
  exception is an explicit device flag: `--cuda-device N` / `--intel-device N` replace a user's
  CUDA_VISIBLE_DEVICES / ONEAPI_DEVICE_SELECTOR, with a warning, because the flag is the more specific request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from ..errors import SelectionError
from ..hardware.model import Gpu, HardwareReport, Vendor
from ..runtime.model import Backend, Environment, RuntimeInfo
from .model import DevicePlan, DeviceRequest

# The one priority table: auto mode takes the first usable backend; --fallback moves right from a forced one.
PRIORITY: tuple[Backend, ...] = (Backend.CUDA, Backend.XPU, Backend.CPU)

CURRENT = "current"  # registry name of the interpreter running ipex itself

# Variables set for an XPU plan unless the user set them (setdefault semantics).
XPU_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("ZE_ENABLE_PCI_ID_DEVICE_ORDER", "1"),  # Level Zero numbers GPUs in PCI order: our Intel N == its N
    ("ZES_ENABLE_SYSMAN", "1"),  # lets torch/Level Zero report free device memory
    ("SYCL_CACHE_PERSISTENT", "1"),  # keep JIT-compiled kernels between runs (minutes saved per start)
    ("UR_L0_ENABLE_RELAXED_ALLOCATION_LIMITS", "1"),  # allow single allocations over 4 GiB
)
CUDA_ORDER = ("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # CUDA's default order is "fastest first", not nvidia-smi's
# A CPU plan hides GPUs from the child. "opencl:cpu" admits only OpenCL CPU devices, so the SYCL loader does
# not even load the Level Zero adapter and torch.xpu sees nothing (a negative filter such as "!level_zero:*"
# would still admit OpenCL GPUs, and device-type negatives are mishandled by the loader: intel/llvm#17086).
CPU_HIDE: tuple[tuple[str, str], ...] = (("CUDA_VISIBLE_DEVICES", ""), ("ONEAPI_DEVICE_SELECTOR", "opencl:cpu"))
_HIDES_ALL_CUDA = ("", "-1")  # CUDA_VISIBLE_DEVICES values that hide every NVIDIA GPU



def _vocabulary():
    """plan.vocabulary, which derives its orders from PRIORITY here (so it is imported on use, not at load)."""
    from . import vocabulary

    return vocabulary


def select_device(
    request: DeviceRequest,
    *,
    hardware: HardwareReport,
    environments: Sequence[tuple[Environment, RuntimeInfo | None]],
    environ: Mapping[str, str],
    cache_dir: Path,
) -> DevicePlan:
    """Decide where work runs. Raises SelectionError (message names what is available, hint the fix)."""
    _check_request(request)
    ctx = _Context(request, hardware, tuple(environments), environ, Path(cache_dir))
    if request.backend is None:
        order = PRIORITY
        ctx.reasons.append(f"backend: auto ({' > '.join(b.name for b in PRIORITY)}), nothing forced one")
    else:
        order = _successors(request.backend) if request.fallback else (request.backend,)
        ctx.reasons.append(f"backend: {request.backend.name} requested by {request.source}")

    failures: list[tuple[Backend, _Unavailable]] = []
    for backend in order:
        try:
            return _plan_for(backend, ctx)
        except _Unavailable as why:
            failures.append((backend, why))
            if backend is request.backend:
                if not request.fallback:
                    raise _forced_error(backend, why, ctx) from None
                ctx.warnings.append(f"{backend.name} was requested but cannot be used; falling back (--fallback)")
            elif why.warning:
                ctx.warnings.append(why.warning)
            ctx.reasons.append(f"{backend.name}: skipped, {why.reason}")
    # Only reachable when even CPU failed: no environment has torch at all.
    last = failures[-1][1]
    raise SelectionError(f"no backend can be used: {last.reason}. {_available(ctx)}", hint=last.hint)


def usable_backends(
    request: DeviceRequest,
    *,
    hardware: HardwareReport,
    environments: Sequence[tuple[Environment, RuntimeInfo | None]],
    environ: Mapping[str, str],
    cache_dir: Path,
) -> tuple[Backend, ...]:
    """Backends a forced request would succeed with, in PRIORITY order (for messages and `ipex devices`)."""
    ctx = _Context(request, hardware, tuple(environments), environ, Path(cache_dir))
    return _usable(ctx)


# --- internals --------------------------------------------------------------------------------------------


class _Unavailable(Exception):
    """This backend cannot be used here. `reason` reads after "skipped, ..." / "but ..."."""

    def __init__(self, reason: str, hint: str | None = None, warning: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint
        self.warning = warning  # worth a warning even in auto mode (a GPU is here but unusable)


@dataclass(frozen=True)
class _Target:
    """A GPU a plan may run on: from the hardware probe, or as a torch environment reports it."""

    index: int
    name: str
    integrated: bool | None
    pci_slot: str | None = None

    def describe(self, vendor: str) -> str:
        slot = f", {self.pci_slot}" if self.pci_slot else ""
        return f"{vendor} {self.index} ({self.name}{slot})"


@dataclass
class _Context:
    request: DeviceRequest
    hardware: HardwareReport
    environments: tuple[tuple[Environment, RuntimeInfo | None], ...]
    environ: Mapping[str, str]
    cache_dir: Path
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _EnvChoice:
    env: Environment
    info: RuntimeInfo | None
    why: str


def _successors(backend: Backend) -> tuple[Backend, ...]:
    return PRIORITY[PRIORITY.index(backend):]


def _check_request(request: DeviceRequest) -> None:
    """A device index for a backend the request can never reach is a contradiction, not a preference."""
    if request.backend is None:
        return
    reachable = _successors(request.backend) if request.fallback else (request.backend,)
    for backend, index in ((Backend.CUDA, request.cuda_device), (Backend.XPU, request.intel_device)):
        if index is not None and backend not in reachable:
            flag = f"{_vocabulary().INDEX_FLAG[backend]} {index}"
            raise SelectionError(
                f"conflicting request: {flag} selects a {backend.name} device, "
                f"but {request.source} asks for {request.backend.name}",
                hint=f"drop {flag} or {request.source}",
            )
    for index in (request.cuda_device, request.intel_device):
        if index is not None and index < 0:
            raise SelectionError(f"device index must be 0 or more, got {index}")


def _plan_for(backend: Backend, ctx: _Context) -> DevicePlan:
    if backend is Backend.CPU:
        return _cpu_plan(ctx)
    return _gpu_plan(backend, ctx)


# --- GPU backends -----------------------------------------------------------------------------------------


def _gpu_plan(backend: Backend, ctx: _Context) -> DevicePlan:
    request, environ = ctx.request, ctx.environ
    vendor = _vocabulary().VENDOR[backend]
    explicit = request.cuda_device if backend is Backend.CUDA else request.intel_device
    local_warnings: list[str] = []

    if backend is Backend.CUDA and explicit is None and environ.get("CUDA_VISIBLE_DEVICES") in _HIDES_ALL_CUDA:
        value = environ["CUDA_VISIBLE_DEVICES"]
        raise _Unavailable(
            f"your CUDA_VISIBLE_DEVICES={value!r} hides every NVIDIA GPU",
            hint="unset CUDA_VISIBLE_DEVICES, or pass --cuda-device N",
        )

    env_choice = _gpu_env(backend, ctx)
    targets = _hardware_targets(backend, ctx.hardware)
    if not targets:
        reported = env_choice.info.devices_of(backend) if env_choice and env_choice.info else ()
        if env_choice is None or not env_choice.info or not env_choice.info.can_run(backend):
            raise _Unavailable(f"no {vendor} GPU was found", hint=_undo_hint(ctx.request))
        # Containers often have no /sys/class/drm: trust a torch that really sees devices.
        targets = tuple(_Target(d.index, d.name, d.integrated) for d in reported) or (
            _Target(0, f"{backend.value}:0", None),
        )
        local_warnings.append(
            f"the hardware probe found no {vendor} GPU, but torch in environment {env_choice.env.name!r} "
            f"reports {len(targets)} {backend.name} device(s); using them"
        )

    target, device_reason = _pick_target(backend, targets, explicit, ctx, local_warnings)

    if env_choice is None or env_choice.info is None or not env_choice.info.can_run(backend):
        if request.needs_torch:
            gpus = ", ".join(t.name for t in targets)
            raise _Unavailable(
                f"no environment's torch can use {backend.name} on the {vendor} GPU ({gpus}): "
                f"{_env_summary(ctx, backend)}",
                hint=f"ipex env create {backend.value}",
                warning=f"{vendor} GPU found but no environment can use {backend.name}: "
                f"run `ipex env create {backend.value}`",
            )
        env_choice = _any_env(ctx, why=f"{backend.name} needs no torch here; using the current interpreter")

    # Past this point the backend is usable: record the decisions.
    ctx.reasons.append(device_reason)
    env, kept = _gpu_variables(backend, target, explicit, ctx, local_warnings)
    device_index = target.index if target is not None else _kept_index(backend, ctx, local_warnings)
    ctx.reasons.append(f"environment: {env_choice.why}")
    ctx.warnings.extend(local_warnings)
    return DevicePlan(
        backend=backend,
        device_index=device_index,
        device_name=target.name if target is not None else _kept_name(backend, device_index, targets),
        environment=env_choice.env.name,
        python=env_choice.env.python,
        env=env,
        env_kept=kept,
        reasons=tuple(ctx.reasons),
        warnings=tuple(ctx.warnings),
        request=ctx.request,
    )


def _hardware_targets(backend: Backend, hardware: HardwareReport) -> tuple[_Target, ...]:
    gpus: tuple[Gpu, ...] = hardware.nvidia if backend is Backend.CUDA else hardware.intel
    return tuple(_Target(i, g.label, g.integrated, g.pci_slot) for i, g in enumerate(gpus))


def _pick_target(
    backend: Backend, targets: tuple[_Target, ...], explicit: int | None, ctx: _Context, warnings: list[str]
) -> tuple[_Target | None, str]:
    """The GPU to use and the reason line. None when the user's own visibility variable decides."""
    vendor = _vocabulary().VENDOR[backend]
    flag = _vocabulary().INDEX_FLAG[backend]
    if explicit is not None:
        if explicit >= len(targets):
            listing = "; ".join(t.describe(vendor) for t in targets)
            valid = "0" if len(targets) == 1 else f"0-{len(targets) - 1}"
            raise SelectionError(
                f"{flag} {explicit}: there is no {vendor} GPU {explicit}; valid: {valid} ({listing})",
                hint="`ipex devices` lists the GPUs and their numbers",
            )
        target = targets[explicit]
        note = " (an integrated GPU, used because you asked for it)" if target.integrated else ""
        return target, f"device: {target.describe(vendor)} from {flag} {explicit}{note}"

    user_var = "CUDA_VISIBLE_DEVICES" if backend is Backend.CUDA else "ONEAPI_DEVICE_SELECTOR"
    if user_var in ctx.environ:
        return None, f"device: chosen by your {user_var}={ctx.environ[user_var]!r} (kept)"

    if backend is Backend.CUDA:
        return targets[0], f"device: {targets[0].describe(vendor)}, the first NVIDIA GPU"

    discrete = [t for t in targets if t.integrated is False]
    unknown = [t for t in targets if t.integrated is None]
    integrated = [t for t in targets if t.integrated]
    skipped = "".join(f"; skipped integrated {t.describe(vendor)}" for t in integrated)
    if discrete:
        return discrete[0], f"device: {discrete[0].describe(vendor)}, the first discrete Intel GPU{skipped}"
    if unknown:
        warnings.append(f"could not tell whether {unknown[0].describe(vendor)} is integrated; using it")
        return unknown[0], f"device: {unknown[0].describe(vendor)}, the first Intel GPU not known to be integrated"
    if ctx.request.allow_integrated:
        return integrated[0], f"device: {integrated[0].describe(vendor)}, an integrated GPU, used because of --igpu"
    first = integrated[0]
    raise _Unavailable(
        f"the only Intel GPU is integrated ({first.describe(vendor)}), used only when asked for",
        hint=f"pass --igpu or --intel-device {first.index} to run on the integrated GPU",
    )


def _gpu_env(backend: Backend, ctx: _Context) -> _EnvChoice | None:
    """The registered environment of this backend if its torch can drive it, else the current interpreter."""
    registered = _registered(ctx, backend)
    if registered and registered[1] is not None and registered[1].can_run(backend):
        return _EnvChoice(registered[0], registered[1], _env_why(registered, f"registered for {backend.value}"))
    current = _current(ctx)
    if current and current[1] is not None and current[1].can_run(backend):
        why = f"no usable registered {backend.value} environment; the current interpreter's torch can use {backend.name}"
        return _EnvChoice(current[0], current[1], _env_why(current, why))
    return None


def _gpu_variables(
    backend: Backend, target: _Target | None, explicit: int | None, ctx: _Context, warnings: list[str]
) -> tuple[dict[str, str], dict[str, str]]:
    env: dict[str, str] = {}
    kept: dict[str, str] = {}
    if backend is Backend.CUDA:
        selector = ("CUDA_VISIBLE_DEVICES", str(target.index) if target is not None else None)
        defaults: tuple[tuple[str, str], ...] = (CUDA_ORDER,)
    else:
        selector = ("ONEAPI_DEVICE_SELECTOR", f"level_zero:{target.index}" if target is not None else None)
        defaults = XPU_DEFAULTS + (("SYCL_CACHE_DIR", str(ctx.cache_dir / "sycl")),)
    key, value = selector
    if value is None:  # the user's own selector decides
        kept[key] = ctx.environ[key]
    elif explicit is not None:
        flag = f"{_vocabulary().INDEX_FLAG[backend]} {explicit}"
        if key in ctx.environ and ctx.environ[key] != value:
            warnings.append(f"{flag} replaces your {key}={ctx.environ[key]!r} (an explicit flag wins)")
        env[key] = value
        ctx.reasons.append(f"{key}={value} makes that GPU the child's {backend.value}:0")
    else:
        env[key] = value
        ctx.reasons.append(f"{key}={value} makes that GPU the child's {backend.value}:0")
    for name, default in defaults:
        _setdefault(name, default, ctx.environ, env, kept)
    if backend is Backend.CUDA and kept.get(CUDA_ORDER[0], CUDA_ORDER[1]) != CUDA_ORDER[1]:
        warnings.append(
            f"your CUDA_DEVICE_ORDER={kept[CUDA_ORDER[0]]!r} is kept: CUDA numbers GPUs differently "
            "from `ipex devices` (PCI order)"
        )
    if backend is Backend.XPU and "ZE_AFFINITY_MASK" in ctx.environ:
        warnings.append(
            f"your ZE_AFFINITY_MASK={ctx.environ['ZE_AFFINITY_MASK']!r} hides some Intel GPUs from Level Zero, "
            "so level_zero:N may not be the GPU `ipex devices` numbers N"
        )
    return env, kept


def _kept_index(backend: Backend, ctx: _Context, warnings: list[str]) -> int | None:
    """Which of our GPUs the user's own selector variable names, when it is a simple one."""
    if backend is Backend.CUDA:
        value = ctx.environ["CUDA_VISIBLE_DEVICES"].split(",")[0].strip()
        gpus = ctx.hardware.nvidia
        if value.isdigit():
            index = int(value)
        else:
            matches = [i for i, g in enumerate(gpus) if g.uuid and value and g.uuid.startswith(value)]
            return matches[0] if matches else None
    else:
        value = ctx.environ["ONEAPI_DEVICE_SELECTOR"].strip()
        gpus = ctx.hardware.intel
        prefix = "level_zero:"
        if not (value.startswith(prefix) and value[len(prefix):].isdigit()):
            return None
        index = int(value[len(prefix):])
    if gpus and index >= len(gpus):
        warnings.append(f"your selector names {_vocabulary().VENDOR[backend]} GPU {index}, but only {len(gpus)} exist here")
        return None
    return index


def _kept_name(backend: Backend, index: int | None, targets: tuple[_Target, ...]) -> str | None:
    if index is None or index >= len(targets):
        return None
    return targets[index].name


# --- CPU --------------------------------------------------------------------------------------------------


def _cpu_plan(ctx: _Context) -> DevicePlan:
    choice = _cpu_env(ctx)
    if choice is None:
        if ctx.request.needs_torch:
            raise _Unavailable(
                f"no Python environment has torch ({_env_summary(ctx, Backend.CPU)})",
                hint=f"ipex env create {_vocabulary().suggested_backend(ctx.hardware).value}",
            )
        choice = _any_env(ctx, why="no environment has torch, and this program needs none")
    env: dict[str, str] = {}
    kept: dict[str, str] = {}
    for name, value in CPU_HIDE:
        _setdefault(name, value, ctx.environ, env, kept)
    for name, ours in CPU_HIDE:
        if name in kept and kept[name] != ours:
            ctx.warnings.append(f"your {name}={kept[name]!r} is kept, so the program may still see a GPU")
    amd = ctx.hardware.of_vendor(Vendor.AMD)
    if amd and ctx.request.backend is None:
        ctx.warnings.append(f"AMD GPU found ({amd[0].label}): ROCm is not supported here, running on CPU")
    ctx.reasons.append("device: CPU; GPUs are hidden from the child (CUDA_VISIBLE_DEVICES, ONEAPI_DEVICE_SELECTOR)")
    ctx.reasons.append(f"environment: {choice.why}")
    return DevicePlan(
        backend=Backend.CPU,
        device_index=None,
        device_name=None,
        environment=choice.env.name,
        python=choice.env.python,
        env=env,
        env_kept=kept,
        reasons=tuple(ctx.reasons),
        warnings=tuple(ctx.warnings),
        request=ctx.request,
    )


def _cpu_env(ctx: _Context) -> _EnvChoice | None:
    """Registered cpu environment, else the current interpreter, else any environment with torch."""
    registered = _registered(ctx, Backend.CPU)
    if registered and _has_torch(registered[1]):
        return _EnvChoice(registered[0], registered[1], _env_why(registered, "registered for cpu"))
    current = _current(ctx)
    if current and _has_torch(current[1]):
        return _EnvChoice(current[0], current[1], _env_why(current, "no usable registered cpu environment; the current interpreter has torch"))
    for pair in ctx.environments:
        if _has_torch(pair[1]):
            return _EnvChoice(pair[0], pair[1], _env_why(pair, "any environment's torch runs on CPU"))
    return None


# --- helpers ----------------------------------------------------------------------------------------------


def _setdefault(name: str, value: str, environ: Mapping[str, str], env: dict, kept: dict) -> None:
    if name in environ:
        kept[name] = environ[name]
    else:
        env[name] = value


def _has_torch(info: RuntimeInfo | None) -> bool:
    return info is not None and info.ok and info.has_torch


def _registered(ctx: _Context, backend: Backend) -> tuple[Environment, RuntimeInfo | None] | None:
    for env, info in ctx.environments:
        if env.registered and env.backend is backend:
            return env, info
    return None


def _current(ctx: _Context) -> tuple[Environment, RuntimeInfo | None] | None:
    for env, info in ctx.environments:
        if env.name == CURRENT:
            return env, info
    return None


def _any_env(ctx: _Context, *, why: str) -> _EnvChoice:
    pair = _current(ctx) or (ctx.environments[0] if ctx.environments else None)
    if pair is None:
        raise _Unavailable("no Python environment is known", hint="ipex env list")
    return _EnvChoice(pair[0], pair[1], _env_why(pair, why))


def _env_why(pair: tuple[Environment, RuntimeInfo | None], why: str) -> str:
    env, info = pair
    torch = f", torch {info.torch_version}" if info is not None and info.torch_version else ""
    return f"{env.name} ({env.python}{torch}): {why}"


def _describe_env(env: Environment, info: RuntimeInfo | None) -> str:
    if info is None:
        state = "not probed"
    elif not info.ok:
        state = info.error or "probe failed"
    elif not info.has_torch:
        state = "no torch"
    else:
        can = [b.name for b in PRIORITY if info.can_run(b)]
        state = f"torch {info.torch_version}, can run {'/'.join(can)}"
    return f"{env.name}: {state}"


def _env_summary(ctx: _Context, backend: Backend) -> str:
    parts = [_describe_env(env, info) for env, info in ctx.environments]
    if backend is not Backend.CPU and _registered(ctx, backend) is None:
        parts.insert(0, f"no {backend.value} environment registered")
    return "; ".join(parts) if parts else "no environments known"


def _undo_hint(request: DeviceRequest) -> str:
    source = request.source
    if source.startswith("IPEX_DEVICE"):
        undo = "unset IPEX_DEVICE (or set IPEX_DEVICE=auto)"
    elif source.startswith("config"):
        undo = "set device = \"auto\" in the config file"
    else:
        undo = f"drop {source}"
    return f"{undo} to pick automatically, or add --fallback to fall back instead of failing"


def _usable(ctx: _Context) -> tuple[Backend, ...]:
    usable = []
    for backend in PRIORITY:
        probe = _Context(ctx.request, ctx.hardware, ctx.environments, ctx.environ, ctx.cache_dir)
        try:
            _plan_for(backend, probe)
        except (_Unavailable, SelectionError):
            continue
        usable.append(backend)
    return tuple(usable)


def _available(ctx: _Context) -> str:
    gpus = ", ".join(f"{g.label}{' (integrated)' if g.integrated else ''}" for g in ctx.hardware.gpus)
    quiet = DeviceRequest(allow_integrated=ctx.request.allow_integrated, needs_torch=ctx.request.needs_torch)
    usable = _usable(_Context(quiet, ctx.hardware, ctx.environments, ctx.environ, ctx.cache_dir))
    names = ", ".join(b.name for b in usable) or "none"
    found = f"GPUs here: {gpus}." if gpus else "No GPU found."
    return f"{found} Usable backends: {names}."


def _forced_error(backend: Backend, why: _Unavailable, ctx: _Context) -> SelectionError:
    return SelectionError(
        f"{backend.name} requested by {ctx.request.source}, but {why.reason}. {_available(ctx)}",
        hint=why.hint,
    )
