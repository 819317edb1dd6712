"""llama-server as an engine: build identification, the variables per build and plan, a real start of the
fake llama-server (what the child received, readiness through a loading 503), and the --engine switch."""

from __future__ import annotations

import io
import json
import re
import os
from pathlib import Path

import pytest

from ipex_integration.cli.ollama import ollama_main
from ipex_integration.errors import UsageError
from ipex_integration.llama import LlamaError
from ipex_integration.llama.binary import LlamaServerBuild, identify_build, parse_version_output
from ipex_integration.llama.engine import split_engine_flags
from ipex_integration.llama.launch import prepare_llama_launch
from ipex_integration.llama.serve import LlamaServer
from ipex_integration.plan.model import DeviceRequest
from ipex_integration.proc import CommandResult, run_command
from ipex_integration.runtime.model import Backend
from tests.ollama.helpers import MACHINES, VULKANINFO_NVIDIA_ARC, free_port, recorded

from .helpers import install

XPU = DeviceRequest(backend=Backend.XPU, source="--force-intel-xpu")
CPU = DeviceRequest(backend=Backend.CPU, source="--cpu")

VERSION_TEXT = """\
load_backend: loaded CUDA backend from /opt/llama/lib/libggml-cuda.so
load_backend: loaded CPU backend from /opt/llama/lib/libggml-cpu-haswell.so
version: 6123 (1a2b3c4d)
built with cc (Ubuntu 13.3.0) 13.3.0 for x86_64-linux-gnu
"""


def build(*backends: str) -> LlamaServerBuild:
    return LlamaServerBuild("/opt/llama/llama-server", "/opt/llama/llama-server", "PATH", "6123", "1a2b3c4d", None,
                            tuple(sorted({*backends, "cpu"})))


def vulkaninfo(argv, *, timeout, env=None, input=None):
    if list(argv[:1]) == ["vulkaninfo"]:
        return CommandResult(tuple(argv), 0, VULKANINFO_NVIDIA_ARC, "")
    return run_command(argv, timeout=timeout, env=env, input=input)


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    return str(path)


def launch(request, b, model, environ=None, **kwargs):
    return prepare_llama_launch(request, model=model, environ=environ if environ is not None else {}, build=b,
                                hardware=MACHINES["nvidia_arc"], runner=vulkaninfo, port=kwargs.pop("port", 8080),
                                **kwargs)


def test_version_output_names_the_build_and_its_loaded_backends():
    version, commit, compiler, loaded = parse_version_output(VERSION_TEXT)
    assert (version, commit) == ("6123", "1a2b3c4d") and compiler.startswith("cc (Ubuntu")
    assert set(loaded) == {"cuda", "cpu"} and "libggml-cuda.so" in loaded["cuda"]


def test_identify_reads_version_and_the_backend_libraries_beside_it(tmp_path):
    binary = install(tmp_path / "l", ("libggml-sycl.so", "libggml-vulkan.so", "libggml-base.so"))
    found = identify_build(str(binary), "--llama-server", environ={**os.environ, "FAKE_LLAMA_LOADED": ""})
    assert found.version == "6123" and found.backends == ("sycl", "vulkan", "cpu")
    assert found.intel_path == "sycl" and not found.has("cuda")
    assert any(e.startswith("sycl: beside") for e in found.evidence)
    assert found.label == "llama.cpp b6123 (sycl+vulkan)"


@pytest.mark.parametrize(("request_", "backends", "path", "expected"), [
    (DeviceRequest(), ("cuda", "vulkan"), "cuda", {"CUDA_VISIBLE_DEVICES": "0", "GGML_VK_VISIBLE_DEVICES": "-1"}),
    (XPU, ("sycl", "vulkan"), "sycl", {"ONEAPI_DEVICE_SELECTOR": "level_zero:0", "CUDA_VISIBLE_DEVICES": "-1",
                                      "GGML_VK_VISIBLE_DEVICES": "-1"}),
    (XPU, ("vulkan",), "vulkan", {"GGML_VK_VISIBLE_DEVICES": "1", "CUDA_VISIBLE_DEVICES": "-1"}),  # NVIDIA is 0
    (CPU, ("cuda", "vulkan"), "cpu", {"CUDA_VISIBLE_DEVICES": "-1", "GGML_VK_VISIBLE_DEVICES": "-1",
                                      "ONEAPI_DEVICE_SELECTOR": "opencl:cpu"}),
])
def test_each_build_gets_its_variables(model, request_, backends, path, expected):
    planned = launch(request_, build(*backends), model)
    assert planned.server.path == path
    for name, value in expected.items():
        assert planned.spec.env[name] == value, name
    layers = planned.spec.argv[planned.spec.argv.index("--n-gpu-layers") + 1]
    assert layers == ("0" if path == "cpu" else "999")  # every layer on the GPU


