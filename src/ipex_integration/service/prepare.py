"""Turn `ipex service install` inputs, a resolved plan and facts about this machine into a UnitSpec.

The machine facts (current user, groups, homes, PATH lookups) come in through `Machine`, so tests describe a
machine instead of depending on the one they run on.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from ..hardware.model import HardwareReport
from ..net import exposure_warning
from ..paths import HOME_VARIABLE
from ..plan.model import DevicePlan, DeviceRequest
from ..proc import Runner
from ..runtime.model import Backend
from . import ServiceError
from .units import DEFAULT_LISTEN, DEFAULT_PORTS, DEVICE_GROUPS, LAUNCHERS, UnitSpec


@dataclass(frozen=True)
class Machine:
    """What the spec depends on about this machine."""

    uid: int
    user: str | None  # the current user's name
    group_exists: Callable[[str], bool]
    user_home: Callable[[str], str | None]  # None: no such user
    which: Callable[[str], str | None]
    bin_dir: Path  # where the running ipex's console scripts are
    user_uid: Callable[[str], int | None] = lambda name: _uid_of(name)  # None: no such user


def _uid_of(name: str) -> int | None:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def this_machine() -> Machine:
    def group_exists(name: str) -> bool:
        try:
            grp.getgrnam(name)
        except KeyError:
            return False
        return True

    def user_home(name: str) -> str | None:
        try:
            return pwd.getpwnam(name).pw_dir
        except KeyError:
            return None

    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = None
    # Not resolved: a venv's python is a symlink, and its scripts sit beside the link.
    return Machine(uid, user, group_exists, user_home, shutil.which, Path(sys.executable).parent)


@dataclass(frozen=True)
class ServiceOptions:
    program: str
    scope: str = "system"
    listen: str = DEFAULT_LISTEN
    port: int | None = None
    extra_args: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    run_as: str | None = None
    comfyui: str | None = None  # checkout to pin (default: the one the launcher would find now)
    ollama_bin: str | None = None  # ollama binary to pin (default: `ollama` on PATH now)
    launcher: str | None = None  # default: beside the running ipex, else on PATH
    llama_server: str | None = None  # llama-server: the binary (default: $LLAMA_SERVER, else PATH)
    model: str | None = None  # llama-server: the .gguf file


def run_as_user(options: ServiceOptions, environ: Mapping[str, str], machine: Machine) -> str | None:
    """The `User=` of a system unit (None for user units)."""
    if options.scope == "user":
        if options.run_as:
            raise ServiceError("--run-as is for system units; a --user unit runs as you")
        return None
    if options.run_as:
        name = options.run_as
    elif machine.uid != 0 and machine.user:
        name = machine.user
    elif environ.get("SUDO_USER") and environ["SUDO_USER"] != "root":
        name = environ["SUDO_USER"]
    else:
        raise ServiceError(
            "a system unit runs as a named user, and as root there is none to default to",
            hint="pass --run-as USER: the user whose `ipex env` environments (and ComfyUI) the service uses",
        )
    # By uid, not by name: an alias of uid 0 (`toor`) is root too.
    if name == "root" or name == "0" or machine.user_uid(name) == 0:
        raise ServiceError(f"refusing to run the service as root (--run-as {name} has uid 0)" if name != "root"
                           else "refusing to run the service as root",
                           hint="pass --run-as USER with an ordinary user")
    if machine.user_home(name) is None:
        raise ServiceError(f"--run-as {name}: no such user")
    return name


def torch_checked_at_install(options: ServiceOptions, run_as: str | None, machine: Machine) -> bool:
    """Whether install can check that an environment's torch drives the device: only when the service will
    use the registry we can see, i.e. it runs as us. Ollama brings its own GPU runtime and needs no torch."""
    if options.program in ("ollama", "llama-server"):
        return False
    return options.scope == "user" or run_as == machine.user


def find_launcher(program: str, machine: Machine, explicit: str | None = None) -> str:
    name = LAUNCHERS[program]
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ServiceError(f"--launcher {explicit}: not an executable file")
        return str(path.absolute())
    beside = machine.bin_dir / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = machine.which(name)
    if found:
        return str(Path(found).absolute())
    raise ServiceError(
        f"cannot find the {name} launcher (not beside {machine.bin_dir}, not on PATH)",
        hint="install ipex-integration into the environment you run ipex from, or pass --launcher PATH",
    )


# The folders of a ComfyUI checkout that ComfyUI writes (outputs, uploads, its temp folder, user settings and
# its database): the unit's ReadWritePaths, instead of the whole checkout.
COMFYUI_WRITABLE = ("output", "input", "temp", "user")


@dataclass(frozen=True)
class Pins:
    """What install fixes besides the device: the launcher, its program options, the paths it writes."""

    launcher: str
    program_args: tuple[str, ...] = ()
    writable: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)  # the program's variables (--env wins)


# Variables of an interactive launch that a unit sets its own way: the SYCL cache goes to the unit's state
# directory (the installer's cache folder may be read-only to the service, or another user's).
UNIT_OWNED = ("SYCL_CACHE_DIR",)


def pin_llama_server(
    options: ServiceOptions,
    request: DeviceRequest,
    *,
    environ: Mapping[str, str],
    hardware: HardwareReport | None = None,
    runner: Runner | None = None,
) -> tuple[Pins, DevicePlan]:
    """llama-server's unit, from `prepare_llama_launch(...).spec`: its argv (binary, model, address, all layers
    offloaded) and the variables its build needs for the planned device, kept or set, as the unit's own."""
    from ..llama.launch import prepare_llama_launch
    from ..net import check_host

    if "," in options.listen:
        raise ServiceError(f"--listen {options.listen}: llama-server listens on one address",
                           hint="pass one address, e.g. --listen 127.0.0.1")
    if not options.model:
        raise ServiceError("llama-server needs a model file", hint="pass --model PATH.gguf")
    model = Path(options.model).expanduser().absolute()
    binary = options.llama_server
    if binary and os.sep in binary:
        binary = str(Path(binary).expanduser().absolute())
    kwargs = {} if runner is None else {"runner": runner}
    launch = prepare_llama_launch(request, model=str(model), environ=environ, binary=binary,
                                  host=check_host(options.listen, what="listen address"),
                                  port=options.port or DEFAULT_PORTS["llama-server"], hardware=hardware, **kwargs)
    argv = launch.spec.argv
    variables = {k: v for k, v in {**launch.server.kept, **launch.server.env}.items() if k not in UNIT_OWNED}
    notes = [f"llama-server: {launch.build.label} on {launch.where}"]
    notes += [f"your {k}={v!r} is kept in the unit" for k, v in sorted(launch.server.kept.items()) if k not in UNIT_OWNED]
    notes += list(launch.server.warnings)
    if options.scope == "system" and str(model).startswith("/tmp/"):
        notes.append(f"{model} is under /tmp, which the unit makes private (PrivateTmp=yes): the service cannot "
                     "read it; move the model elsewhere")
    return Pins(str(Path(argv[0]).absolute()), tuple(argv[1:]), (), tuple(notes), variables), launch.plan


