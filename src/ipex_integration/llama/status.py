"""The llama.cpp section of `ipex status`: the llama-server binary and its build (can it drive the selected
device?), and whether a llama.cpp server answers at $LLAMA_SERVER_URL (default 127.0.0.1:8080)."""

from __future__ import annotations

from typing import Any

from ..runtime.model import Backend
from ..status.model import Check, Level
from . import LlamaError
from .binary import INSTALL_HINT, find_llama_server, identify_build
from .serve import probe_ready, served_models

SECTION = "llama.cpp"
URL_ENV = "LLAMA_SERVER_URL"
DEFAULT_URL = "http://127.0.0.1:8080"
PROBE_TIMEOUT_S = 1.5


def checks(ctx: Any) -> list[Check]:
    environ = dict(ctx.environ or {})
    rows = _binary_rows(ctx, environ)
    url = (environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
    if probe_ready(url, timeout=PROBE_TIMEOUT_S) is None:
        rows.append(Check(SECTION, "server", Level.MISSING, f"no llama.cpp server answers at {url}",
                          fix="ollama-ipex serve --engine llama-server --model FILE.gguf (GPU flags pick the device)"))
    else:
        models = served_models(url, timeout=PROBE_TIMEOUT_S)
        rows.append(Check(SECTION, "server", Level.OK, f"answers at {url}; models: {', '.join(models) or 'none listed'}"))
    return rows


def _binary_rows(ctx: Any, environ: dict) -> list[Check]:
    try:
        path, found_by = find_llama_server(None, environ=environ)
    except LlamaError as exc:
        return [Check(SECTION, "llama-server", Level.MISSING, exc.message, fix=INSTALL_HINT)]
    rows = [Check(SECTION, "llama-server", Level.OK, f"{path} ({found_by})")]
    try:
        build = identify_build(path, found_by, runner=ctx.runner, environ=environ)
    except LlamaError as exc:
        return rows + [Check(SECTION, "build", Level.ERROR, exc.message, fix=exc.hint)]
    rows.append(Check(SECTION, "build", Level.OK, f"{build.label}; backends: {', '.join(build.backends)}"))
    plan = ctx.plan
    if plan is not None and plan.backend is Backend.XPU and build.intel_path is None:
        rows.append(Check(SECTION, "Intel GPU", Level.WARNING, "this build has no SYCL or Vulkan backend",
                          fix=INSTALL_HINT))
    elif plan is not None and plan.backend is Backend.CUDA and not build.has("cuda"):
        rows.append(Check(SECTION, "NVIDIA GPU", Level.WARNING, "this build has no CUDA backend", fix=INSTALL_HINT))
    return rows
