"""Where ComfyUI's custom_nodes directory is, and which Python environments run ComfyUI."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping

from ..runtime.model import Environment


def comfyui_dir(explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """ComfyUI's checkout, found as every command finds it (comfyui.checkout.find_checkout): `--comfyui DIR`,
    $COMFYUI_PATH, the checkout `ipex comfyui install|use` registered, data_dir()/ComfyUI. Raises an IpexError."""
    from ..comfyui.checkout import find_checkout

    return find_checkout(explicit, environ=environ).path


def custom_nodes_dir(explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Path:
    path = comfyui_dir(explicit, environ) / "custom_nodes"
    path.mkdir(exist_ok=True)
    return path


def comfyui_environments(environ: Mapping[str, str] | None = None) -> list[Environment]:
    """The backend environments that run ComfyUI: every registered one (cuda, xpu, cpu); with none registered,
    the interpreter running `ipex` (pip users run ComfyUI from the same environment)."""
    try:
        from ..runtime.registry import load_registry
    except ImportError:  # the registry module is optional until `ipex env` exists
        registered: list[Environment] = []
    else:
        registered = [e for e in load_registry(environ).environments(include_current=False) if e.registered]
    return registered or [Environment("current", sys.executable, None, registered=False)]
