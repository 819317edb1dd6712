"""Render a systemd unit that runs one of our launchers (or llama.cpp's llama-server) on a device fixed at
install time.

The plan is resolved once, by `ipex service install`; the unit keeps only its decision (backend and device
index) as explicit flags, so the launcher re-checks the same device at every start and fails with a clear
message if it is gone, instead of silently choosing another one. llama-server has no launcher of ours: its unit
runs the binary with the command and variables `llama/launch.prepare_llama_launch` built (CUDA_VISIBLE_DEVICES,
ONEAPI_DEVICE_SELECTOR=level_zero:N or GGML_VK_VISIBLE_DEVICES per build), which pin the device by themselves.
Every program's unit gets the same hardening, from `render_unit`'s one list.

The hardening matches nix/modules/*.nix where it applies outside NixOS. Differences, and why:
- System units run as a named user (`User=`), not `DynamicUser=`: outside Nix the launcher, the backend
  environments and the ComfyUI checkout live in that user's home, which a dynamic user cannot read.
  So the home is read-only (`ProtectHome=read-only`) and only the paths the program writes are opened.
- User units (`--user`) keep only the restrictions that need no privileges (seccomp-based ones:
  SystemCallFilter, RestrictSUIDSGID, RestrictNamespaces, ... and NoNewPrivileges): a user manager can set up
  mount namespaces (ProtectSystem, PrivateTmp, PrivateIPC, ProtectProc) only with PrivateUsers=, which we do
  not impose on a program that needs the GPU device nodes.
- Only the folders the program writes are writable: for ComfyUI its output/, input/, temp/ and user/
  folders, never the checkout itself (the service must not be able to rewrite its own code).
- Devices are narrowed to the plan's backend (DevicePolicy=closed): a CPU unit sees no GPU at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from ..errors import UsageError
from ..runtime.model import Backend

MARKER = "# Managed by ipex-integration"
PROGRAMS = ("comfyui", "ollama", "llama-server")
# The same names as the NixOS modules' units (services.comfyui-ipex / services.ollama-ipex).
UNIT_NAMES = {"comfyui": "comfyui-ipex.service", "ollama": "ollama-ipex.service",
              "llama-server": "llama-server-ipex.service"}
LAUNCHERS = {"comfyui": "comfyui-ipex", "ollama": "ollama-ipex"}  # llama-server runs its own binary
DEFAULT_PORTS = {"comfyui": 8188, "ollama": 11434, "llama-server": 8080}
DEFAULT_LISTEN = "127.0.0.1"
SCOPES = ("system", "user")
_TITLES = {"comfyui": "ComfyUI", "ollama": "Ollama", "llama-server": "llama.cpp's llama-server"}

# Device nodes per backend, as systemd names them (`char-<driver>` from /proc/devices). The NVIDIA list is
# nixpkgs' services.ollama's; names a machine lacks are ignored by systemd.
NVIDIA_DEVICE_ALLOW = ("char-nvidiactl", "char-nvidia-caps", "char-nvidia-frontend", "char-nvidia-uvm")
INTEL_DEVICE_ALLOW = ("char-drm",)  # /dev/dri/card* and renderD*
# /dev/dri/renderD* is group render, card* group video on most distributions.
DEVICE_GROUPS = ("render", "video")
ADDRESS_FAMILIES = "AF_UNIX AF_INET AF_INET6"
# The system-call filter. @system-service is what ordinary daemons need. @privileged (setuid, chown, mount,
# module loading, raw I/O, ...) is denied: neither ComfyUI, Ollama nor the GPU runtimes call it. @resources
# stays ALLOWED on purpose: it holds mbind/set_mempolicy (NUMA-aware allocators of the CUDA and Level Zero
# runtimes) and sched_setaffinity (OpenMP thread pinning in torch and llama.cpp). A denied call fails with
# EPERM instead of killing the process, so a library that probes an optional call degrades, not crashes.
SYSCALL_FILTER = ("@system-service", "~@privileged")
SYSCALL_ERROR = "EPERM"

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLAIN = re.compile(r"[][A-Za-z0-9_@%+=:,./-]+\Z")  # ExecStart words that need no quoting


@dataclass(frozen=True)
class UnitSpec:
    """Everything a unit depends on; `render_unit` is a pure function of it.

    - `launcher`: absolute path of comfyui-ipex / ollama-ipex (llama-server: the llama-server binary).
    - `program_args`: launcher options fixed at install (`--comfyui DIR`, `--ollama-bin PATH`; llama-server:
      its whole command after the binary, `--model M --host H --port P --n-gpu-layers N`).
    - `user`: `User=` of a system unit (None for user units).
    - `groups`: SupplementaryGroups (only those that exist on this machine; empty for user units).
    - `read_write_paths`: what the program writes besides its state and cache directories.
    - `environment`: the program's variables (llama-server's device variables) and the user's --env, which
      win (escaped); the unit's own (PYTHONUNBUFFERED, SYCL_CACHE_DIR, ...) are added by the renderer.
    """

    program: str
    scope: str
    launcher: str
    backend: Backend
    device_index: int | None = None
    device_name: str | None = None
    listen: str = DEFAULT_LISTEN
    port: int | None = None
    program_args: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    groups: tuple[str, ...] = DEVICE_GROUPS
    read_write_paths: tuple[str, ...] = ()
    ipex_home: str | None = None

    def __post_init__(self) -> None:
        if self.program not in PROGRAMS:
            raise UsageError(f"unknown service {self.program!r}; choose one of: {', '.join(PROGRAMS)}")
        if self.scope not in SCOPES:
            raise UsageError(f"unknown scope {self.scope!r}; choose system or user")
        if self.port is not None and not 0 < self.port < 65536:
            raise UsageError(f"--port {self.port}: a port is 1-65535")
        for key in self.environment:
            if not _KEY.match(key):
                raise UsageError(f"--env {key!r}: not a valid variable name")
        for text in (self.launcher, self.listen, *self.program_args, *self.extra_args, *self.environment.values(),
                     *self.read_write_paths):
            if "\n" in text or "\r" in text:
                raise UsageError(f"a unit file value cannot contain a line break: {text!r}")

    @property
    def unit_name(self) -> str:
        return UNIT_NAMES[self.program]

    @property
    def state_name(self) -> str:
        """StateDirectory= / CacheDirectory= name (under /var/lib and /var/cache, or ~/.local/state)."""
        return UNIT_NAMES[self.program].removesuffix(".service")

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.program]


def device_flags(backend: Backend, device_index: int | None) -> list[str]:
    """The launcher flags that pin a plan's decision (the inverse of plan/flags.py for one backend)."""
    if backend is Backend.CPU:
        return ["--cpu"]
    if backend is Backend.CUDA:
        return ["--cuda"] + ([] if device_index is None else ["--cuda-device", str(device_index)])
    return ["--force-intel-xpu"] + ([] if device_index is None else ["--intel-device", str(device_index)])


