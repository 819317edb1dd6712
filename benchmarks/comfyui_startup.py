"""Does our launcher slow ComfyUI's start? Times command -> first `GET /system_stats` answer for
`python main.py --cpu --listen 127.0.0.1 --port N` (the peer, with the same interpreter and variables) and for
`comfyui-ipex --cpu --port N` (plan, flag check, bootstrap), alternating, on a real ComfyUI checkout.

    python benchmarks/comfyui_startup.py --comfyui DIR --python VENV/bin/python [--runs N]

The goal (issue #4): our median within 5% or 0.5 s (whichever is larger) of the peer's. Exits 1 when missed.
Uses its own IPEX_INTEGRATION_HOME with VENV registered as the cpu environment; the first (untimed) launch
fills the runtime-probe cache, as a user's second start would find it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "src")]

GOAL_RATIO = 1.05
GOAL_SLACK_S = 0.5
TIMEOUT_S = 300.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_stats(argv: list[str], port: int, *, cwd: str | None, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < TIMEOUT_S:
            if proc.poll() is not None:
                raise SystemExit(f"{argv[0]} exited with {proc.returncode} before answering")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/system_stats", timeout=2) as response:
                    json.load(response)
                return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise SystemExit(f"no answer within {TIMEOUT_S} s")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comfyui", required=True, help="a ComfyUI checkout")
    parser.add_argument("--python", required=True, help="interpreter with ComfyUI's requirements")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from ipex_integration.runtime.model import Backend
    from ipex_integration.runtime.registry import load_registry

    home = tempfile.mkdtemp(prefix="comfyui-startup-")
    env = {**os.environ, "IPEX_INTEGRATION_HOME": home}
    env.pop("COMFYUI_PATH", None)
    registry = load_registry(env)
    registry.add(Backend.CPU, args.python)
    registry.save()
    launcher = [sys.executable, "-c", "import sys; from ipex_integration.cli.comfyui import main_auto; sys.exit(main_auto())"]
    # The peer gets the variables our CPU plan sets, so both runs hide the same devices.
    peer_env = {**env, "CUDA_VISIBLE_DEVICES": "", "ONEAPI_DEVICE_SELECTOR": "opencl:cpu"}

    def ours() -> float:
        port = free_port()
        return time_to_stats(launcher + ["--comfyui", args.comfyui, "--cpu", "--port", str(port)], port, cwd=None, env=env)

    def peer() -> float:
        port = free_port()
        argv = [args.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port)]
        return time_to_stats(argv, port, cwd=args.comfyui, env=peer_env)

    print("warm-up (fills caches, not timed) ...", flush=True)
    ours()
    peer()
    mine: list[float] = []
    theirs: list[float] = []
    for i in range(args.runs):
        for name, fn, into in (("python main.py", peer, theirs), ("comfyui-ipex", ours, mine))[:: 1 if i % 2 else -1]:
            into.append(fn())
            print(f"run {i + 1}: {name:15s} {into[-1]:6.2f} s", flush=True)
    ours_median, peer_median = statistics.median(mine), statistics.median(theirs)
    limit = max(peer_median * GOAL_RATIO, peer_median + GOAL_SLACK_S)
    print(f"median: comfyui-ipex {ours_median:.2f} s, python main.py {peer_median:.2f} s, "
          f"ratio {ours_median / peer_median:.3f}, goal <= {limit:.2f} s")
    return 0 if ours_median <= limit else 1


if __name__ == "__main__":
    sys.exit(main())
