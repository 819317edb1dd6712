"""A REAL ComfyUI started by our launcher, answering GET /system_stats on the device the plan chose.

Runs only when COMFYUI_PATH points at a ComfyUI checkout (skipped otherwise). COMFYUI_PYTHON names the
interpreter that has ComfyUI's requirements (default: the one running the tests); it is registered as the
environment of COMFYUI_BACKEND (cpu by default; cuda on an NVIDIA machine, xpu on an Intel one). COMFYUI_ARGS
adds ComfyUI flags, e.g. `--front-end-root /abs/dir` where comfyui-frontend-package is not installed (a relative
path would be read from the checkout, ComfyUI's working directory). Example:

    COMFYUI_PATH=/tmp/comfyui-0.3.47 COMFYUI_PYTHON=/tmp/comfyui-venv/bin/python \
        python -m pytest tests/comfyui/test_real_comfyui.py -q -s
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

# Read at import: the autouse fixture removes COMFYUI_PATH from each test's environment.
REAL_COMFYUI = os.environ.get("COMFYUI_PATH")
COMFYUI_PYTHON = os.environ.get("COMFYUI_PYTHON", sys.executable)
BACKEND = os.environ.get("COMFYUI_BACKEND", "cpu")
EXTRA_ARGS = shlex.split(os.environ.get("COMFYUI_ARGS", ""))
START_TIMEOUT_S = 300.0  # first start on 2 cores: ~10 s warm, much more with cold caches

pytestmark = [
    pytest.mark.comfyui,
    pytest.mark.slow,
    pytest.mark.skipif(not REAL_COMFYUI, reason="set COMFYUI_PATH to a ComfyUI checkout to run this"),
]

LAUNCHERS = {"cpu": ("comfyui-ipex", ["--cpu"]), "cuda": ("comfyui-cuda", []), "xpu": ("comfyui-xpu", [])}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launcher_argv(prog: str) -> list[str]:
    script = Path(sys.executable).with_name(prog)
    if script.exists():
        return [str(script)]
    entry = {"comfyui-ipex": "main_auto", "comfyui-cuda": "main_cuda", "comfyui-xpu": "main_xpu"}[prog]
    return [sys.executable, "-c", f"import sys; from ipex_integration.cli.comfyui import {entry}; sys.exit({entry}())"]


def _system_stats(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/system_stats", timeout=5) as response:
            return json.load(response)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def test_real_comfyui_answers_on_the_planned_device(tmp_path):
    from ipex_integration.runtime.model import Backend
    from ipex_integration.runtime.registry import load_registry

    registry = load_registry()
    registry.add(Backend(BACKEND), COMFYUI_PYTHON)
    registry.save()
    prog, flags = LAUNCHERS[BACKEND]
    port = _free_port()
    argv = _launcher_argv(prog) + ["--comfyui", REAL_COMFYUI, *flags, *EXTRA_ARGS, "--port", str(port)]

    dry = subprocess.run(argv + ["--dry-run", "--json"], capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)["plan"]
    assert (plan["backend"], plan["python"]) == (BACKEND, COMFYUI_PYTHON)

    log = tmp_path / "comfyui.log"
    started = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        stats = None
        while stats is None and time.monotonic() - started < START_TIMEOUT_S and proc.poll() is None:
            time.sleep(0.25)
            stats = _system_stats(port)
        elapsed = time.monotonic() - started
        assert stats is not None, f"no /system_stats (exit {proc.poll()}); log:\n{log.read_text()[-4000:]}"
        print(f"\n{prog}: /system_stats answered after {elapsed:.1f} s: devices={stats['devices']}")
        assert stats["devices"][0]["type"] == BACKEND
        proc.send_signal(signal.SIGINT)  # Ctrl-C: ComfyUI stops its server and exits
        assert proc.wait(timeout=60) == 0, log.read_text()[-4000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Stopped server" in log.read_text()
