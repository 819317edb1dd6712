"""DevicePlan -> LaunchSpec (argv, env, cwd) -> a running ComfyUI child whose exit code becomes ours.

The child is the backend environment's interpreter running bootstrap.py (by path: that environment may not
have our package). It gets its own process group, and SIGINT/SIGTERM/SIGHUP sent to us are forwarded to that
group: a terminal's Ctrl-C then reaches ComfyUI exactly once, and so does `kill <our pid>` from a service
manager. A port that is already taken is reported before ComfyUI spends seconds importing torch.
"""

from __future__ import annotations

import errno
import os
import shlex
import signal
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..plan.model import DevicePlan
from . import ComfyUIError
from .checkout import Checkout
from .flags import FlagSet, read_flag_set, translate

BOOTSTRAP = Path(__file__).resolve().with_name("bootstrap.py")
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start ComfyUI; printable (`--dry-run`)."""

    argv: tuple[str, ...]
    env: Mapping[str, str]  # the child's complete environment
    cwd: str
    listen: str  # what ComfyUI will listen on (ours or the user's --listen)
    port: int
    comfyui_argv: tuple[str, ...]  # ComfyUI's own arguments (after the bootstrap's `--`)
    notes: tuple[str, ...] = field(default_factory=tuple)  # how device flags were translated

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def to_dict(self) -> dict:
        return {
            "argv": list(self.argv),
            "command": self.command,
            "cwd": self.cwd,
            "listen": self.listen,
            "port": self.port,
            "comfyui_argv": list(self.comfyui_argv),
            "notes": list(self.notes),
        }


def build_launch_spec(
    plan: DevicePlan,
    checkout: Checkout,
    passthrough: Sequence[str],
    *,
    base_env: Mapping[str, str] | None = None,
    disable_ipex: bool = False,
    flag_set: FlagSet | None = None,
    prog: str = "comfyui-ipex",
    environ: Mapping[str, str] | None = None,
) -> LaunchSpec:
    """The child's argv, environment and folder for `plan`; UsageError for flags this ComfyUI lacks."""
    if flag_set is None:
        flag_set = read_flag_set(checkout.path, version=checkout.version, environ=environ)
    translation = translate(plan, flag_set, passthrough, version_label=checkout.label)
    argv = [plan.python, str(BOOTSTRAP), "--comfyui", str(checkout.path), "--backend", plan.backend.value]
    if disable_ipex:
        argv.append("--disable-ipex")
    argv += ["--prog", prog, "--", *translation.argv]
    env = plan.child_env(os.environ if base_env is None else base_env)
    return LaunchSpec(
        argv=tuple(argv),
        env=env,
        cwd=str(checkout.path),
        listen=translation.listen,
        port=translation.port,
        comfyui_argv=translation.argv,
        notes=translation.notes,
    )


def ensure_port_free(listen: str, port: int) -> None:
    """ComfyUIError when something already listens on `port` at one of ComfyUI's addresses."""
    if port == 0:
        return  # the OS picks a free one
    for host in (h.strip() for h in listen.split(",")):
        if not host:
            continue
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As aiohttp does: a port in TIME_WAIT is free for a server; only a listener makes bind fail.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise ComfyUIError(
                        f"port {port} on {host} is already in use, so ComfyUI could not start",
                        hint=f"pass --port N for another port, or stop what listens there (ss -ltnp 'sport = :{port}')",
                    ) from None
                if exc.errno == errno.EADDRNOTAVAIL:
                    raise ComfyUIError(
                        f"cannot listen on {host}: no such address on this machine",
                        hint="pass --listen with an address of this machine (127.0.0.1 for local use only)",
                    ) from None
                # Anything else (privileged port, ...) is ComfyUI's to report.


def exit_code(returncode: int) -> int:
    """A child killed by signal N exits like a shell reports it: 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def run(
    spec: LaunchSpec,
    *,
    check_port: bool = True,
    popen: Callable[..., Any] = subprocess.Popen,
    stdout: Any = None,
    stderr: Any = None,
    on_start: Callable[[Any], None] | None = None,
) -> int:
    """Start the child, forward signals to it, wait for it, and return its exit code."""
    if check_port:
        ensure_port_free(spec.listen, spec.port)
    child: list[Any] = []
    pending: list[int] = []

    def forward(signum, _frame) -> None:
        if not child:
            pending.append(signum)  # arrived before the child existed: deliver right after it starts
            return
        try:
            os.killpg(child[0].pid, signum)
        except (ProcessLookupError, PermissionError):
            pass  # already gone; wait() will reap it

    previous = _install(forward)
    try:
        try:
            proc = popen(list(spec.argv), env=dict(spec.env), cwd=spec.cwd, process_group=0,
                         stdout=stdout, stderr=stderr)
        except FileNotFoundError:
            raise ComfyUIError(
                f"interpreter {spec.argv[0]} does not exist",
                hint="`ipex env list` shows the registered environments; `ipex env create BACKEND` makes one",
            ) from None
        child.append(proc)
        for signum in pending:
            forward(signum, None)
        if on_start is not None:
            on_start(proc)
        return exit_code(proc.wait())
    finally:
        _restore(previous)


def _install(handler) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}  # signal handlers can only be set from the main thread; a library caller handles its own
    return {signum: signal.signal(signum, handler) for signum in FORWARDED_SIGNALS}


def _restore(previous: Mapping[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