def test_a_build_without_the_backend_is_an_error_with_the_fix(model):
    with pytest.raises(LlamaError, match="has no CUDA backend"):
        launch(DeviceRequest(), build("vulkan"), model)
    with pytest.raises(LlamaError, match="no SYCL or Vulkan backend"):
        launch(XPU, build("cuda"), model)
    with pytest.raises(LlamaError, match="no such file"):
        launch(CPU, build(), str(Path(model).with_name("missing.gguf")))


def test_users_variables_are_kept(model):
    planned = launch(XPU, build("vulkan"), model, environ={"GGML_VK_VISIBLE_DEVICES": "2", "CUDA_VISIBLE_DEVICES": "0"})
    assert "GGML_VK_VISIBLE_DEVICES" not in planned.server.env and planned.spec.env["GGML_VK_VISIBLE_DEVICES"] == "2"
    assert any("CUDA_VISIBLE_DEVICES='0' is kept" in w for w in planned.server.warnings)


def test_real_start_waits_through_loading_and_the_child_gets_the_plan(tmp_path, model):
    binary = install(tmp_path / "l", ("libggml-cuda.so", "libggml-vulkan.so"))
    env = {**os.environ, "FAKE_LLAMA_ENV_FILE": str(tmp_path / "calls.jsonl"), "FAKE_LLAMA_LOADING_S": "0.5"}
    planned = prepare_llama_launch(DeviceRequest(), model=model, environ=env, binary=str(binary), port=free_port(),
                                   hardware=MACHINES["nvidia_arc"], log_path=str(tmp_path / "server.log"))
    assert planned.build.backends == ("cuda", "vulkan", "cpu")
    server = LlamaServer(planned.spec).start()
    try:
        assert server.wait_ready(20) == "/health"
        child = [c for c in recorded(tmp_path / "calls.jsonl") if "--version" not in c["argv"]][-1]
        assert child["env"]["CUDA_VISIBLE_DEVICES"] == "0" and child["env"]["GGML_VK_VISIBLE_DEVICES"] == "-1"
        assert child["argv"][child["argv"].index("--n-gpu-layers") + 1] == "999" and model in child["argv"]
    finally:
        assert server.stop() == 0
    assert "server is listening" in (tmp_path / "server.log").read_text()


def test_a_crash_while_starting_names_the_log_line(tmp_path, model):
    binary = install(tmp_path / "l", ("libggml-cuda.so",))
    env = {**os.environ, "FAKE_LLAMA_CRASH": "3"}
    planned = prepare_llama_launch(CPU, model=model, environ=env, binary=str(binary), port=free_port(),
                                   hardware=MACHINES["none"], log_path=str(tmp_path / "server.log"))
    server = LlamaServer(planned.spec).start()
    with pytest.raises(LlamaError, match="exited with code 3 while starting: error: failed to load model"):
        server.wait_ready(20)


def test_engine_switch_through_ollama_ipex_dry_run(tmp_path, model):
    binary = install(tmp_path / "l", ("libggml-sycl.so",))
    out = io.StringIO()
    code = ollama_main(["serve", "--engine", "llama-server", "--model", model, "--llama-server", str(binary),
                        "--force-intel-xpu", "--host", "127.0.0.1:9099", "--dry-run", "--json"],
                       environ=dict(os.environ), hardware=MACHINES["nvidia_arc"], out=out, err=io.StringIO())
    data = json.loads(out.getvalue())
    assert code == 0 and data["engine"] == "llama-server" and data["where"].endswith("via sycl")
    assert data["serve"]["url"] == "http://127.0.0.1:9099" and data["serve"]["env"]["ONEAPI_DEVICE_SELECTOR"] == "level_zero:0"


