"""Request -> llama-server on the planned device: find and identify the binary, plan (no torch needed: llama.cpp
brings its own GPU runtime), build the variables and the command; then serve it in the foreground."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from ..hardware.model import HardwareReport
from ..plan.model import DevicePlan, DeviceRequest
from ..proc import Runner, SignalRelay, forward_signals, run_command
from ..runtime.model import Backend
from . import LlamaError
from .binary import LlamaServerBuild, find_and_identify
from .env import DEFAULT_PORT, LlamaEnv, build_spec, llama_environment
from .serve import READY_TIMEOUT_S, LlamaServeSpec, LlamaServer


@dataclass(frozen=True)
class LlamaLaunch:
    build: LlamaServerBuild
    plan: DevicePlan
    server: LlamaEnv
    spec: LlamaServeSpec

    @property
    def where(self) -> str:
        text = self.plan.backend.value.upper()
        if self.plan.device_index is not None:
            text += f" device {self.plan.device_index}"
        if self.plan.device_name:
            text += f" ({self.plan.device_name})"
        return f"{text} via {self.server.path}"

    def to_dict(self) -> dict:
        return {"engine": "llama-server", "llama_server": self.build.to_dict(), "plan": self.plan.to_dict(),
                "where": self.where, "env_kept": dict(self.server.kept), "warnings": list(self.server.warnings),
                "serve": self.spec.to_dict()}

    def to_text(self) -> str:
        b = self.build
        lines = [f"llama-server: {b.path} ({b.label}; found by {b.found_by})", f"device:      {self.where}"]
        lines += self.spec.to_text().splitlines()
        lines += [f"kept:        {k}={v} (set by you)" for k, v in sorted(self.server.kept.items())]
        lines += [f"warning:     {w}" for w in self.server.warnings]
        return "\n".join(lines)


def prepare_llama_launch(request: DeviceRequest, *, model: str | None, environ: Mapping[str, str] | None = None,
                         binary: str | None = None, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                         hardware: HardwareReport | None = None, runner: Runner = run_command,
                         build: LlamaServerBuild | None = None, log_path: str | None = None) -> LlamaLaunch:
    """Everything needed to start llama-server; nothing is started."""
    from ..ollama.launch import probe, resolve_ollama_plan
    from ..ollama.vulkan import list_vulkan_devices

    environ = os.environ if environ is None else environ
    if not model:
        raise LlamaError("llama-server needs a model file", hint="pass --model PATH.gguf")
    if not Path(model).is_file():
        raise LlamaError(f"--model {model}: no such file", hint="pass the path of a .gguf file")
    if build is None:
        build = find_and_identify(binary, environ=environ, runner=runner)
    if hardware is None:
        hardware = probe(runner=runner)
    plan = resolve_ollama_plan(request, environ=environ, hardware=hardware)  # the same torch-free policy
    vulkan = None
    if plan.backend is Backend.XPU and build.intel_path == "vulkan" and "GGML_VK_VISIBLE_DEVICES" not in environ:
        vulkan = list_vulkan_devices(runner, dict(environ))
    server = llama_environment(plan, build, environ=environ, hardware=hardware, vulkan_devices=vulkan)
    spec = build_spec(build, server, model=model, host=host, port=port, base_env=environ, log_path=log_path)
    return LlamaLaunch(build, plan, server, spec)


def serve_llama(spec: LlamaServeSpec, *, timeout: float = READY_TIMEOUT_S,
                on_ready: Callable[[str], None] | None = None, sink: Callable[[str], None] | None = None) -> int:
    """Run the server in the foreground: start, wait until ready, then until it exits; its exit code.
    SIGINT/SIGTERM/SIGHUP go to its process group once; leaving by an exception stops it."""
    server = LlamaServer(spec, sink=sink)
    relay = SignalRelay(server)
    with forward_signals(relay):
        try:
            server.start()
            relay.started()
            path = server.wait_ready(timeout)
            if on_ready is not None:
                on_ready(path)
            return server.wait()
        except BaseException:
            server.stop()
            raise
