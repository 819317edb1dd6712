"""`ollama serve` started for real (the fake ollama): the environment it gets for every plan, readiness,
crash during start, never ready, port in use, signals and exit codes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ipex_integration.ollama import OllamaError, OllamaStartError
from ipex_integration.ollama.launch import prepare_launch
from ipex_integration.ollama.serve import ServerProcess, check_port_free, parse_host, serve
from ipex_integration.plan.model import DeviceRequest
from ipex_integration.proc import CommandResult, run_command
from ipex_integration.runtime.model import Backend

from .helpers import MACHINES, VULKANINFO_NVIDIA_ARC, free_port, get_json, gone, post_json, recorded, wait_until

REPO = Path(__file__).resolve().parents[2]
# The GPUs the fake's "libraries" see, in each library's own order (Vulkan lists the NVIDIA card first).
GPUS = {"FAKE_OLLAMA_CUDA_GPUS": "NVIDIA GeForce RTX 4090",
        "FAKE_OLLAMA_VULKAN_GPUS": "NVIDIA GeForce RTX 4090,Intel(R) Arc(tm) A770 Graphics (DG2)",
        "FAKE_OLLAMA_SYCL_GPUS": "Intel(R) Arc(TM) A770 Graphics"}


def vulkaninfo_runner(argv, *, timeout, env=None, input=None):
    """run_command, except that `vulkaninfo` answers as on the NVIDIA + Arc machine."""
    if list(argv[:1]) == ["vulkaninfo"]:
        return CommandResult(tuple(argv), 0, VULKANINFO_NVIDIA_ARC, "")
    return run_command(argv, timeout=timeout, env=env, input=input)


@pytest.fixture
def base_env(tmp_path):
    return {**os.environ, **GPUS, "FAKE_OLLAMA_ENV_FILE": str(tmp_path / "calls.jsonl")}


def start(launch) -> ServerProcess:
    server = ServerProcess(launch.spec)
    server.start()
    return server


@pytest.mark.parametrize(("layout", "request_", "version", "library", "variables"), [
    ("upstream", {}, "0.12.6", "CUDA", {"CUDA_VISIBLE_DEVICES": "0", "GGML_VK_VISIBLE_DEVICES": "-1"}),
    ("upstream", {"backend": Backend.XPU, "source": "--force-intel-xpu"}, "0.12.6", "Vulkan",
     {"OLLAMA_VULKAN": "1", "GGML_VK_VISIBLE_DEVICES": "1", "CUDA_VISIBLE_DEVICES": "-1"}),
    ("ipex-llm", {"backend": Backend.XPU, "source": "--xpu"}, "0.5.4-ipexllm-20250331", "SYCL",
     {"OLLAMA_NUM_GPU": "999", "ONEAPI_DEVICE_SELECTOR": "level_zero:0", "ZES_ENABLE_SYSMAN": "1",
      "SYCL_CACHE_PERSISTENT": "1"}),
    ("upstream", {"backend": Backend.CPU, "source": "--cpu"}, "0.12.6", "cpu",
     {"CUDA_VISIBLE_DEVICES": "-1", "GGML_VK_VISIBLE_DEVICES": "-1", "ONEAPI_DEVICE_SELECTOR": "opencl:cpu"}),
])
def test_every_plan_reaches_the_server_and_lands_on_its_device(ollama_bin, base_env, tmp_path, layout, request_,
                                                               version, library, variables):
    base_env["FAKE_OLLAMA_VERSION"] = version
    port = free_port()
    launch = prepare_launch(DeviceRequest(**request_), environ=base_env, ollama_bin=str(ollama_bin(layout)),
                            host=f"127.0.0.1:{port}", hardware=MACHINES["nvidia_arc"], runner=vulkaninfo_runner)
    server = start(launch)
    try:
        assert server.wait_ready(20) == version
        serve_call = [c for c in recorded(tmp_path / "calls.jsonl") if c["argv"] == ["serve"]][-1]
        for name, value in variables.items():
            assert serve_call["env"][name] == value, name
        if layout == "ipex-llm":
            assert Path(serve_call["env"]["SYCL_CACHE_DIR"]).is_dir()  # created for it: SYCL skips a missing one
        post_json(f"{launch.spec.address.url}/api/generate", {"model": "llama3.2", "prompt": "hi", "stream": False,
                                                               "options": {"num_predict": 2}})
        loaded = get_json(f"{launch.spec.address.url}/api/ps")["models"][0]
        assert (loaded["size_vram"] > 0) is (library != "cpu")
    finally:
        assert server.stop() == 0
    log = Path(launch.spec.log_path).read_text()
    assert f"library={library}" in log and "Listening on" in log


def test_crash_during_start_reports_exit_code_and_log_tail(ollama_bin, base_env):
    base_env["FAKE_OLLAMA_CRASH"] = "3"
    launch = prepare_launch(DeviceRequest(backend=Backend.CPU), environ=base_env, ollama_bin=str(ollama_bin()),
                            host=f"127.0.0.1:{free_port()}", hardware=MACHINES["none"])
    with pytest.raises(OllamaStartError) as info:
        serve(launch.spec, timeout=20)
    error = info.value
    assert error.returncode == 3
    assert error.message.startswith("ollama serve exited with code 3 while starting: Error: unable to initialize")
    assert "\n" not in error.message
    assert any("FAKE_OLLAMA_CRASH" in line for line in error.log_tail)
    assert "ollama's last log lines" in error.hint and launch.spec.log_path in error.hint


def test_never_ready_times_out_and_is_stopped(ollama_bin, base_env):
    base_env["FAKE_OLLAMA_NEVER_READY"] = "1"
    launch = prepare_launch(DeviceRequest(backend=Backend.CPU), environ=base_env, ollama_bin=str(ollama_bin()),
                            host=f"127.0.0.1:{free_port()}", hardware=MACHINES["none"])
    server = start(launch)
    started = time.monotonic()
    with pytest.raises(OllamaStartError, match=r"did not answer GET http://127\.0\.0\.1:\d+/api/version within 1 s") as info:
        server.wait_ready(1.0)
    assert time.monotonic() - started < 8
    assert server.poll() is not None and gone(server.pid)
    assert any("discovering available GPUs" in line for line in info.value.log_tail)


def test_slow_discovery_is_waited_for(ollama_bin, base_env):
    base_env["FAKE_OLLAMA_READY_DELAY"] = "1.0"
    launch = prepare_launch(DeviceRequest(backend=Backend.CPU), environ=base_env, ollama_bin=str(ollama_bin()),
                            host=f"127.0.0.1:{free_port()}", hardware=MACHINES["none"])
    server = start(launch)
    try:
        started = time.monotonic()
        assert server.wait_ready(20) == "0.12.6"
        assert time.monotonic() - started >= 0.9
    finally:
        server.stop()


def test_port_in_use_is_reported_before_starting(ollama_bin, base_env):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        launch = prepare_launch(DeviceRequest(backend=Backend.CPU), environ=base_env, ollama_bin=str(ollama_bin()),
                                host=f"127.0.0.1:{port}", hardware=MACHINES["none"])
        with pytest.raises(OllamaError, match=f"port {port} on 127.0.0.1 is already in use: something else"):
            serve(launch.spec)
    assert not [c for c in recorded(Path(base_env["FAKE_OLLAMA_ENV_FILE"])) if c["argv"] == ["serve"]]


def test_port_taken_by_another_ollama_says_so(fake_server):
    url = fake_server(FAKE_OLLAMA_VERSION="0.11.4")
    with pytest.raises(OllamaError, match=r"an Ollama server \(version 0.11.4\) already listens there"):
        check_port_free(parse_host(url))


@pytest.mark.parametrize(("value", "url"), [
    (None, "http://127.0.0.1:11434"),
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("0.0.0.0:8080", "http://127.0.0.1:8080"),
    ("https://example.com", "https://example.com:443"),
    ("[::1]:5000", "http://[::1]:5000"),
    ("localhost:1234/", "http://localhost:1234"),
])
def test_host_parsing_follows_ollama(value, url):
    assert parse_host(value).url == url


# --- ollama-ipex serve as its own process: signals and exit codes ----------------------------------------


class Cli:
    """`python -m ipex_integration.cli.ollama ARGS` with its stderr read as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "ipex_integration.cli.ollama", *args], cwd=REPO, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.err_lines: list[str] = []
        self._pump = threading.Thread(target=lambda: self.err_lines.extend(iter(self.proc.stderr.readline, "")),
                                      daemon=True)
        self._pump.start()

    def saw(self, text: str) -> bool:
        return any(text in line for line in list(self.err_lines))

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        self.proc.wait(timeout=timeout)
        self._pump.join(5)
        return self.proc.returncode, self.proc.stdout.read(), "".join(self.err_lines)


