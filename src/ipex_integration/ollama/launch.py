"""Request -> everything needed to start `ollama serve` there: the build, the plan, the variables, the command.

Ollama brings its own GPU runtime, so its plan needs no torch environment (`needs_torch=False`): the policy
only checks that the GPU exists, and no Python environment is probed (that would start interpreters for
nothing). The hardware report is probed once here (or passed in) and also maps Intel GPUs to Vulkan indices.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from ..hardware.model import HardwareReport
from ..plan.model import DevicePlan, DeviceRequest
from ..proc import Runner, run_command
from ..runtime.model import Backend, Environment, RuntimeInfo
from .binary import OllamaBuild, find_and_identify
from .env import OllamaEnv, ollama_environment
from .serve import ServeSpec, build_serve_spec
from .vulkan import list_vulkan_devices


@dataclass(frozen=True)
class OllamaLaunch:
    build: OllamaBuild
    plan: DevicePlan
    server: OllamaEnv
    spec: ServeSpec

    def to_dict(self) -> dict:
        return {"ollama": self.build.to_dict(), "plan": self.plan.to_dict(), "server": self.server.to_dict(),
                "serve": self.spec.to_dict()}

    def to_text(self) -> str:
        b = self.build
        lines = [f"ollama:      {b.path} ({b.label}; found by {b.found_by})"]
        lines += self.server.to_text().splitlines()
        lines.append(f"url:         {self.spec.address.url}")
        lines.append(f"log:         {self.spec.log_path}")
        lines.append(f"command:     {' '.join(self.spec.argv)}")
        return "\n".join(lines)


def ollama_request(request: DeviceRequest) -> DeviceRequest:
    return dataclasses.replace(request, needs_torch=False)


def resolve_ollama_plan(
    request: DeviceRequest,
    *,
    environ: Mapping[str, str],
    hardware: HardwareReport,
) -> DevicePlan:
    """The plan for Ollama: the real policy, with the current interpreter standing in as the (unused)
    environment, reported as probed so that nothing is probed."""
    from ..plan.resolve import resolve_plan

    current = Environment("current", sys.executable, None, registered=False)
    info = RuntimeInfo(python=sys.executable, ok=True)
    return resolve_plan(ollama_request(request), environ=environ, hardware=hardware,
                        environments=[(current, info)])


def probe(root: str = "/", runner: Runner = run_command, nvml: Any | None | Literal["auto"] = "auto") -> HardwareReport:
    from ..hardware.probe import probe_hardware

    return probe_hardware(root=root, runner=runner, nvml=nvml)


def prepare_launch(
    request: DeviceRequest,
    *,
    environ: Mapping[str, str] | None = None,
    ollama_bin: str | None = None,
    host: str | None = None,
    hardware: HardwareReport | None = None,
    runner: Runner = run_command,
    log_path: str | None = None,
    build: OllamaBuild | None = None,
) -> OllamaLaunch:
    """Find and identify ollama, plan the device, build its variables and command. Nothing is started."""
    environ = os.environ if environ is None else environ
    from .serve import parse_host

    parse_host(host if host is not None else environ.get("OLLAMA_HOST"))  # bad input before any slow lookup
    if build is None:
        build = find_and_identify(ollama_bin, environ=environ, runner=runner)
    if hardware is None:
        hardware = probe(runner=runner)
    plan = resolve_ollama_plan(request, environ=environ, hardware=hardware)
    vulkan = None
    if plan.backend is Backend.XPU and build.intel_path == "vulkan" and "GGML_VK_VISIBLE_DEVICES" not in environ:
        vulkan = list_vulkan_devices(runner, dict(environ))
    server = ollama_environment(plan, build, environ=environ, host=host, hardware=hardware, vulkan_devices=vulkan)
    spec = build_serve_spec(build, server, base_env=environ, log_path=log_path)
    return OllamaLaunch(build, plan, server, spec)
