"""The Ollama test double reports the memory it is configured with (issue 14), not a constant 16 GiB."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .helpers import FAKE_OLLAMA, free_port


def _inference_lines(env_extra: dict[str, str]) -> list[str]:
    env = dict(os.environ, OLLAMA_HOST=f"127.0.0.1:{free_port()}", **env_extra)
    proc = subprocess.Popen([sys.executable, str(FAKE_OLLAMA), "serve"], env=env, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in proc.stderr:
            if "inference compute" in line:
                lines.append(line)
                break
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    return lines


@pytest.mark.parametrize(("env", "total", "available"), [
    ({"FAKE_OLLAMA_CUDA_GPUS": "NVIDIA H200", "FAKE_OLLAMA_DEVICE_MEMORY_GIB": "140"}, "140.0 GiB", "139.5 GiB"),
    ({"FAKE_OLLAMA_CUDA_GPUS": "NVIDIA RTX 4090"}, "16.0 GiB", "15.5 GiB"),
    ({"FAKE_OLLAMA_CUDA_GPUS": "", "FAKE_OLLAMA_HOST_MEMORY_GIB": "8"}, "8.0 GiB", "7.8 GiB"),
])
def test_reported_memory_follows_the_knob(env, total, available):
    (line,) = _inference_lines(env)[:1]
    assert f'total="{total}"' in line and f'available="{available}"' in line
