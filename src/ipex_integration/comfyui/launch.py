"""DevicePlan -> LaunchSpec (argv, env, cwd) -> a running ComfyUI child whose exit code becomes ours.

The child is the backend environment's interpreter running bootstrap.py (by path: that environment may not
have our package). It runs under the supervisor (`proc.Child`): its own process group, the parent-death signal, and
SIGINT/SIGTERM/SIGHUP sent to us forwarded to that group, so a terminal's Ctrl-C reaches ComfyUI exactly once,
and so does `kill <our pid>` from a service manager. A port that is already taken is reported before ComfyUI
spends seconds importing torch.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..plan.model import DevicePlan
from ..proc import Child, SignalRelay, ensure_port_free, forward_signals
from . import ComfyUIError
from .checkout import Checkout
from .flags import FlagSet, read_flag_set, translate

BOOTSTRAP = Path(__file__).resolve().with_name("bootstrap.py")


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


def check_port_free(spec: LaunchSpec) -> None:
    """ComfyUIError when something already listens where ComfyUI would."""
    ensure_port_free(spec.listen, spec.port, server="ComfyUI", error=ComfyUIError,
                     hint=f"pass --port N for another port, or stop what listens there (ss -ltnp 'sport = :{spec.port}')")


def child(spec: LaunchSpec, *, log_path: str | Path | None = None, sink: Callable[[str], None] | None = None,
          popen: Callable[..., Any] = subprocess.Popen, stdout: Any = None, stderr: Any = None) -> Child:
    """The supervised ComfyUI child for `spec` (not started)."""
    return Child("ComfyUI", spec.argv, env=spec.env, cwd=spec.cwd, log_path=log_path, sink=sink,
                 error=ComfyUIError, popen=popen, stdout=stdout, stderr=stderr,
                 missing_hint="`ipex env list` shows the registered environments; "
                 "`ipex env create BACKEND` makes one")


def run(
    spec: LaunchSpec,
    *,
    check_port: bool = True,
    popen: Callable[..., Any] = subprocess.Popen,
    stdout: Any = None,
    stderr: Any = None,
    on_start: Callable[[Any], None] | None = None,
) -> int:
    """Start ComfyUI, forward SIGINT/SIGTERM/SIGHUP to it, wait for it, and return its exit code."""
    if check_port:
        check_port_free(spec)
    comfy = child(spec, popen=popen, stdout=stdout, stderr=stderr)
    relay = SignalRelay(comfy)
    with forward_signals(relay):
        comfy.start()
        try:
            relay.started()
            if on_start is not None:
                on_start(comfy.proc)
            return comfy.wait()
        except BaseException:
            comfy.stop()
            raise