def host_port(listen: str, port: int) -> str:
    """OLLAMA_HOST-style address: IPv6 literals in brackets."""
    return f"[{listen}]:{port}" if ":" in listen and not listen.startswith("[") else f"{listen}:{port}"


def exec_argv(spec: UnitSpec) -> list[str]:
    """The command the unit runs, as a list (before systemd quoting)."""
    if spec.program == "llama-server":  # the device is in its variables; the address in program_args
        return [spec.launcher, *spec.program_args, *spec.extra_args]
    flags = device_flags(spec.backend, spec.device_index)
    if spec.program == "comfyui":
        return [spec.launcher, *flags, *spec.program_args, "--listen", spec.listen,
                "--port", str(spec.effective_port), *spec.extra_args]
    return [spec.launcher, "serve", *flags, *spec.program_args,
            "--host", host_port(spec.listen, spec.effective_port), *spec.extra_args]


def escape_word(word: str) -> str:
    """One ExecStart word, quoted for systemd: `%` and `$` are literal, spaces and quotes survive."""
    text = word.replace("%", "%%").replace("$", "$$")
    if text and _PLAIN.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _environment_line(key: str, value: str, *, literal: bool = True) -> str:
    text = value.replace("%", "%%") if literal else value
    return 'Environment="' + f"{key}={text}".replace("\\", "\\\\").replace('"', '\\"') + '"'


def _path_word(path: str) -> str:
    text = "-" + path.replace("%", "%%")  # "-": a path missing at start is skipped instead of failing the unit
    return f'"{text}"' if any(c.isspace() or c == '"' for c in text) else text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _where(spec: UnitSpec) -> str:
    if spec.backend is Backend.CPU:
        return "CPU"
    what = {Backend.CUDA: "NVIDIA CUDA", Backend.XPU: "Intel XPU"}[spec.backend]
    if spec.device_index is not None:
        what += f" device {spec.device_index}"
    return what


def device_allow(backend: Backend) -> tuple[str, ...]:
    if backend is Backend.CUDA:
        return NVIDIA_DEVICE_ALLOW
    if backend is Backend.XPU:
        return INTEL_DEVICE_ALLOW
    return ()


