"""DevicePlan + build -> the variables `ollama serve` gets: every plan, user values win, builds that cannot
drive the device. Plans come from the real policy on fake machines (resolve_ollama_plan)."""

from __future__ import annotations

import pytest

from ipex_integration.ollama import OllamaError
from ipex_integration.ollama.binary import Flavour, OllamaBuild
from ipex_integration.ollama.env import ollama_environment
from ipex_integration.ollama.launch import resolve_ollama_plan
from ipex_integration.ollama.vulkan import parse_summary
from ipex_integration.plan.model import DeviceRequest
from ipex_integration.runtime.model import Backend

from .helpers import MACHINES, VULKANINFO_NVIDIA_ARC

UPSTREAM = OllamaBuild("/opt/ollama/bin/ollama", "/opt/ollama/bin/ollama", "PATH", "0.12.6", Flavour.UPSTREAM,
                       ("cuda", "vulkan"), "/opt/ollama/lib/ollama")
CUDA_ONLY = OllamaBuild("/o/bin/ollama", "/o/bin/ollama", "PATH", "0.9.0", Flavour.UPSTREAM, ("cuda",), "/o/lib/ollama")
VULKAN_ONLY = OllamaBuild("/o/bin/ollama", "/o/bin/ollama", "PATH", "0.13.0", Flavour.UPSTREAM, ("vulkan",), "/o/lib")
IPEX = OllamaBuild("/ipex/ollama", "/ipex/ollama", "PATH", "0.5.4-ipexllm-20250331", Flavour.IPEX_LLM, ("sycl",), "/ipex")
UNKNOWN = OllamaBuild("/nix/bin/ollama", "/nix/bin/ollama", "PATH", "0.12.6", Flavour.UPSTREAM, None)
VULKAN = parse_summary(VULKANINFO_NVIDIA_ARC)


def plan(machine: str, environ=None, **request):
    return resolve_ollama_plan(DeviceRequest(**request), environ=environ or {}, hardware=MACHINES[machine])


def env_for(machine, build, environ=None, vulkan=None, host=None, **request):
    environ = environ or {}
    p = plan(machine, environ, **request)
    return ollama_environment(p, build, environ=environ, host=host, hardware=MACHINES[machine], vulkan_devices=vulkan)


def test_cuda_plan():
    e = env_for("nvidia_arc", UPSTREAM)  # auto: CUDA first
    assert e.backend is Backend.CUDA and e.path == "cuda"
    assert e.env["CUDA_VISIBLE_DEVICES"] == "0" and e.env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert e.env["GGML_VK_VISIBLE_DEVICES"] == "-1"  # the Arc stays free
    assert e.env["OLLAMA_HOST"] == "127.0.0.1:11434"
    assert e.env["OLLAMA_VULKAN"] == "0"  # on by default from 0.30 (ollama/ollama#16508)
    assert "ONEAPI_DEVICE_SELECTOR" not in e.env


def test_xpu_through_vulkan_uses_the_vulkan_index():
    e = env_for("nvidia_arc", UPSTREAM, vulkan=VULKAN, backend=Backend.XPU, source="--force-intel-xpu")
    assert e.path == "vulkan"
    assert e.env["GGML_VK_VISIBLE_DEVICES"] == "1"  # GPU1 in vulkaninfo, not Intel index 0
    assert e.env["OLLAMA_VULKAN"] == "1"
    assert e.env["CUDA_VISIBLE_DEVICES"] == "-1"  # NVIDIA hidden when the Intel GPU is forced
    assert not e.warnings
    assert any("vulkaninfo lists Intel Arc A770 Graphics as Vulkan device 1" in r for r in e.reasons)


def test_xpu_through_vulkan_without_vulkaninfo_assumes_pci_order_and_warns():
    e = env_for("nvidia_arc", UPSTREAM, vulkan=None, backend=Backend.XPU)
    assert e.env["GGML_VK_VISIBLE_DEVICES"] == "0"
    assert any("vulkaninfo was not available" in w for w in e.warnings)
    quiet = env_for("arc", UPSTREAM, vulkan=None)  # Intel only: nothing else to confuse the order
    assert quiet.env["GGML_VK_VISIBLE_DEVICES"] == "0" and not quiet.warnings


def test_second_intel_gpu_by_flag():
    e = env_for("two_arc", VULKAN_ONLY, intel_device=1, source="--intel-device 1")
    assert e.device_index == 1 and e.env["GGML_VK_VISIBLE_DEVICES"] == "1"


def test_vulkan_that_does_not_see_the_gpu_is_an_error():
    with pytest.raises(OllamaError, match="Vulkan lists no device for Intel GPU 1") as info:
        env_for("two_arc", UPSTREAM, vulkan=VULKAN, intel_device=1, source="--intel-device 1")
    assert "mesa-vulkan-drivers" in info.value.hint


