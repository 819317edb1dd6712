"""`ipex up`: run Ollama and ComfyUI side by side, and stop both together.

Ollama starts first and must answer before ComfyUI starts (so a broken Ollama fails fast, before ComfyUI spends
seconds importing torch). Both run under the supervisor (`proc.Child`: own process group, parent-death signal);
their output is prefixed ("ollama | ", "comfyui | ") and kept in log files. SIGINT/SIGTERM/SIGHUP to us stop both
(the same signal is passed on); when one child exits on its own, the other is stopped and the one that died is
named. A ComfyUI that cannot start is a ComfyUIError, an Ollama one an OllamaError.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..comfyui import launch as comfyui_launch
from ..ollama.serve import ServeSpec, ServerProcess, check_port_free
from ..proc import STOP_GRACE_S, Child, forward_signals

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
    check_port_free(ollama_spec.address)
    comfyui_launch.check_port_free(comfyui_spec)
    requested: list[int] = []
    wake = threading.Event()

    def on_signal(signum: int) -> None:
        requested.append(signum)
        wake.set()

    ollama = ServerProcess(ollama_spec, sink=ollama_sink, popen=popen)
    comfy: Child = comfyui_launch.child(comfyui_spec, log_path=comfyui_log, sink=comfyui_sink, popen=popen)
    codes: dict[str, int | None] = {"ollama": None, "comfyui": None}
    with forward_signals(on_signal):
        try:
            ollama.start()
            version = ollama.wait_ready(ready_timeout, cancelled=lambda: bool(requested))
            if version is None:  # told to stop while Ollama was starting
                codes["ollama"] = ollama.stop(requested[0], grace)
                return UpResult(0, f"signal {_name(requested[0])}", codes)
            say(f"ollama {version} ready at {ollama_spec.address.url}")
            comfy.start()
            say(f"comfyui starting on port {comfyui_spec.port} (pid {comfy.pid})")
            while True:
                if requested:
                    signum = requested[0]
                    say(f"{_name(signum)}: stopping comfyui and ollama")
                    codes["comfyui"] = comfy.stop(signum, grace)
                    codes["ollama"] = ollama.stop(signum, grace)
                    return UpResult(0, f"signal {_name(signum)}", codes)
                for name, child, other_name, other in (("ollama", ollama, "comfyui", comfy),
                                                       ("comfyui", comfy, "ollama", ollama)):
                    code = child.poll()
                    if code is not None:
                        say(f"{name} exited with code {code}; stopping {other_name}")
                        codes[name] = child.wait()
                        codes[other_name] = other.stop(signal.SIGTERM, grace)
                        return UpResult(code or 1, f"{name} exited", codes)
                wake.wait(POLL_S)
        finally:
            # Whatever ends us here (an error, Ctrl-C, Interrupted): neither child outlives the supervisor.
            comfy.stop(signal.SIGTERM, grace)
            ollama.stop(signal.SIGTERM, grace)


def _name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
