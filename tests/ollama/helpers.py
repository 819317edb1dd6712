"""Helpers for the Ollama tests: fake ollama installs (tests/fakes/fake_ollama.py behind a real `bin/ollama`
with the library layout of each build), fake machines, free ports, and waiting for servers."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.request
from pathlib import Path

from ipex_integration.hardware.model import Gpu, HardwareReport, Vendor
from ipex_integration.runtime.model import Environment, RuntimeInfo

FAKE_OLLAMA = Path(__file__).resolve().parents[1] / "fakes" / "fake_ollama.py"

# Library layouts beside bin/ollama, as the builds ship them.
LAYOUTS: dict[str, tuple[str, ...]] = {
    # ollama.com's Linux tarball since 0.12.11: CPU libs, CUDA 12 and 13, Vulkan
    "upstream": ("lib/ollama/libggml-base.so", "lib/ollama/libggml-cpu-haswell.so",
                 "lib/ollama/cuda_v12/libggml-cuda.so", "lib/ollama/cuda_v13/libggml-cuda.so",
                 "lib/ollama/vulkan/libggml-vulkan.so"),
    "cuda-only": ("lib/ollama/libggml-base.so", "lib/ollama/cuda_v12/libggml-cuda.so"),
    "vulkan-only": ("lib/ollama/libggml-base.so", "lib/ollama/vulkan/libggml-vulkan.so"),  # Arch's ollama-vulkan
    "cpu-only": ("lib/ollama/libggml-base.so", "lib/ollama/libggml-cpu-haswell.so"),
    # ipex-llm's portable tgz keeps its libraries beside the binary
    "ipex-llm": ("bin/libggml-base.so", "bin/libggml-sycl.so", "bin/libllama.so"),
    "bare": (),
}

A770 = Gpu(Vendor.INTEL, 0x8086, 0x56A0, "0000:03:00.0", "i915", "card1", "/dev/dri/renderD129",
           name="Intel Arc A770 Graphics", family="Arc Alchemist", integrated=False)
B580 = Gpu(Vendor.INTEL, 0x8086, 0xE20B, "0000:04:00.0", "xe", "card2", "/dev/dri/renderD130",
           name="Intel Arc B580 Graphics", family="Arc Battlemage", integrated=False)
RTX_4090 = Gpu(Vendor.NVIDIA, 0x10DE, 0x2684, "0000:01:00.0", "nvidia", "card0", "/dev/dri/renderD128",
               name="NVIDIA GeForce RTX 4090", integrated=False, nvidia_index=0)
IGPU = Gpu(Vendor.INTEL, 0x8086, 0xA780, "0000:00:02.0", "i915", "card3", "/dev/dri/renderD131",
           name="Intel UHD Graphics 770", family="Raptor Lake-S", integrated=True)

MACHINES = {
    "nvidia_arc": HardwareReport(gpus=(RTX_4090, A770), nvidia_source="nvml"),
    "nvidia": HardwareReport(gpus=(RTX_4090,), nvidia_source="nvml"),
    "arc": HardwareReport(gpus=(A770,)),
    "two_arc": HardwareReport(gpus=(A770, B580)),
    "none": HardwareReport(),
}

# `vulkaninfo --summary` on the nvidia_arc machine: NVIDIA's ICD enumerates first, llvmpipe last.
VULKANINFO_NVIDIA_ARC = """\
==========
VULKANINFO
==========

Vulkan Instance Version: 1.3.275

Devices:
========
GPU0:
	apiVersion         = 1.3.277
	driverVersion      = 550.107.2.0
	vendorID           = 0x10de
	deviceID           = 0x2684
	deviceType         = PHYSICAL_DEVICE_TYPE_DISCRETE_GPU
	deviceName         = NVIDIA GeForce RTX 4090
	driverID           = DRIVER_ID_NVIDIA_PROPRIETARY
GPU1:
	apiVersion         = 1.3.289
	driverVersion      = 24.2.8
	vendorID           = 0x8086
	deviceID           = 0x56a0
	deviceType         = PHYSICAL_DEVICE_TYPE_DISCRETE_GPU
	deviceName         = Intel(R) Arc(tm) A770 Graphics (DG2)
	driverID           = DRIVER_ID_INTEL_OPEN_SOURCE_MESA
GPU2:
	apiVersion         = 1.3.289
	driverVersion      = 0.0.1
	vendorID           = 0x10005
	deviceID           = 0x0000
	deviceType         = PHYSICAL_DEVICE_TYPE_CPU
	deviceName         = llvmpipe (LLVM 17.0.6, 256 bits)
"""


def install_fake_ollama(root: Path, layout: str = "upstream") -> Path:
    """A `bin/ollama` under `root` that runs the fake with this interpreter, plus the build's libraries."""
    root = Path(root)
    (root / "bin").mkdir(parents=True, exist_ok=True)
    binary = root / "bin" / "ollama"
    binary.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_OLLAMA}" "$@"\n')
    binary.chmod(0o755)
    for rel in LAYOUTS[layout]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x7fELF")
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 5.0) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as response:
        return json.loads(response.read())


def post_json(url: str, body: dict, timeout: float = 10.0) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with opener.open(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def recorded(env_file: Path) -> list[dict]:
    """The invocations the fake recorded (FAKE_OLLAMA_ENV_FILE)."""
    if not env_file.exists():
        return []
    return [json.loads(line) for line in env_file.read_text().splitlines() if line.strip()]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def torch_environments(cuda: bool = True, xpu: bool = True):
    """The current interpreter reported (as the runtime probe would) to drive both GPU backends: what the
    fake torch of tests/fakes/comfyui provides to a ComfyUI child."""
    info = RuntimeInfo(python=sys.executable, ok=True, python_version="3.11", torch_version="2.8.0",
                       torch_build="cuda", cuda_available=cuda, xpu_available=xpu)
    return [(Environment("current", sys.executable, None, registered=False), info)]


def comfyui_resolver(hardware: HardwareReport, cache: Path):
    """A stand-in for resolve_plan for ComfyUI's plans: the real policy on fake hardware and environments."""
    from ipex_integration.plan.policy import select_device

    def resolve(request, *, environ):
        return select_device(request, hardware=hardware, environments=torch_environments(),
                             environ=environ, cache_dir=cache)

    return resolve



def parse_llm_args(argv: list[str]):
    """`ipex-benchmark llm ...` parsed as the CLI does (with `_argv`, which the results file records)."""
    import argparse

    from ipex_integration.cli.benchmark_llm import add_llm_parser

    parser = argparse.ArgumentParser(prog="ipex-benchmark")
    add_llm_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    args._argv = argv
    return args
