"""The Ollama section of `ipex status`, with the fake binary on PATH and a fake server running."""

from __future__ import annotations

import os

from ipex_integration.ollama.launch import resolve_ollama_plan
from ipex_integration.ollama.status import checks
from ipex_integration.plan.model import DeviceRequest
from ipex_integration.runtime.model import Backend
from ipex_integration.status.context import StatusContext
from ipex_integration.status.model import Level
from ipex_integration.status.sections import collect_status

from .helpers import MACHINES, free_port, install_fake_ollama, post_json


def context(environ, machine="none", **request):
    plan = resolve_ollama_plan(DeviceRequest(**request), environ=environ, hardware=MACHINES[machine]) if request else None
    return StatusContext(hardware=MACHINES[machine], environ=environ, plan=plan)


def rows(ctx):
    return {c.name: c for c in checks(ctx)}


def test_everything_there(tmp_path, fake_server):
    binary = install_fake_ollama(tmp_path / "inst", "upstream")
    url = fake_server(FAKE_OLLAMA_VULKAN_GPUS="Intel(R) Arc(tm) A770 Graphics (DG2)", OLLAMA_VULKAN="1")
    post_json(f"{url}/api/generate", {"model": "llama3.2", "prompt": "hi", "stream": False, "options": {"num_predict": 1}})
    environ = {**os.environ, "PATH": str(binary.parent), "OLLAMA_HOST": url}
    found = rows(context(environ))
    assert found["binary"].level is Level.OK and found["binary"].detail == f"{binary} (PATH)"
    assert found["build"].detail.startswith("ollama 0.12.6 (upstream, cuda+vulkan)")
    assert found["server"].level is Level.OK and found["server"].detail == f"answers at {url} (version 0.12.6)"
    assert found["device in use"].detail == "llama3.2:latest: 100% GPU"


def test_nothing_there(tmp_path):
    environ = {**os.environ, "PATH": str(tmp_path), "OLLAMA_HOST": f"127.0.0.1:{free_port()}"}
    found = rows(context(environ))
    assert found["binary"].level is Level.MISSING and "ollama.com/download" in found["binary"].fix
    assert found["server"].level is Level.MISSING and "ollama-ipex serve" in found["server"].fix
    assert "device in use" not in found


def test_not_ollama_on_path(tmp_path):
    fake = tmp_path / "ollama"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    environ = {**os.environ, "PATH": str(tmp_path), "OLLAMA_HOST": f"127.0.0.1:{free_port()}"}
    found = rows(context(environ))
    assert found["build"].level is Level.ERROR and "is not ollama" in found["build"].detail


def test_build_that_cannot_drive_the_planned_intel_gpu(tmp_path):
    binary = install_fake_ollama(tmp_path / "inst", "cuda-only")
    environ = {**os.environ, "PATH": str(binary.parent), "OLLAMA_HOST": f"127.0.0.1:{free_port()}"}
    found = rows(context(environ, "arc", backend=Backend.XPU, source="--xpu"))
    assert found["Intel GPU"].level is Level.WARNING and "no Vulkan or SYCL backend" in found["Intel GPU"].detail


def test_device_from_our_serve_log_when_no_model_is_loaded(tmp_path, fake_server):
    from ipex_integration.ollama.serve import default_log_path, parse_host

    url = fake_server()
    environ = {**os.environ, "PATH": str(tmp_path), "OLLAMA_HOST": url}
    log = default_log_path(parse_host(url), environ)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text('time=x level=INFO source=routes.go:1475 msg="Listening on 127.0.0.1:1 (version 0.12.6)"\n'
                   'time=x level=INFO source=types.go:42 msg="inference compute" id=0 filter_id="" library=CUDA '
                   'compute=8.9 name=CUDA0 description="NVIDIA GeForce RTX 4090" libdirs=ollama,cuda_v12 '
                   'driver=12.8 pci_id=0000:01:00.0 type=discrete total="24.0 GiB" available="23.5 GiB"\n')
    assert rows(context(environ))["device in use"].detail == "no model loaded; its log reports CUDA NVIDIA GeForce RTX 4090"


def test_section_is_hooked_into_ipex_status(tmp_path):
    environ = {**os.environ, "PATH": str(tmp_path), "OLLAMA_HOST": f"127.0.0.1:{free_port()}"}
    ollama_rows = [c for c in collect_status(context(environ)) if c.section == "Ollama"]
    assert [c.name for c in ollama_rows] == ["binary", "server"]
