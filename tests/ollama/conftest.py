"""Fixtures for the Ollama tests: a clean environment (no OLLAMA_*/FAKE_* leaking in from the developer's
shell), fake ollama installs, and running fake servers that are always stopped."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from ipex_integration.ollama.serve import server_version

from .helpers import free_port, install_fake_ollama, wait_until


@pytest.fixture(autouse=True)
def clean_ollama_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("OLLAMA_", "FAKE_OLLAMA_", "GGML_VK", "FAKE_COMFYUI")) or name in (
                "COMFYUI_PATH", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "SYCL_CACHE_DIR",
                "ZES_ENABLE_SYSMAN", "OPENAI_API_KEY"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAKE_OLLAMA_LOAD_S", "0.05")


@pytest.fixture
def ollama_bin(tmp_path):
    """Factory: a fake ollama install of a given layout (see helpers.LAYOUTS)."""
    def make(layout: str = "upstream") -> Path:
        return install_fake_ollama(tmp_path / f"ollama-{layout}", layout)
    return make


@pytest.fixture
def fake_server(tmp_path):
    """Factory: start `fake_ollama.py serve` on a free port with extra variables; stopped at teardown."""
    started: list[subprocess.Popen] = []

    def start(**env: str) -> str:
        port = free_port()
        child_env = {**os.environ, "OLLAMA_HOST": f"127.0.0.1:{port}", **env}
        binary = install_fake_ollama(tmp_path / f"srv-{port}", "upstream")
        proc = subprocess.Popen([str(binary), "serve"], env=child_env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: server_version(url, timeout=0.5))
        return url

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

