"""`ipex-benchmark comfyui` against a REAL ComfyUI on the CPU: the tiny random-weight checkpoint (written by
our module, loaded by ComfyUI's CheckpointLoaderSimple), 64x64, 2 steps, ours and stock `main.py` alternating.

Runs only when COMFYUI_PATH points at a checkout; COMFYUI_PYTHON is the interpreter with ComfyUI's
requirements (default: the one running the tests), registered as the cpu environment. The checkpoint is
written by the interpreter running the tests (it needs torch, diffusers, safetensors). Example:

    COMFYUI_PATH=/work/wt/_cache/ComfyUI COMFYUI_PYTHON=/work/wt/_cache/comfy-venv/bin/python \
        ./scripts/test.sh tests/comfyui/test_real_benchmark.py -q
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REAL_COMFYUI = os.environ.get("COMFYUI_PATH")  # read at import: the autouse fixture removes it
COMFYUI_PYTHON = os.environ.get("COMFYUI_PYTHON", sys.executable)

pytestmark = [
    pytest.mark.comfyui,
    pytest.mark.slow,
    pytest.mark.skipif(not REAL_COMFYUI, reason="set COMFYUI_PATH to a ComfyUI checkout to run this"),
]


@pytest.mark.timeout(600)
def test_tiny_txt2img_through_ours_and_stock(tmp_path):
    pytest.importorskip("diffusers")
    pytest.importorskip("websocket")
    from ipex_integration.runtime.model import Backend
    from ipex_integration.runtime.registry import load_registry

    registry = load_registry()
    registry.add(Backend.CPU, COMFYUI_PYTHON)
    registry.save()
    out = tmp_path / "results"
    argv = [sys.executable, "-c", "import sys; from ipex_integration.cli.benchmark import main; sys.exit(main())",
            "comfyui", "--comfyui", REAL_COMFYUI, "--cpu", "--images", "1", "--warmup", "0",
            "--repetitions", "2", "--peer", "stock", "--output", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=580)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads((out / "results.json").read_text())
    assert report["config"]["family"] == "tiny" and report["config"]["width"] == 64
    servers = {run["device"]["server"]: run for run in report["runs"]}
    assert set(servers) == {"ours", "stock"}
    for name, run in servers.items():
        assert run["error"] is None and run["backend"] == "cpu", name
        [m] = run["measurements"]
        assert m["status"] == "ok", m["reason"]
        assert m["stats"]["n"] == 2 and m["its"] > 0
        assert m["extra"]["images_checked"] == 2  # written and not one colour
        assert m["extra"]["sampler_it_s"] is None or m["extra"]["sampler_it_s"] > 0
        assert m["extra"]["load_s"] > 0
    assert report["config"]["ratios"]["64x64 2 steps b1"] > 0
    assert "ours/stock 64x64 2 steps b1" in done.stdout
    ours_argv = report["config"]["launch"]["comfyui_argv"]
    assert "--cpu" in ours_argv  # the plan's device flag, as comfyui-ipex passes it
