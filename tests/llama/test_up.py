"""`ipex up --engine llama-server`: llama.cpp's server placed like Ollama, beside the fake ComfyUI, on a fake
two-GPU machine (an RTX 4090 and an Arc A770): the dry run, then real starts of the fake ComfyUI and the fake
llama-server (tests/fakes/fake_llama_server.py) under one supervisor."""

from __future__ import annotations

import io
import json
import os
import signal
import socket

import pytest

from ipex_integration.cli.up import up_main
from tests.fakes.comfyui import build_fake_comfyui
from tests.ollama.helpers import MACHINES, comfyui_resolver, free_port, get_json, recorded
from tests.ollama.test_up import Up, _dead_within, up_env

from .helpers import install, model_file

# A build with CUDA and SYCL (as built with -DGGML_CUDA=ON -DGGML_SYCL=ON): either GPU can be its device.
CUDA_SYCL = ("libggml-cuda.so", "libggml-sycl.so", "libggml-base.so")


@pytest.fixture
def world(tmp_path):
    return {"comfy": build_fake_comfyui(tmp_path / "ComfyUI", "0.3.47"),
            "binary": install(tmp_path / "llama", CUDA_SYCL),
            "model": model_file(tmp_path / "models" / "tiny.gguf"), "tmp": tmp_path}


def dry_run(world, *argv: str, environ: dict | None = None) -> tuple[int, str]:
    out = io.StringIO()
    hardware = MACHINES["nvidia_arc"]
    code = up_main(["--dry-run", "--comfyui", str(world["comfy"]), *argv], environ=environ or dict(os.environ),
                   hardware=hardware, resolve=comfyui_resolver(hardware, world["tmp"]), out=out, err=io.StringIO())
    return code, out.getvalue()


def llama_args(world, port: int) -> list[str]:
    return ["--engine", "llama-server", "--model", world["model"], "--llama-server", str(world["binary"]),
            "--host", f"127.0.0.1:{port}"]


def test_dry_run_json_places_llama_server_on_the_other_gpu(world):
    code, text = dry_run(world, "--json", *llama_args(world, 9091))
    data = json.loads(text)
    assert code == 0 and data["engine"] == "llama-server" and "ollama" not in data
    assert data["comfyui"]["plan"]["backend"] == "cuda" and data["comfyui"]["plan"]["env"]["CUDA_VISIBLE_DEVICES"] == "0"
    llama = data["llama_server"]
    assert llama["plan"]["backend"] == "xpu" and llama["where"].endswith("via sycl")
    serve = llama["serve"]
    assert serve["env"]["ONEAPI_DEVICE_SELECTOR"] == "level_zero:0" and serve["env"]["CUDA_VISIBLE_DEVICES"] == "-1"
    assert serve["url"] == "http://127.0.0.1:9091" and serve["argv"][0] == str(world["binary"])
    assert serve["argv"][serve["argv"].index("--n-gpu-layers") + 1] == "999"  # every layer on the Arc
    assert "llama-server on xpu:0 (Intel Arc A770 Graphics): the other GPU" in data["placement"]["reasons"]


def test_dry_run_text_with_llama_server_on_the_nvidia_gpu(world):
    code, text = dry_run(world, *llama_args(world, 9092), "--ollama-device", "cuda")
    assert code == 0
    assert "placement:   llama-server on cuda:0 (NVIDIA GeForce RTX 4090): --ollama-device cuda" in text
    assert "[ComfyUI] on XPU device 0 (Intel Arc A770 Graphics)" in text
    assert "[llama-server] on CUDA device 0 (NVIDIA GeForce RTX 4090) via cuda" in text
    # the SYCL backend of the same build must not also take the Arc that ComfyUI has
    assert "set:         CUDA_VISIBLE_DEVICES=0" in text and "set:         ONEAPI_DEVICE_SELECTOR=opencl:cpu" in text


def test_the_engine_variable_and_the_flags_that_do_not_go_together(world):
    environ = {**os.environ, "IPEX_LLM_ENGINE": "llama-server"}
    code, text = dry_run(world, "--json", "--model", world["model"], "--llama-server", str(world["binary"]),
                         environ=environ)
    assert code == 0 and json.loads(text)["engine"] == "llama-server"
    assert json.loads(text)["llama_server"]["serve"]["url"] == "http://127.0.0.1:8080"  # llama-server's default
    from ipex_integration.errors import UsageError

    with pytest.raises(UsageError, match="--ollama-bin goes with --engine ollama"):
        dry_run(world, *llama_args(world, 9093), "--ollama-bin", "/usr/bin/ollama")
    with pytest.raises(UsageError, match="--model goes with --engine llama-server"):
        dry_run(world, "--model", world["model"])
    with pytest.raises(UsageError, match="port in --host '127.0.0.1:x'"):
        dry_run(world, "--engine", "llama-server", "--model", world["model"], "--host", "127.0.0.1:x")


def llama_env(tmp_path, **extra: str) -> dict[str, str]:
    return up_env(tmp_path, FAKE_LLAMA_ENV_FILE=str(tmp_path / "llama.jsonl"), **extra)