@pytest.mark.parametrize(("signum", "child_exit", "expected"), [
    (signal.SIGTERM, "0", 0),  # Ollama shuts down cleanly on SIGTERM: exit 0, ours too
    (signal.SIGINT, "0", 0),
    (signal.SIGTERM, "3", 3),  # whatever it exits with is ours
])
def test_signals_are_forwarded_and_exit_code_propagates(ollama_bin, base_env, tmp_path, signum, child_exit, expected):
    port = free_port()
    env = {**base_env, "FAKE_OLLAMA_SIGNAL_EXIT": child_exit}
    cli = Cli(["serve", "--cpu", "--ollama-bin", str(ollama_bin()), "--host", f"127.0.0.1:{port}"], env)
    try:
        wait_until(lambda: cli.saw("ready at http://127.0.0.1"))
        child = [c for c in recorded(tmp_path / "calls.jsonl") if c["argv"] == ["serve"]][-1]["pid"]
        cli.proc.send_signal(signum)
        code, _out, err = cli.finish()
    finally:
        if cli.proc.poll() is None:
            cli.proc.kill()
    assert code == expected
    assert f'signal={signal.Signals(signum).name}' in err  # the fake logged the signal it got: forwarded once
    assert err.count("shutting down") == 1
    assert "ready at http://127.0.0.1" in err
    assert gone(child)