def pin_program(
    options: ServiceOptions, *, environ: Mapping[str, str], machine: Machine, run_as: str | None
) -> Pins:
    """Find the launcher and what it runs (cheap, no probing: done before the plan is resolved)."""
    launcher = find_launcher(options.program, machine, options.launcher)
    program_args: list[str] = []
    writable: list[str] = []
    notes: list[str] = []
    if options.program == "comfyui":
        from ..comfyui.checkout import find_checkout

        checkout = Path(find_checkout(options.comfyui, environ=environ).path).absolute()
        program_args += ["--comfyui", str(checkout)]
        # ComfyUI writes only these folders of its checkout; the code itself stays read-only in the unit.
        writable += [str(checkout / name) for name in COMFYUI_WRITABLE]
    else:
        ollama = options.ollama_bin or machine.which("ollama")
        if ollama:
            program_args += ["--ollama-bin", str(Path(ollama).expanduser().absolute())]
        else:
            notes.append("no `ollama` on PATH now: the service looks for it on systemd's PATH; or pass --ollama-bin")
        home = machine.user_home(run_as) if run_as else None
        if home:
            writable.append(str(Path(home) / ".ollama"))  # ollama's key and models
    ipex_home = environ.get(HOME_VARIABLE)
    if ipex_home:
        writable.append(str(Path(ipex_home).expanduser().absolute()))
    return Pins(launcher, tuple(program_args), tuple(writable), tuple(notes))


def prepare_spec(
    options: ServiceOptions,
    plan: DevicePlan,
    pins: Pins,
    *,
    environ: Mapping[str, str],
    machine: Machine,
    run_as: str | None = None,
) -> tuple[UnitSpec, list[str]]:
    """The unit spec, plus notes worth telling the user (missing groups, paths, network exposure)."""
    system = options.scope == "system"
    notes: list[str] = list(pins.notes)
    ipex_home = environ.get(HOME_VARIABLE) or None
    if ipex_home:
        ipex_home = str(Path(ipex_home).expanduser().absolute())

    groups: tuple[str, ...] = ()
    if system:
        groups = tuple(g for g in DEVICE_GROUPS if machine.group_exists(g))
        missing = [g for g in DEVICE_GROUPS if g not in groups]
        if missing and plan.backend is Backend.XPU:
            notes.append(f"group(s) {', '.join(missing)} do not exist here; the service may not open /dev/dri")
        for path in pins.writable:
            if not Path(path).exists():
                notes.append(f"{path} does not exist yet; the unit can write there only once it does")
    exposed = exposure_warning(options.listen)
    if exposed:
        notes.append(exposed)

    environment = {**pins.environment, **options.environment}
    if plan.backend is not Backend.CPU and plan.device_index is None:
        # The user's own selector variable chose the device: the service keeps that choice.
        for key in ("CUDA_VISIBLE_DEVICES", "ONEAPI_DEVICE_SELECTOR"):
            if key in plan.env_kept and key not in environment:
                environment[key] = plan.env_kept[key]
                notes.append(f"your {key}={plan.env_kept[key]!r} chose the device; the unit sets it too")

    spec = UnitSpec(
        program=options.program,
        scope=options.scope,
        launcher=pins.launcher,
        backend=plan.backend,
        device_index=plan.device_index,
        device_name=plan.device_name,
        listen=options.listen,
        port=options.port,
        program_args=pins.program_args,
        extra_args=tuple(options.extra_args),
        environment=environment,
        user=run_as,
        groups=groups,
        read_write_paths=pins.writable if system else (),
        ipex_home=ipex_home,
    )
    return spec, notes
