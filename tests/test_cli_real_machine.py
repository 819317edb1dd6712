"""`ipex devices` and `ipex status` as real subprocesses on this machine, through the installed console script.

No fakes: real sysfs, real NVML (or its absence), the real interpreter. On a machine without a GPU (CI, the
dev box) both must say so plainly; on a GPU machine they must list what the in-process probe finds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ipex_integration.hardware import probe_hardware

IPEX = shutil.which("ipex", path=str(Path(sys.executable).parent)) or shutil.which("ipex")
pytestmark = pytest.mark.skipif(IPEX is None, reason="the `ipex` console script is not installed")
TORCH_HERE = importlib.util.find_spec("torch") is not None  # looked up, not imported


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """One IPEX_INTEGRATION_HOME for the module, so the runtime-probe cache is shared between the commands."""
    return tmp_path_factory.mktemp("ipex-home-real")


@pytest.fixture(scope="module")
def hardware():
    return probe_hardware()


def ipex(home, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("IPEX_DEVICE", "CUDA_VISIBLE_DEVICES",
                                                           "ONEAPI_DEVICE_SELECTOR", "ZE_AFFINITY_MASK")}
    env["IPEX_INTEGRATION_HOME"] = str(home)
    done = subprocess.run([IPEX, *args], capture_output=True, text=True, timeout=180, env=env)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_devices(home, hardware):
    done = ipex(home, "devices")
    assert done.returncode == 0, done.stderr
    if not hardware.gpus:
        assert "No GPU found" in done.stdout
    for gpu in hardware.gpus:
        assert gpu.label in done.stdout


def test_devices_json(home, hardware):
    done = ipex(home, "devices", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["no_gpu"] is (not hardware.gpus)
    assert [g["pci_slot"] for g in data["hardware"]["gpus"]] == [g.pci_slot for g in hardware.gpus]


def test_status(home, hardware):
    done = ipex(home, "status")
    assert done.returncode in (0, 1), done.stderr
    lines = done.stdout.rstrip().splitlines()
    assert lines[0] == "GPUs"  # not a terminal: plain text
    if not hardware.gpus:
        assert "no GPU found" in done.stdout and "work runs on the CPU" in done.stdout
        # With torch in this interpreter the CPU path works (exit 0); without it nothing can run (exit 1).
        assert done.returncode == (0 if TORCH_HERE else 1)
        if TORCH_HERE:
            assert lines[-1].startswith("usable: work runs on CPU")
    for gpu in hardware.gpus:
        assert gpu.label in done.stdout
    assert lines[-1].startswith("usable" if done.returncode == 0 else "not usable")


def test_status_json(home, hardware):
    done = ipex(home, "status", "--json")
    data = json.loads(done.stdout)
    assert data["usable"] is (done.returncode == 0)
    assert len(data["hardware"]["gpus"]) == len(hardware.gpus)
    sections = {c["section"] for c in data["checks"]}
    assert {"GPUs", "Drivers", "Environments", "IPEX"} <= sections
    if not hardware.gpus:
        (gpu_row,) = [c for c in data["checks"] if c["section"] == "GPUs" and c["name"] == "GPU"]
        assert gpu_row["level"] == "warning" and "no GPU found" in gpu_row["detail"]


def test_status_for_a_missing_intel_gpu_exits_1(home, hardware):
    if hardware.intel:
        pytest.skip("this machine has an Intel GPU")
    done = ipex(home, "status", "--force-intel-xpu")
    assert done.returncode == 1
    assert "no Intel GPU was found" in done.stdout


def test_bad_input_is_one_line_and_exit_2(home):
    done = ipex(home, "status", "--cpu", "--xpu")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == "ipex: error: conflicting flags: --cpu and --force-intel-xpu"


def test_cli_process_never_imports_torch(home):
    code = ("import sys, io, contextlib\n"
            "from ipex_integration.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['status', '--json']); main(['devices', '--json'])\n"
            "print('torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "IPEX_INTEGRATION_HOME": str(home)})
    assert done.stdout.strip() == "False", done.stderr