def served(tmp_path) -> dict:
    return [c for c in recorded(tmp_path / "llama.jsonl") if "--version" not in c["argv"]][-1]


def test_starts_both_on_different_gpus_and_one_sigterm_stops_both(world, tmp_path):
    comfy_port, llama_port = free_port(), free_port()
    up = Up("nvidia_arc", ["--comfyui", str(world["comfy"]), "--port", str(comfy_port), *llama_args(world, llama_port)],
            llama_env(tmp_path, FAKE_LLAMA_LOADING_S="0.3"))
    try:
        report = json.loads(up.wait_for("FAKE_COMFYUI ").split("FAKE_COMFYUI ", 1)[1])
        up.wait_for("To see the GUI")
        assert report["device"] == "cuda:0" and report["env"]["CUDA_VISIBLE_DEVICES"] == "0"
        child = served(tmp_path)
        assert child["env"]["ONEAPI_DEVICE_SELECTOR"] == "level_zero:0" and child["env"]["CUDA_VISIBLE_DEVICES"] == "-1"
        assert child["argv"][child["argv"].index("--port") + 1] == str(llama_port) and world["model"] in child["argv"]
        assert get_json(f"http://127.0.0.1:{llama_port}/health") == {"status": "ok"}
        up.proc.send_signal(signal.SIGTERM)
        assert up.finish() == 0
    finally:
        if up.proc.poll() is None:
            up.proc.kill()
    err = "".join(up.err)
    assert ("ipex up: ComfyUI on CUDA device 0 (NVIDIA GeForce RTX 4090), llama-server on XPU device 0 "
            "(Intel Arc A770 Graphics) via sycl") in err
    assert f"llama-server ready at http://127.0.0.1:{llama_port} (GET /health answered)" in err  # after the 503s
    assert "SIGTERM: stopping comfyui and llama-server" in err and "stopped (signal SIGTERM)" in err
    assert _dead_within(report["pid"]) and _dead_within(child["pid"])
    assert any(line.startswith("llama-server | main: server is listening") for line in up.seen + list(up.lines.queue))


def test_sigkill_of_ipex_up_leaves_nothing_serving(world, tmp_path):
    comfy_port, llama_port = free_port(), free_port()
    up = Up("nvidia_arc", ["--comfyui", str(world["comfy"]), "--port", str(comfy_port), *llama_args(world, llama_port)],
            llama_env(tmp_path))
    try:
        report = json.loads(up.wait_for("FAKE_COMFYUI ").split("FAKE_COMFYUI ", 1)[1])
        up.wait_for("To see the GUI")
        llama_pid = served(tmp_path)["pid"]
        up.proc.kill()  # nothing of ours runs: only the parent-death signal can stop them
        up.finish()
    finally:
        if up.proc.poll() is None:
            up.proc.kill()
    assert _dead_within(report["pid"]) and _dead_within(llama_pid)
    for url in (f"http://127.0.0.1:{comfy_port}/system_stats", f"http://127.0.0.1:{llama_port}/health"):
        with pytest.raises(OSError):
            get_json(url, timeout=2)


def test_when_llama_server_dies_comfyui_is_stopped_and_llama_server_named(world, tmp_path):
    up = Up("nvidia_arc", ["--comfyui", str(world["comfy"]), "--port", str(free_port()),
                           *llama_args(world, free_port())], llama_env(tmp_path))
    try:
        report = json.loads(up.wait_for("FAKE_COMFYUI ").split("FAKE_COMFYUI ", 1)[1])
        os.kill(served(tmp_path)["pid"], signal.SIGKILL)
        assert up.finish() == 128 + signal.SIGKILL  # its code, as a shell reports a killed child
    finally:
        if up.proc.poll() is None:
            up.proc.kill()
    err = "".join(up.err)
    assert "llama-server exited with code 137; stopping comfyui" in err
    assert "stopped (llama-server exited); llama-server exit code 137, comfyui exit code" in err
    assert _dead_within(report["pid"])


def test_a_llama_server_that_cannot_start_fails_before_comfyui(world, tmp_path):
    up = Up("nvidia_arc", ["--comfyui", str(world["comfy"]), "--port", str(free_port()),
                           *llama_args(world, free_port())], llama_env(tmp_path, FAKE_LLAMA_CRASH="3"))
    assert up.finish() == 4  # a server that failed to start (docs/exit-codes.md)
    err = "".join(up.err)
    assert "ipex up: error: llama-server exited with code 3 while starting: error: failed to load model" in err
    assert not any("FAKE_COMFYUI" in line for line in up.seen + list(up.lines.queue))


def test_a_taken_port_is_refused_before_anything_starts(world, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = Up("nvidia_arc", ["--comfyui", str(world["comfy"]), "--port", str(free_port()),
                               *llama_args(world, port)], llama_env(tmp_path))
        assert up.finish() == 4
    err = "".join(up.err)
    assert f"port {port} on 127.0.0.1 is already in use: something else listens there, so llama-server" in err
    assert not [c for c in recorded(tmp_path / "llama.jsonl") if "--version" not in c["argv"]]