def test_engine_flags():
    flags, rest = split_engine_flags(["serve", "--engine=llama-server", "--model", "a.gguf", "--cpu"])
    assert (flags.engine, flags.model, rest) == ("llama-server", "a.gguf", ["serve", "--cpu"])
    flags, rest = split_engine_flags(["run", "llama3.2", "--model", "x"])
    assert flags.engine == "ollama" and rest == ["run", "llama3.2", "--model", "x"]  # ollama's own text untouched
    assert split_engine_flags(["serve"], {"IPEX_LLM_ENGINE": "llama-server"})[0].is_llama
    with pytest.raises(UsageError, match="'vllm' is not an engine; choose one of: ollama, llama-server"):
        split_engine_flags(["serve", "--engine", "vllm"])
    with pytest.raises(UsageError, match="--llama-server goes with --engine llama-server"):
        split_engine_flags(["serve", "--llama-server", "/x"])


def test_status_section_reports_the_build_and_a_running_server(tmp_path, model):
    from ipex_integration.llama.status import checks
    from ipex_integration.status.context import StatusContext
    from ipex_integration.status.model import Level

    binary = install(tmp_path / "l", ("libggml-vulkan.so",))
    port = free_port()
    env = {**os.environ, "LLAMA_SERVER": str(binary), "LLAMA_SERVER_URL": f"http://127.0.0.1:{port}"}
    ctx = StatusContext(hardware=MACHINES["none"], environ=env)
    rows = {c.name: c for c in checks(ctx)}
    assert rows["llama-server"].level is Level.OK and "$LLAMA_SERVER" in rows["llama-server"].detail
    assert "llama.cpp b6123 (vulkan)" in rows["build"].detail
    assert rows["server"].level is Level.MISSING
    planned = prepare_llama_launch(CPU, model=model, environ=env, binary=str(binary), port=port,
                                   hardware=MACHINES["none"], log_path=str(tmp_path / "s.log"))
    with LlamaServer(planned.spec).start() as server:
        server.wait_ready(20)
        rows = {c.name: c for c in checks(ctx)}
    assert rows["server"].level is Level.OK and model in rows["server"].detail
    missing = {c.name: c for c in checks(StatusContext(hardware=MACHINES["none"], environ={"PATH": str(tmp_path)}))}
    assert missing["llama-server"].level is Level.MISSING and "no llama-server found" in missing["llama-server"].detail


def test_peer_without_llama_cpp_says_how_to_get_it(tmp_path):
    from ipex_integration.llama.peer import LlamaPeer, llama_cpp_version

    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'llama_cpp'\" >&2\nexit 1\n")
    python.chmod(0o755)
    version, why = llama_cpp_version(str(python))
    assert version is None and why.endswith("(ModuleNotFoundError: No module named 'llama_cpp')")
    with pytest.raises(LlamaError) as caught:
        LlamaPeer.start(python=str(python), environ={"IPEX_INTEGRATION_HOME": str(tmp_path)})
    assert "llama-cpp-python[server]==0.3.36" in caught.value.hint
    assert not list(tmp_path.glob("cache/llama/models/*.gguf"))  # nothing made before the check


@pytest.mark.parametrize(("text", "expected"), [
    (None, ("127.0.0.1", 8080)), ("", ("127.0.0.1", 8080)), ("0.0.0.0", ("0.0.0.0", 8080)),
    (":9000", ("127.0.0.1", 9000)), ("gpu-box.lan:81", ("gpu-box.lan", 81)), ("[::1]:8081", ("::1", 8081)),
    ("::1", ("::1", 8080)), ("[::1]", ("::1", 8080)),
])
def test_llama_server_host_is_split_by_the_shared_validator(text, expected):
    from ipex_integration.net import split_host_port

    assert split_host_port(text, default_port=8080) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("127.0.0.1:x", "port in --host '127.0.0.1:x' must be a number from 1 to 65535"),
    ("127.0.0.1:70000", "port in --host '127.0.0.1:70000' 70000 is out of range"),
    ("[::1", "unclosed [ in --host"), ("[::1]x", "expected [HOST]:PORT"), ("bad host!:80", "not an IP address or host name"),
])
def test_bad_llama_server_hosts_are_usage_errors(text, message):
    from ipex_integration.net import split_host_port

    with pytest.raises(UsageError, match=re.escape(message)):
        split_host_port(text, default_port=8080)


def test_ollama_ipex_llama_server_host_goes_through_it(tmp_path, model):
    binary = install(tmp_path / "l", ("libggml-cuda.so",))
    with pytest.raises(UsageError, match="port in --host"):
        ollama_main(["serve", "--engine", "llama-server", "--model", model, "--llama-server", str(binary),
                     "--host", "127.0.0.1:0x", "--dry-run"], environ=dict(os.environ), hardware=MACHINES["none"],
                    out=io.StringIO(), err=io.StringIO())