def render_unit(spec: UnitSpec) -> str:
    """The unit file text. Deterministic: the same spec always gives the same bytes."""
    system = spec.scope == "system"
    name = f" ({_one_line(spec.device_name)})" if spec.device_name else ""
    if spec.program == "llama-server":
        pinned = "its variables below pin it (llama-server itself does not re-check it)"
    else:
        pinned = f"the launcher re-checks it at every start ({' '.join(device_flags(spec.backend, spec.device_index))})"
    lines = [
        MARKER,
        f"# `ipex service remove {spec.program}` deletes this file; `ipex service install {spec.program}` rewrites it.",
        f"# Device decided at install time: {_where(spec)}{name}; {pinned}.",
        "",
        "[Unit]",
        f"Description={_TITLES[spec.program]} on {_where(spec)} (ipex-integration)".replace("%", "%%"),
    ]
    if system:
        lines += ["Wants=network-online.target", "After=network-online.target"]
    lines += [
        "",
        "[Service]",
        "Type=exec",
        "ExecStart=" + " ".join(escape_word(w) for w in exec_argv(spec)),
        "Restart=on-failure",
        "RestartSec=5s",
    ]
    if system and spec.user:
        lines.append(f"User={spec.user}")
    lines += [
        f"StateDirectory={spec.state_name}",
        "StateDirectoryMode=0750",
        f"WorkingDirectory=%S/{spec.state_name}",
    ]
    if system:
        lines.append(f"CacheDirectory={spec.state_name}")
    # Ours first; the user's --env values come after and win.
    lines.append(_environment_line("PYTHONUNBUFFERED", "1"))
    lines.append(_environment_line("SYCL_CACHE_DIR", f"%S/{spec.state_name}/sycl-cache", literal=False))
    if system:
        # The home is read-only in the unit: caches (ours, torch's, Hugging Face's) go to CacheDirectory.
        lines.append(_environment_line("XDG_CACHE_HOME", f"%C/{spec.state_name}", literal=False))
    if spec.ipex_home:
        lines.append(_environment_line("IPEX_INTEGRATION_HOME", spec.ipex_home))
    lines += [_environment_line(k, v) for k, v in sorted(spec.environment.items())]

    lines += [
        "",
        "# Hardening (see docs/nix.md, \"Nix and systemd\")",
        # Seccomp-based and no-new-privileges settings: these work in user managers too.
        "NoNewPrivileges=yes",
        "LockPersonality=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "RestrictNamespaces=yes",
        f"RestrictAddressFamilies={ADDRESS_FAMILIES}",
        "SystemCallArchitectures=native",
        *(f"SystemCallFilter={f}" for f in SYSCALL_FILTER),
        f"SystemCallErrorNumber={SYSCALL_ERROR}",
        # No MemoryDenyWriteExecute: torch (CUDA JIT, Triton), the SYCL runtime and llama.cpp map code they
        # compile at run time.
    ]
    if system:
        lines += [
            "PrivateDevices=no",
            "DevicePolicy=closed",
            *(f"DeviceAllow={d} rw" for d in device_allow(spec.backend)),
        ]
        if spec.backend is not Backend.CPU and spec.groups:
            lines.append("SupplementaryGroups=" + " ".join(spec.groups))
        lines += [
            "ProtectSystem=strict",
            "ProtectHome=read-only",
        ]
        if spec.read_write_paths:
            lines.append("ReadWritePaths=" + " ".join(_path_word(p) for p in spec.read_write_paths))
        lines += [
            "PrivateTmp=yes",
            # CUDA IPC and Level Zero IPC handles pass between processes of this one unit: a private
            # System V / POSIX IPC namespace keeps other services out without breaking them.
            "PrivateIPC=yes",
            # Other users' processes are hidden. No ProcSubset=pid: it would also hide /proc/meminfo and
            # /proc/cpuinfo (ComfyUI and Ollama size their RAM use from them; torch's cpuinfo reads CPU
            # features) and /proc/driver/nvidia (the NVIDIA userspace driver reads its params there), on every
            # backend, so no backend gets it.
            "ProtectProc=invisible",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectKernelLogs=yes",
            "ProtectControlGroups=yes",
            "ProtectClock=yes",
            "ProtectHostname=yes",
            "CapabilityBoundingSet=",
            "UMask=0077",
        ]
    lines += [
        "",
        "[Install]",
        f"WantedBy={'multi-user.target' if system else 'default.target'}",
        "",
    ]
    return "\n".join(lines)


def parse_environment(items: Sequence[str]) -> dict[str, str]:
    """`--env KEY=VALUE` items -> dict (UsageError for a malformed one)."""
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not _KEY.match(key):
            raise UsageError(f"--env {item!r}: expected NAME=VALUE")
        env[key] = value
    return env


def is_managed(text: str) -> bool:
    """Whether a unit file's text carries our marker (as a whole line)."""
    return any(line.strip() == MARKER for line in text.splitlines())
