"""The Ollama section of `ipex status`: the binary, its build (and whether it can drive the selected device),
whether a server answers at OLLAMA_HOST, and which device that server reports using (/api/ps, and the
`inference compute` lines of the log `ollama-ipex serve` keeps)."""

from __future__ import annotations

import json
import urllib.error
from typing import Any

from ..errors import IpexError
from ..runtime.model import Backend
from ..status.model import Check, Level
from . import OllamaError
from .binary import INSTALL_HINT, find_binary, identify_build
from .logs import inference_devices
from .serve import _NO_PROXY, default_log_path, parse_host, server_version

SECTION = "Ollama"
PROBE_TIMEOUT_S = 1.5


def checks(ctx: Any) -> list[Check]:
    """Rows for `ipex status` (ctx: status.context.StatusContext)."""
    environ = dict(ctx.environ or {})
    rows = _binary_rows(ctx, environ)
    rows += _server_rows(environ)
    return rows


def _binary_rows(ctx: Any, environ: dict) -> list[Check]:
    try:
        path, found_by = find_binary(environ=environ)
    except OllamaError as exc:
        missing = exc.message.startswith("ollama not found")
        return [Check(SECTION, "binary", Level.MISSING if missing else Level.ERROR, exc.message, fix=exc.hint)]
    except IpexError as exc:  # a corrupt config file
        return [Check(SECTION, "binary", Level.ERROR, exc.message, fix=exc.hint)]
    rows = [Check(SECTION, "binary", Level.OK, f"{path} ({found_by})")]
    try:
        build = identify_build(path, found_by=found_by, runner=ctx.runner, environ=environ)
    except OllamaError as exc:
        return rows + [Check(SECTION, "build", Level.ERROR, exc.message, fix=exc.hint)]
    rows.append(Check(SECTION, "build", Level.OK, build.label + (f", libraries in {build.lib_dir}" if build.lib_dir else "")))
    plan = ctx.plan
    if plan is not None and plan.backend is Backend.XPU and build.intel_path is None:
        rows.append(Check(SECTION, "Intel GPU", Level.WARNING,
                          "this build has no Vulkan or SYCL backend: `ollama-ipex serve` cannot use the Intel GPU",
                          fix=INSTALL_HINT))
    elif plan is not None and plan.backend is Backend.CUDA and build.can_cuda is False:
        rows.append(Check(SECTION, "NVIDIA GPU", Level.WARNING,
                          "this build has no CUDA backend: `ollama-ipex serve` cannot use the NVIDIA GPU",
                          fix="install the ollama.com build (lib/ollama/cuda_v12, cuda_v13)"))
    return rows


def _server_rows(environ: dict) -> list[Check]:
    try:
        address = parse_host(environ.get("OLLAMA_HOST"))
    except IpexError as exc:
        return [Check(SECTION, "server", Level.ERROR, f"OLLAMA_HOST: {exc.message}", fix=exc.hint)]
    version = server_version(address.url, timeout=PROBE_TIMEOUT_S)
    if version is None:
        return [Check(SECTION, "server", Level.MISSING, f"no server answers at {address.url}",
                      fix="ollama-ipex serve (add --cuda / --force-intel-xpu / --cpu to pick the device)")]
    rows = [Check(SECTION, "server", Level.OK, f"answers at {address.url} (version {version})")]
    rows.append(_device_row(address, environ))
    return rows


def _device_row(address, environ: dict) -> Check:
    loaded = _running(address.url)
    logged = inference_devices(default_log_path(address, environ))
    source = ""
    if logged:
        library, description = logged[0]
        source = f"; its log reports {library} {description}"
    if loaded:
        parts = []
        for m in loaded:
            size, vram = int(m.get("size") or 0), int(m.get("size_vram") or 0)
            share = vram / size if size else 0.0
            where = "100% GPU" if share >= 0.995 else "100% CPU" if share <= 0.005 else f"{share * 100:.0f}% GPU"
            parts.append(f"{m.get('name') or m.get('model')}: {where}")
        return Check(SECTION, "device in use", Level.OK, "; ".join(parts) + source)
    if logged:
        return Check(SECTION, "device in use", Level.OK, f"no model loaded{source}")
    return Check(SECTION, "device in use", Level.OK,
                 "no model loaded, and the server was not started by ollama-ipex: unknown until a model loads "
                 "(`ollama ps` then shows it)")


def _running(url: str) -> list[dict]:
    try:
        with _NO_PROXY.open(f"{url}/api/ps", timeout=PROBE_TIMEOUT_S) as response:
            data = json.loads(response.read().decode("utf-8", "replace"))
    except (OSError, ValueError, urllib.error.URLError):
        return []
    models = data.get("models") if isinstance(data, dict) else None
    return [m for m in models or [] if isinstance(m, dict)]
