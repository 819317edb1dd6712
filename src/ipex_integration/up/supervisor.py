"""`ipex up`: run the LLM server (Ollama or llama-server) and ComfyUI side by side, and stop both together.

The LLM server starts first and must answer before ComfyUI starts (so a broken one fails fast, before ComfyUI
spends seconds importing torch). Both run under the supervisor (`proc.Child`: own process group, parent-death
signal); their output is prefixed ("ollama | ", "llama-server | ", "comfyui | ") and kept in log files. Every
port is checked before anything starts. SIGINT/SIGTERM/SIGHUP to us stop both (the same signal is passed on);
when one child exits on its own, the other is stopped and the one that died is named. A ComfyUI that cannot
start is a ComfyUIError, an Ollama one an OllamaError, a llama-server one a LlamaError.

Ollama's `ServerProcess` and llama.cpp's `LlamaServer` are supervised through the same calls: start(),
wait_ready(timeout, cancelled=), poll(), wait(), stop(signum, grace).
"""

from __future__ import annotations

import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..comfyui import launch as comfyui_launch
from ..llama.serve import LlamaServeSpec, LlamaServer
from ..ollama.serve import ServeSpec, ServerProcess, check_port_free
from ..proc import STOP_GRACE_S, Child, ensure_port_free, forward_signals

POLL_S = 0.1


@dataclass
class UpResult:
    exit_code: int
    stopped_by: str  # "signal SIGINT", "ollama exited", "llama-server exited", "comfyui exited"
    codes: dict[str, int | None] = field(default_factory=dict)  # each child's exit code

    @property
    def message(self) -> str:
        codes = ", ".join(f"{name} {'not started' if code is None else f'exit code {code}'}"
                          for name, code in self.codes.items())
        return f"stopped ({self.stopped_by}); {codes}"


@dataclass(frozen=True)
class LlmServer:
    """The LLM server child, whichever engine: what run_up needs to check, start, name and announce it."""

    name: str  # "ollama" | "llama-server": its exit code's key and its output's prefix
    process: Any  # ServerProcess | LlamaServer (both proc.Child with wait_ready)
    url: str
    check_port: Callable[[], None]
    ready_text: Callable[[str], str]  # what wait_ready returned -> the line we say


def llm_server(spec: ServeSpec | LlamaServeSpec, *, sink: Callable[[str], None] | None = None,
               popen: Callable[..., Any] = subprocess.Popen) -> LlmServer:
    if isinstance(spec, LlamaServeSpec):
        from ..llama import LlamaError
        from ..llama.serve import probe_ready

        def check_llama_port() -> None:
            ensure_port_free(spec.host, spec.port, server=spec.kind, error=LlamaError,
                             occupant=lambda: "a llama.cpp server" if probe_ready(spec.url, timeout=1.0) else None)

        return LlmServer(spec.kind, LlamaServer(spec, sink=sink, popen=popen), spec.url, check_llama_port,
                         lambda path: f"{spec.kind} ready at {spec.url} (GET {path} answered)")
    return LlmServer("ollama", ServerProcess(spec, sink=sink, popen=popen), spec.address.url,
                     lambda: check_port_free(spec.address), lambda version: f"ollama {version} ready at {spec.address.url}")


def run_up(
    llm_spec: ServeSpec | LlamaServeSpec,
    comfyui_spec: Any,  # comfyui.launch.LaunchSpec
    *,
    comfyui_log: Path,
    ready_timeout: float,
    say: Callable[[str], None] = lambda _text: None,
    llm_sink: Callable[[str], None] | None = None,
    comfyui_sink: Callable[[str], None] | None = None,
    popen: Callable[..., Any] = subprocess.Popen,
    grace: float = STOP_GRACE_S,
) -> UpResult:
    """Start both, wait until one stops or we are told to stop, stop the other; the result says which.
    `llm_spec`: Ollama's ServeSpec or llama.cpp's LlamaServeSpec."""
    llm = llm_server(llm_spec, sink=llm_sink, popen=popen)
    llm.check_port()
    comfyui_launch.check_port_free(comfyui_spec)
    requested: list[int] = []
    wake = threading.Event()

    def on_signal(signum: int) -> None:
        requested.append(signum)
        wake.set()

    server = llm.process
    comfy: Child = comfyui_launch.child(comfyui_spec, log_path=comfyui_log, sink=comfyui_sink, popen=popen)
    codes: dict[str, int | None] = {llm.name: None, "comfyui": None}
    with forward_signals(on_signal):
        try:
            server.start()
            answer = server.wait_ready(ready_timeout, cancelled=lambda: bool(requested))
            if answer is None:  # told to stop while the LLM server was starting
                codes[llm.name] = server.stop(requested[0], grace)
                return UpResult(0, f"signal {_name(requested[0])}", codes)
            say(llm.ready_text(answer))
            comfy.start()
            say(f"comfyui starting on port {comfyui_spec.port} (pid {comfy.pid})")
            while True:
                if requested:
                    signum = requested[0]
                    say(f"{_name(signum)}: stopping comfyui and {llm.name}")
                    codes["comfyui"] = comfy.stop(signum, grace)
                    codes[llm.name] = server.stop(signum, grace)
                    return UpResult(0, f"signal {_name(signum)}", codes)
                for name, child, other_name, other in ((llm.name, server, "comfyui", comfy),
                                                       ("comfyui", comfy, llm.name, server)):
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
            server.stop(signal.SIGTERM, grace)


def _name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
