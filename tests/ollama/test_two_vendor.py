"""NVIDIA + Intel in one machine: Ollama placed on one vendor's GPU must not also take the other's (nor the
same card a second time through Vulkan). Checked on the fake server, started for real, for an Ollama before
0.30 (Vulkan opt-in) and after (Vulkan on by default; CUDA_VISIBLE_DEVICES restricts only CUDA): what the
child received, and which devices its log says it uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipex_integration.ollama.launch import prepare_launch
from ipex_integration.ollama.logs import inference_devices
from ipex_integration.ollama.serve import ServerProcess
from ipex_integration.plan.model import DeviceRequest
from ipex_integration.runtime.model import Backend

from .helpers import MACHINES, free_port, recorded
from .test_serve import GPUS, vulkaninfo_runner

ARC = "Intel(R) Arc(tm) A770 Graphics (DG2)"
RTX = "NVIDIA GeForce RTX 4090"
VERSIONS = ("0.12.11", "0.32.14")  # the first with the Vulkan backend; a late-2026 one


@pytest.fixture
def base_env(tmp_path):
    import os

    return {**os.environ, **GPUS, "FAKE_OLLAMA_ENV_FILE": str(tmp_path / "calls.jsonl")}


def serve_and_read(launch, env_file: Path) -> tuple[dict, list[tuple[str, str]]]:
    """Start the planned server, wait until it answers; the environment it got and its devices."""
    server = ServerProcess(launch.spec)
    server.start()
    try:
        server.wait_ready(20)
    finally:
        assert server.stop() == 0
    env = [c for c in recorded(env_file) if c["argv"] == ["serve"]][-1]["env"]
    return env, inference_devices(launch.spec.log_path)


def launch_for(request: DeviceRequest, env: dict, ollama_bin, **kwargs):
    return prepare_launch(request, environ=env, ollama_bin=str(ollama_bin("upstream")),
                          host=f"127.0.0.1:{free_port()}", hardware=MACHINES["nvidia_arc"], runner=vulkaninfo_runner,
                          **kwargs)


@pytest.mark.parametrize("version", VERSIONS)
def test_on_nvidia_vulkan_takes_neither_card(ollama_bin, base_env, tmp_path, version):
    base_env["FAKE_OLLAMA_VERSION"] = version
    launch = launch_for(DeviceRequest(), base_env, ollama_bin)
    env, devices = serve_and_read(launch, tmp_path / "calls.jsonl")
    assert (env["CUDA_VISIBLE_DEVICES"], env["OLLAMA_VULKAN"], env["GGML_VK_VISIBLE_DEVICES"]) == ("0", "0", "-1")
    assert devices == [("CUDA", RTX)]
    assert any("OLLAMA_VULKAN=0" in r for r in launch.server.reasons)


def test_without_our_variables_a_2026_ollama_takes_the_intel_gpu_too(ollama_bin, base_env, tmp_path):
    """The fake reproduces the problem the rule is for (ollama/ollama#17609): CUDA_VISIBLE_DEVICES alone leaves
    the Intel GPU to Vulkan from 0.30 on."""
    base_env.update(FAKE_OLLAMA_VERSION="0.32.14", CUDA_VISIBLE_DEVICES="0")
    launch = launch_for(DeviceRequest(), base_env, ollama_bin)
    spec = launch.spec
    bare = {k: v for k, v in spec.env.items() if k not in ("OLLAMA_VULKAN", "GGML_VK_VISIBLE_DEVICES")}
    launch = type(launch)(launch.build, launch.plan, launch.server, type(spec)(spec.argv, bare, spec.address,
                                                                                   spec.log_path))
    _env, devices = serve_and_read(launch, tmp_path / "calls.jsonl")
    assert devices == [("CUDA", RTX), ("Vulkan", ARC)]


def test_on_nvidia_vulkan_when_asked_is_kept_with_a_warning(ollama_bin, base_env, tmp_path):
    base_env.update(FAKE_OLLAMA_VERSION="0.32.14", OLLAMA_VULKAN="1", GGML_VK_VISIBLE_DEVICES="1")
    launch = launch_for(DeviceRequest(), base_env, ollama_bin)
    assert launch.server.kept["OLLAMA_VULKAN"] == "1" and "OLLAMA_VULKAN" not in launch.server.env
    assert any("OLLAMA_VULKAN='1' is kept" in w for w in launch.server.warnings)
    _env, devices = serve_and_read(launch, tmp_path / "calls.jsonl")
    assert devices == [("CUDA", RTX), ("Vulkan", ARC)]  # what the user asked for


@pytest.mark.parametrize("version", VERSIONS)
def test_on_intel_cuda_does_not_see_the_nvidia_card(ollama_bin, base_env, tmp_path, version):
    base_env["FAKE_OLLAMA_VERSION"] = version
    launch = launch_for(DeviceRequest(backend=Backend.XPU, source="--force-intel-xpu"), base_env, ollama_bin)
    env, devices = serve_and_read(launch, tmp_path / "calls.jsonl")
    # Vulkan lists the NVIDIA card first (index 0): only the Intel GPU's Vulkan index is shown
    assert (env["CUDA_VISIBLE_DEVICES"], env["GGML_VK_VISIBLE_DEVICES"], env["OLLAMA_VULKAN"]) == ("-1", "1", "1")
    assert devices == [("Vulkan", ARC)]
