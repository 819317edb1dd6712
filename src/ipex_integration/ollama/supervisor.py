"""`ipex up`: run Ollama and ComfyUI side by side, and stop both together.

Ollama starts first and must answer before ComfyUI starts (so a broken Ollama fails fast, before ComfyUI spends
seconds importing torch). Each child has its own process group; their output is prefixed ("ollama | ",
"comfyui | ") and kept in log files. SIGINT/SIGTERM/SIGHUP to us stop both (the same signal is passed on);
when one child exits on its own, the other is stopped and the one that died is named.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import OllamaError
from .serve import (
    STOP_GRACE_S,
    LogPump,
    ServeSpec,
    ServerProcess,
    ensure_port_free,
    exit_code,
    install_handlers,
    restore_handlers,
)

POLL_S = 0.1


@dataclass
class UpResult:
    exit_code: int
    stopped_by: str  # "signal SIGINT", "ollama exited", "comfyui exited"
    codes: dict[str, int | None] = field(default_factory=dict)  # each child's exit code

    @property
    def message(self) -> str:
        codes = ", ".join(f"{name} {'not started' if code is None else f'exit code {code}'}"
                          for name, code in self.codes.items())
        return f"stopped ({self.stopped_by}); {codes}"


class _Child:
    """ComfyUI as a supervised child (Ollama uses serve.ServerProcess)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: str, log_path: Path,
                 sink: Callable[[str], None] | None, popen: Callable[..., Any]) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.proc = popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, process_group=0)
        except FileNotFoundError:
            raise OllamaError(f"cannot start {name}: {argv[0]} does not exist",
                              hint="`ipex env list` shows the registered environments") from None
        self.pump = LogPump(self.proc.stdout, str(log_path), sink)
        self.name = name

    def poll(self) -> int | None:
        code = self.proc.poll()
        return None if code is None else exit_code(code)

    def send_signal(self, signum: int) -> None:
        import os

        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self, signum: int = signal.SIGTERM, grace: float = STOP_GRACE_S) -> int:
        self.send_signal(signum)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.send_signal(signal.SIGKILL)
        code = exit_code(self.proc.wait())
        self.pump.join()
        return code


def run_up(
    ollama_spec: ServeSpec,
    comfyui_spec: Any,  # comfyui.launch.LaunchSpec
    *,
    comfyui_log: Path,
    ready_timeout: float,
    say: Callable[[str], None] = lambda _text: None,
    ollama_sink: Callable[[str], None] | None = None,
    comfyui_sink: Callable[[str], None] | None = None,
    popen: Callable[..., Any] = subprocess.Popen,
    grace: float = STOP_GRACE_S,
) -> UpResult:
    """Start both, wait until one stops or we are told to stop, stop the other; the result says which."""
    from ..comfyui.launch import ensure_port_free as comfyui_port_free

    ensure_port_free(ollama_spec.address)
    comfyui_port_free(comfyui_spec.listen, comfyui_spec.port)
    requested: list[int] = []
    wake = threading.Event()

    def on_signal(signum, _frame) -> None:
        requested.append(signum)
        wake.set()

    previous = install_handlers(on_signal)
    ollama = ServerProcess(ollama_spec, sink=ollama_sink, popen=popen)
    comfy: _Child | None = None
    codes: dict[str, int | None] = {"ollama": None, "comfyui": None}
    try:
        ollama.start()
        version = ollama.wait_ready(ready_timeout, cancelled=lambda: bool(requested))
        if version is None:  # told to stop while Ollama was starting
            codes["ollama"] = ollama.stop(grace)
            return UpResult(0, f"signal {_name(requested[0])}", codes)
        say(f"ollama {version} ready at {ollama_spec.address.url}")
        comfy = _Child("comfyui", list(comfyui_spec.argv), dict(comfyui_spec.env), comfyui_spec.cwd, comfyui_log,
                       comfyui_sink, popen)
        say(f"comfyui starting on port {comfyui_spec.port} (pid {comfy.proc.pid})")
        while True:
            if requested:
                signum = requested[0]
                say(f"{_name(signum)}: stopping comfyui and ollama")
                codes["comfyui"] = comfy.stop(signum, grace)
                codes["ollama"] = _stop_server(ollama, signum, grace)
                return UpResult(0, f"signal {_name(signum)}", codes)
            for name, poll in (("ollama", ollama.poll), ("comfyui", comfy.poll)):
                code = poll()
                if code is not None:
                    other = "comfyui" if name == "ollama" else "ollama"
                    say(f"{name} exited with code {code}; stopping {other}")
                    codes[name] = code
                    if other == "comfyui":
                        codes["comfyui"] = comfy.stop(signal.SIGTERM, grace)
                        ollama.wait()
                    else:
                        codes["ollama"] = _stop_server(ollama, signal.SIGTERM, grace)
                        comfy.pump.join()
                    return UpResult(code or 1, f"{name} exited", codes)
            wake.wait(POLL_S)
    except BaseException:
        if comfy is not None and comfy.poll() is None:
            comfy.stop(signal.SIGTERM, grace)
        if ollama.proc is not None and ollama.poll() is None:
            ollama.stop(grace)
        raise
    finally:
        restore_handlers(previous)


def _stop_server(server: ServerProcess, signum: int, grace: float) -> int | None:
    if server.proc is None:
        return None
    if server.poll() is None:
        server.send_signal(signum)
        try:
            server.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            server.send_signal(signal.SIGKILL)
    return server.wait()


def _name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
