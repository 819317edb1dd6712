"""probe_runtime against fake interpreters (a real Python importing a fake torch that answers like a CUDA, XPU or
CPU build would; see tests/fakes/interpreters.py), and its cache."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from ipex_integration import paths
from ipex_integration.runtime.model import Backend
from ipex_integration.plan.resolve import probe_everything
from ipex_integration.runtime.model import Environment
from ipex_integration.runtime.probe import probe_runtime, probe_runtimes
from tests.fakes.interpreters import (
    ARC_A770,
    H100,
    INTEL_IGPU,
    RTX_2080,
    fake_site_packages,
    make_fake_python,
    write_fake_torch,
)


def test_cuda_torch_seeing_an_h100(tmp_path):
    info = probe_runtime(str(make_fake_python(tmp_path, "cuda")), use_cache=False)
    assert info.ok, info.error
    assert (info.torch_version, info.torch_build, info.cuda_version) == ("2.8.0+cu128", "cuda", "12.8")
    assert info.cuda_available and not info.xpu_available
    (dev,) = info.devices
    assert dev.backend is Backend.CUDA and dev.index == 0
    assert dev.name == "NVIDIA H100 80GB HBM3"
    assert dev.total_memory_bytes == H100["total_memory"]
    assert dev.capability == "9.0"
    assert dev.bf16 is True
    assert dev.multiprocessors == 132
    assert dev.uuid == "GPU-" + H100["uuid"]  # the form NVML and nvidia-smi use
    assert dev.pci_slot == "0000:1b:00.0"
    assert info.can_run(Backend.CUDA) and not info.can_run(Backend.XPU)


def test_cuda_bf16_per_device(tmp_path):
    python = make_fake_python(tmp_path, "cuda", cuda_devices=[H100, RTX_2080])
    info = probe_runtime(str(python), use_cache=False)
    assert [d.name for d in info.devices] == ["NVIDIA H100 80GB HBM3", "NVIDIA GeForce RTX 2080"]
    assert [d.bf16 for d in info.devices] == [True, False]  # Turing (7.5) has no native bf16
    assert [d.capability for d in info.devices] == ["9.0", "7.5"]


def test_xpu_torch_seeing_an_arc_a770_with_ipex(tmp_path):
    python = make_fake_python(tmp_path, "xpu", ipex_version="2.8.10+xpu")
    info = probe_runtime(str(python), use_cache=False)
    assert info.ok, info.error
    assert (info.torch_version, info.torch_build, info.cuda_version) == ("2.8.0+xpu", "xpu", None)
    assert info.xpu_available and not info.cuda_available
    (dev,) = info.devices
    assert dev.backend is Backend.XPU
    assert dev.name == "Intel(R) Arc(TM) A770 Graphics"
    assert dev.total_memory_bytes == ARC_A770["total_memory"]
    assert dev.multiprocessors == 512
    assert dev.bf16 is True
    assert dev.capability == ARC_A770["driver_version"]  # no architecture reported: the driver version
    assert info.ipex_version == "2.8.10+xpu"


def test_xpu_architecture_and_integrated_when_torch_reports_them(tmp_path):
    igpu = {**INTEL_IGPU, "architecture": "xe_lpg", "is_integrated": True}
    python = make_fake_python(tmp_path, "xpu", xpu_devices=[igpu, ARC_A770])
    info = probe_runtime(str(python), use_cache=False)
    assert [(d.index, d.capability, d.integrated) for d in info.devices] == [
        (0, "xe_lpg", True),
        (1, ARC_A770["driver_version"], None),
    ]


def test_cpu_torch(tmp_path):
    info = probe_runtime(str(make_fake_python(tmp_path, "cpu")), use_cache=False)
    assert info.ok and info.torch_build == "cpu" and info.devices == ()
    assert info.can_run(Backend.CPU) and not info.can_run(Backend.CUDA)
    assert info.ipex_version is None


def test_no_torch(tmp_path):
    info = probe_runtime(str(make_fake_python(tmp_path, "notorch")), use_cache=False)
    assert info.ok
    assert not info.has_torch and info.torch_error is None
    assert not info.can_run(Backend.CPU)


def test_torch_that_fails_to_import_is_a_field_not_a_crash(tmp_path):
    python = make_fake_python(tmp_path, "cuda", import_error="libcudnn.so.9: cannot open shared object file")
    info = probe_runtime(str(python), use_cache=False)
    assert info.ok
    assert not info.has_torch
    assert "torch 2.8.0+cu128 is installed" in info.torch_error
    assert "libcudnn.so.9" in info.torch_error


def test_a_raising_driver_call_becomes_a_note(tmp_path):
    python = make_fake_python(tmp_path, "cuda", cuda_error="CUDA driver initialization failed")
    info = probe_runtime(str(python), use_cache=False)
    assert info.ok and info.torch_build == "cuda"
    assert not info.cuda_available
    assert any("CUDA driver initialization failed" in n for n in info.notes)


def test_hanging_probe_times_out_with_a_message(tmp_path):
    python = make_fake_python(tmp_path, "hang")
    start = time.monotonic()
    info = probe_runtime(str(python), timeout=1.0, use_cache=False)
    assert time.monotonic() - start < 10
    assert not info.ok
    assert info.error.startswith("probe timed out after 1 s")


def test_probe_timeout_kills_the_interpreters_children(tmp_path):
    # An "interpreter" that started a helper and hangs: the timeout must not leave the helper behind.
    pidfile = tmp_path / "helper.pid"
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nsleep 60 &\necho $! > {pidfile}\nwait\n")
    python.chmod(0o755)
    info = probe_runtime(str(python), timeout=1.0, use_cache=False)
    assert info.error.startswith("probe timed out after 1 s")
    helper = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while _running(helper) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _running(helper)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_three_hung_interpreters_take_one_timeout_not_three(tmp_path):
    hung = [str(make_fake_python(tmp_path, "hang", name=f"hang{i}")) for i in range(3)]
    good = str(make_fake_python(tmp_path, "cpu"))
    start = time.monotonic()
    infos = probe_runtimes([*hung, good], timeout=1.5, use_cache=False)
    assert time.monotonic() - start < 3.5  # one after another: 4.5 s and more
    assert [i.python for i in infos] == [*hung, good]  # the order given
    assert [i.ok for i in infos] == [False, False, False, True]
    assert all(i.error.startswith("probe timed out after 1.5 s") for i in infos[:3])


def test_ipex_status_and_devices_probe_every_environment_at_once(tmp_path):
    # probe_everything is what `ipex status` and `ipex devices` call.
    from ipex_integration.hardware.model import HardwareReport

    envs = [(Environment(b.value, str(make_fake_python(tmp_path, "hang", name=b.value)), b), None)
            for b in (Backend.CUDA, Backend.XPU, Backend.CPU)]
    start = time.monotonic()
    _hardware, pairs = probe_everything(environ={**os.environ, "IPEX_INTEGRATION_HOME": str(tmp_path / "home")},
                                        hardware=HardwareReport(gpus=()), environments=envs, probe_timeout=1.5)
    assert time.monotonic() - start < 3.5
    assert [info.ok for _env, info in pairs] == [False, False, False]


def test_crashing_probe_reports_exit_status_and_stderr(tmp_path):
    info = probe_runtime(str(make_fake_python(tmp_path, "crash")), use_cache=False)
    assert not info.ok
    assert "exited with status" in info.error
    assert "fake segfault" in info.error  # the stderr tail


def test_garbage_output(tmp_path):
    info = probe_runtime(str(make_fake_python(tmp_path, "garbage")), use_cache=False)
    assert not info.ok
    assert "no readable answer" in info.error
    assert "Segmentation fault?" in info.error


def test_missing_interpreter(tmp_path):
    info = probe_runtime(str(tmp_path / "nope" / "bin" / "python"))
    assert not info.ok
    assert info.error.startswith("interpreter not found")


def test_bare_command_name_is_looked_up_on_path(tmp_path, monkeypatch):
    python = make_fake_python(tmp_path, "cpu")
    monkeypatch.setenv("PATH", str(python.parent))
    info = probe_runtime("python", use_cache=False)
    assert info.ok and info.torch_version == "2.8.0+cpu"
    assert info.python == "python"


def test_child_env_sets_pci_bus_order_but_user_value_wins(tmp_path, recording_runner, monkeypatch):
    python = str(make_fake_python(tmp_path, "cpu"))
    probe_runtime(python, runner=recording_runner, use_cache=False)
    assert recording_runner.calls[-1]["env"]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
    probe_runtime(python, runner=recording_runner, use_cache=False)
    assert recording_runner.calls[-1]["env"]["CUDA_DEVICE_ORDER"] == "FASTEST_FIRST"


# --- cache ---------------------------------------------------------------------------------------------------


def _cache_files():
    folder = paths.cache_dir() / "runtime-probe"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def test_second_probe_comes_from_the_cache(tmp_path, recording_runner):
    python = str(make_fake_python(tmp_path, "cuda"))
    first = probe_runtime(python, runner=recording_runner)
    second = probe_runtime(python, runner=recording_runner)
    assert len(recording_runner.calls) == 1
    assert second == first
    assert len(_cache_files()) == 1


def test_installing_another_torch_invalidates_the_cache(tmp_path, recording_runner):
    python = make_fake_python(tmp_path, "cpu")
    assert probe_runtime(str(python), runner=recording_runner).torch_version == "2.8.0+cpu"
    # What pip does on an upgrade: remove the old distribution, write the new one.
    site = fake_site_packages(python)
    shutil.rmtree(site / "torch")
    shutil.rmtree(site / "torch-2.8.0+cpu.dist-info")
    write_fake_torch(site, "xpu", torch_version="2.9.0+xpu")
    info = probe_runtime(str(python), runner=recording_runner)
    assert len(recording_runner.calls) == 2
    assert (info.torch_version, info.torch_build) == ("2.9.0+xpu", "xpu")


def test_visibility_variables_are_part_of_the_key(tmp_path, recording_runner, monkeypatch):
    python = str(make_fake_python(tmp_path, "cuda"))
    probe_runtime(python, runner=recording_runner)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    probe_runtime(python, runner=recording_runner)
    assert len(recording_runner.calls) == 2
    assert recording_runner.calls[1]["env"]["CUDA_VISIBLE_DEVICES"] == "1"
    assert len(_cache_files()) == 2


def test_corrupt_cache_file_is_ignored_and_rewritten(tmp_path, recording_runner):
    python = str(make_fake_python(tmp_path, "cpu"))
    probe_runtime(python, runner=recording_runner)
    (cache_file,) = _cache_files()
    cache_file.write_text("{ not json")
    info = probe_runtime(python, runner=recording_runner)
    assert info.ok and info.torch_version == "2.8.0+cpu"
    assert len(recording_runner.calls) == 2
    assert json.loads(cache_file.read_text())["info"]["torch_version"] == "2.8.0+cpu"
    assert [p.name for p in cache_file.parent.iterdir()] == [cache_file.name]  # no temp files left


def test_failed_probes_are_not_cached(tmp_path, recording_runner):
    python = str(make_fake_python(tmp_path, "crash"))
    probe_runtime(python, runner=recording_runner)
    probe_runtime(python, runner=recording_runner)
    assert len(recording_runner.calls) == 2
    assert _cache_files() == []


def test_use_cache_false_probes_again_and_refreshes(tmp_path, recording_runner):
    python = str(make_fake_python(tmp_path, "cpu"))
    probe_runtime(python, runner=recording_runner)
    probe_runtime(python, runner=recording_runner, use_cache=False)
    probe_runtime(python, runner=recording_runner)
    assert len(recording_runner.calls) == 2


@pytest.mark.parametrize("kind", ["cuda", "xpu", "cpu"])
def test_cached_answer_round_trips(tmp_path, kind, recording_runner):
    python = str(make_fake_python(tmp_path, kind, **({"ipex_version": "2.8.10+xpu"} if kind == "xpu" else {})))
    fresh = probe_runtime(python, runner=recording_runner)
    assert probe_runtime(python, runner=recording_runner) == fresh
    assert len(recording_runner.calls) == 1