def test_killed_server_exit_code_is_128_plus_signal(ollama_bin, base_env, tmp_path):
    port = free_port()
    cli = Cli(["serve", "--cpu", "--ollama-bin", str(ollama_bin()), "--host", f"127.0.0.1:{port}"], base_env)
    try:
        wait_until(lambda: cli.saw("ready at http://127.0.0.1"))
        child = [c for c in recorded(tmp_path / "calls.jsonl") if c["argv"] == ["serve"]][-1]["pid"]
        os.kill(child, signal.SIGKILL)
        code, _out, _err = cli.finish()
    finally:
        if cli.proc.poll() is None:
            cli.proc.kill()
    assert code == 128 + signal.SIGKILL


def test_cli_errors_are_one_line(ollama_bin, base_env, tmp_path):
    code, _out, err = Cli(["serve", "--cpu", "--ollama-bin", str(tmp_path / "nope")], base_env).finish()
    assert code == 2  # the binary the user named does not exist: a usage error
    assert err.splitlines()[0] == f"ollama-ipex: error: --ollama-bin {tmp_path / 'nope'}: no such file"
    assert "Traceback" not in err
    env = {**base_env, "FAKE_OLLAMA_CRASH": "4"}
    code, _out, err = Cli(["serve", "--cpu", "--ollama-bin", str(ollama_bin()), "--host", f"127.0.0.1:{free_port()}"],
                          env).finish()
    assert code == 4  # the server failed to start
    assert "ollama-ipex: error: ollama serve exited with code 4 while starting" in err
    assert "Traceback" not in err