def test_xpu_through_sycl(tmp_path):
    e = env_for("nvidia_arc", IPEX, backend=Backend.XPU)
    assert e.path == "sycl"
    assert e.env["OLLAMA_NUM_GPU"] == "999"
    assert e.env["ONEAPI_DEVICE_SELECTOR"] == "level_zero:0"
    assert e.env["ZES_ENABLE_SYSMAN"] == "1" and e.env["SYCL_CACHE_PERSISTENT"] == "1"
    assert e.env["SYCL_CACHE_DIR"].endswith("/sycl")
    assert "OLLAMA_VULKAN" not in e.env and "GGML_VK_VISIBLE_DEVICES" not in e.env


@pytest.mark.parametrize("build", [UPSTREAM, IPEX])
def test_cpu_hides_every_gpu(build):
    e = env_for("nvidia_arc", build, backend=Backend.CPU, source="--cpu")
    assert e.path == "cpu"
    for name in ("CUDA_VISIBLE_DEVICES", "GGML_VK_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES"):
        assert e.env[name] == "-1"
    assert e.env["ONEAPI_DEVICE_SELECTOR"] == "opencl:cpu"
    assert ("OLLAMA_NUM_GPU" in e.env) is (build is IPEX)


def test_no_gpu_machine_runs_on_cpu():
    e = env_for("none", UPSTREAM)
    assert e.backend is Backend.CPU and e.env["CUDA_VISIBLE_DEVICES"] == "-1"


def test_user_values_win():
    environ = {"OLLAMA_HOST": "0.0.0.0:9999", "GGML_VK_VISIBLE_DEVICES": "2", "OLLAMA_VULKAN": "1",
               "CUDA_VISIBLE_DEVICES": "0"}
    e = env_for("nvidia_arc", UPSTREAM, environ=environ, vulkan=VULKAN, backend=Backend.XPU)
    assert e.host == "0.0.0.0:9999" and "OLLAMA_HOST" not in e.env
    assert e.kept == {"OLLAMA_HOST": "0.0.0.0:9999", "GGML_VK_VISIBLE_DEVICES": "2", "OLLAMA_VULKAN": "1",
                      "CUDA_VISIBLE_DEVICES": "0"}
    assert not any(k in e.env for k in environ)
    child = e.child_env(environ)
    assert child["GGML_VK_VISIBLE_DEVICES"] == "2" and child["CUDA_VISIBLE_DEVICES"] == "0"
    assert any("your CUDA_VISIBLE_DEVICES='0' is kept" in w for w in e.warnings)


def test_user_sycl_values_win():
    environ = {"OLLAMA_NUM_GPU": "20", "ZES_ENABLE_SYSMAN": "0"}
    e = env_for("arc", IPEX, environ=environ)
    assert e.kept["OLLAMA_NUM_GPU"] == "20" and e.kept["ZES_ENABLE_SYSMAN"] == "0"
    assert e.child_env(environ)["OLLAMA_NUM_GPU"] == "20"


def test_user_vulkan_off_is_kept_with_a_warning():
    e = env_for("arc", UPSTREAM, environ={"OLLAMA_VULKAN": "0"})
    assert e.kept["OLLAMA_VULKAN"] == "0"
    assert any("will not use the Intel GPU" in w for w in e.warnings)


def test_host_flag_wins_over_the_users_variable():
    e = env_for("none", UPSTREAM, environ={"OLLAMA_HOST": "127.0.0.1:1"}, host="127.0.0.1:2")
    assert e.env["OLLAMA_HOST"] == "127.0.0.1:2" and e.host == "127.0.0.1:2"
    assert any("--host 127.0.0.1:2 replaces your OLLAMA_HOST" in w for w in e.warnings)


def test_cuda_device_flag_replaces_users_cuda_visible_devices():
    """The policy's rule: an explicit device flag is the more specific request."""
    e = env_for("nvidia_arc", UPSTREAM, environ={"CUDA_VISIBLE_DEVICES": "7"}, cuda_device=0, source="--cuda-device 0")
    assert e.env["CUDA_VISIBLE_DEVICES"] == "0"


@pytest.mark.parametrize(("build", "request_", "message"), [
    (IPEX, {"backend": Backend.CUDA, "source": "--cuda"}, "drives Intel GPUs only"),
    (VULKAN_ONLY, {"backend": Backend.CUDA, "source": "--cuda"}, "has no CUDA backend"),
    (CUDA_ONLY, {"backend": Backend.XPU, "source": "--xpu"}, "has no Vulkan or SYCL backend"),
])
def test_builds_that_cannot_drive_the_device(build, request_, message):
    with pytest.raises(OllamaError, match=message):
        env_for("nvidia_arc", build, **request_)


def test_unknown_build_is_assumed_upstream_with_warnings():
    cuda = env_for("nvidia_arc", UNKNOWN)
    assert cuda.env["CUDA_VISIBLE_DEVICES"] == "0" and any("assuming it can use CUDA" in w for w in cuda.warnings)
    xpu = env_for("arc", UNKNOWN)
    assert xpu.path == "vulkan" and any("assuming an upstream build" in w for w in xpu.warnings)


def test_forced_intel_without_intel_gpu_is_a_selection_error():
    from ipex_integration.errors import SelectionError

    with pytest.raises(SelectionError, match="no Intel GPU was found"):
        plan("nvidia", backend=Backend.XPU, source="--force-intel-xpu")
