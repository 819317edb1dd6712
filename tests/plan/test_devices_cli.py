"""`ipex devices` and `ipex --help-gpu`: for real on this machine, and on fake sysfs trees with fake
interpreters (the real hardware and runtime probes run against them)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from ipex_integration.cli import devices
from ipex_integration.cli.main import build_parser, main
from ipex_integration.hardware.probe import probe_hardware
from ipex_integration.plan.helpgpu import HELP_GPU
from ipex_integration.proc import run_command
from ipex_integration.runtime.model import Backend, Environment
from tests.fakes.interpreters import make_fake_python
from tests.fakes.sysfs import fake_nvidia_smi_for, fake_nvml_for, make_layout


@pytest.fixture(scope="module")
def pythons(tmp_path_factory):
    root = tmp_path_factory.mktemp("pythons")
    return {kind: str(make_fake_python(root, kind, name=kind)) for kind in ("cuda", "xpu", "cpu", "notorch", "hang")}


def fake_machine(tmp_path, layout, pythons, argv=(), *, registered=("cuda", "xpu", "cpu"), current="cpu",
                 extra=(), timeout=None, user_env=None):
    """Run `ipex devices ARGV` in-process on a fake sysfs tree; return (exit code, output)."""
    root = make_layout(tmp_path / "root", layout)
    pairs = [(Environment(b, pythons[b], Backend(b)), None) for b in registered]
    pairs += [(e, None) for e in extra]
    pairs.append((Environment("current", pythons[current], None, registered=False), None))
    args = build_parser().parse_args(["devices", *argv] + (["--probe-timeout", str(timeout)] if timeout else []))
    out = io.StringIO()
    code = devices.run(
        args, environ={"IPEX_INTEGRATION_HOME": os.environ["IPEX_INTEGRATION_HOME"], **(user_env or {})}, root=root,
        nvml=fake_nvml_for(layout), runner=fake_nvidia_smi_for(layout, fallback=run_command),
        environments=pairs, out=out,
    )
    return code, out.getvalue()


def choice_line(text: str, label: str) -> str:
    return next(line for line in text.splitlines() if line[2:].startswith(label + " ") and "->" in line)


# --- for real ---------------------------------------------------------------------------------------------


def test_devices_runs_for_real_on_this_machine(tmp_path):
    env = {**os.environ, "IPEX_INTEGRATION_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "ipex_integration.cli.main", "devices"]
    text = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert text.returncode == 0, text.stderr
    as_json = subprocess.run(cmd + ["--json"], capture_output=True, text=True, env=env, timeout=120)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    auto = next(c for c in data["choices"] if c["choice"] == "auto")
    assert any(e["name"] == "current" and e["python"] for e in data["environments"])
    if not probe_hardware().gpus:  # this development machine: no GPU at all
        assert data["no_gpu"] is True
        assert "No GPU found: auto runs on CPU." in text.stdout
        assert auto["ok"] and auto["plan"]["backend"] == "cpu"
    else:  # a GPU machine: every GPU is listed
        assert data["no_gpu"] is False
        assert all(g["pci_slot"] in text.stdout for g in data["hardware"]["gpus"] if g["pci_slot"])


def test_bad_flags_are_a_one_line_error(capsys):
    assert main(["devices", "--cpu", "--xpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ipex: error: conflicting flags: --cpu and --force-intel-xpu",
                   "ipex: hint: drop --cpu or --force-intel-xpu"]


def test_negative_index_is_a_one_line_error(capsys):
    assert main(["devices", "--intel-device", "-1"]) == 2
    assert "ipex: error: --intel-device -1: device numbers start at 0" in capsys.readouterr().err


def test_help_gpu(capsys):
    assert main(["--help-gpu"]) == 0
    assert capsys.readouterr().out.strip() == HELP_GPU.strip()


def test_help_gpu_names_only_real_flags():
    """Every --flag in the help text exists on `ipex devices` (or is a launcher flag)."""
    import re

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices["devices"]  # noqa: SLF001 (argparse keeps them here)
    known = {opt for action in sub._actions for opt in action.option_strings} | {"--dry-run", "--help-gpu"}
    named = set(re.findall(r"(--[a-z][a-z0-9-]*)", HELP_GPU))
    assert named - known == set()
    for word in ("CUDA > Intel XPU > CPU", "IPEX_DEVICE", "ONEAPI_DEVICE_SELECTOR=level_zero:N", "comfyui-cuda",
                 "comfyui-xpu", "always wins", "CUDA_VISIBLE_DEVICES=N"):
        assert word in HELP_GPU


# --- fake machines ----------------------------------------------------------------------------------------


def test_nvidia_and_arc(tmp_path, pythons):
    code, text = fake_machine(tmp_path, "nvidia_arc", pythons)
    assert code == 0
    assert "NVIDIA 0  NVIDIA GeForce RTX 4090" in text
    assert "0000:01:00.0" in text and "driver nvidia 550.54.15" in text
    assert "Intel 0   Intel Arc A770 Graphics" in text and "/dev/dri/renderD129" in text
    assert "* auto -> CUDA on NVIDIA 0 (NVIDIA GeForce RTX 4090), environment cuda" in text
    assert "xpu  -> XPU on Intel 0 (Intel Arc A770 Graphics), environment xpu" in text
    assert "cpu  -> CPU, environment cpu" in text
    assert "torch 2.8.0+cu128 (cuda build); runs CUDA, CPU" in text
    assert "cuda:0 NVIDIA H100 80GB HBM3" in text  # the (fake) torch's own device list


def test_igpu_and_arc_prefers_the_discrete_gpu(tmp_path, pythons):
    code, text = fake_machine(tmp_path, "igpu_arc", pythons, registered=("xpu", "cpu"))
    assert "Intel 0  Intel" in text and "integrated" in text
    assert "Intel 1  Intel Arc B580" in text and "discrete" in text
    assert "* auto -> XPU on Intel 1 (Intel Arc B580" in text
    assert "skipped integrated Intel 0" in text


def test_intel_device_flag_shows_that_plan(tmp_path, pythons):
    code, text = fake_machine(tmp_path, "igpu_arc", pythons, ["--intel-device", "0"], registered=("xpu",))
    line = choice_line(text, "selected (--intel-device 0)")
    assert line.startswith("* ") and "XPU on Intel 0" in line
    assert "set ONEAPI_DEVICE_SELECTOR=level_zero:0" in text
    assert "used because you asked for it" in text


def test_cuda_device_flag_shows_that_plan(tmp_path, pythons):
    code, text = fake_machine(tmp_path, "nvidia_only", pythons, ["--cuda-device", "1"], registered=("cuda",),
                              user_env={"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "0"})
    assert code == 0
    assert "kept CUDA_DEVICE_ORDER=PCI_BUS_ID (yours)" in text
    assert "warning: --cuda-device 1 replaces your CUDA_VISIBLE_DEVICES='0'" in text
    assert "NVIDIA 1  NVIDIA H100 80GB HBM3" in text and "0000:2a:00.0" in text
    assert "CUDA on NVIDIA 1 (NVIDIA H100 80GB HBM3)" in choice_line(text, "selected (--cuda-device 1)")
    assert "set CUDA_VISIBLE_DEVICES=1" in text


def test_out_of_range_index_shows_the_error_with_the_valid_range(tmp_path, pythons):
    code, text = fake_machine(tmp_path, "nvidia_only", pythons, ["--cuda-device", "5"], registered=("cuda",))
    assert code == 0  # a listing, not a launch: the error is shown in its row
    line = choice_line(text, "selected (--cuda-device 5)")
    assert "error: --cuda-device 5: there is no NVIDIA GPU 5; valid: 0-1" in line


def test_no_gpu_says_so_and_auto_runs_on_cpu(tmp_path, pythons):
    code, text = fake_machine(tmp_path, "no_gpu", pythons, registered=())
    assert "No GPU found: auto runs on CPU." in text
    assert "* auto -> CPU, environment current" in text
    assert "xpu  -> error: XPU requested by --force-intel-xpu, but no Intel GPU was found" in text


def test_amd_only(tmp_path, pythons):
    code, text = fake_machine(tmp_path, "amd_only", pythons, registered=())
    assert "AMD" in text and "(not supported)" in text
    assert "* auto -> CPU" in text and "ROCm is not supported" in text


def test_missing_and_hanging_interpreters_are_shown_not_fatal(tmp_path, pythons):
    gone = Environment("cpu", str(tmp_path / "gone" / "bin" / "python"), Backend.CPU)
    hang = Environment("xpu", pythons["hang"], Backend.XPU)
    code, text = fake_machine(tmp_path, "igpu_arc", pythons, registered=(), extra=(hang, gone), timeout=1)
    assert code == 0
    assert "MISSING (interpreter not found" in text
    assert "ERROR: probe timed out after 1 s" in text
    assert "xpu  -> error:" in text and "ipex env create xpu" in text


def test_json(tmp_path, pythons):
    code, text = fake_machine(tmp_path, "nvidia_arc", pythons, ["--json"])
    data = json.loads(text)
    assert data["no_gpu"] is False
    assert [g["vendor"] for g in data["hardware"]["gpus"]] == ["nvidia", "intel"]
    by_name = {e["name"]: e for e in data["environments"]}
    assert by_name["cuda"]["can_run"] == ["cuda", "cpu"] and by_name["cuda"]["state"] == "ok"
    choices = {c["choice"]: c for c in data["choices"]}
    assert choices["auto"]["selected"] and choices["auto"]["plan"]["env"]["CUDA_VISIBLE_DEVICES"] == "0"
    assert choices["xpu"]["plan"]["env"]["ONEAPI_DEVICE_SELECTOR"] == "level_zero:0"
    assert choices["cpu"]["plan"]["env"] == {"CUDA_VISIBLE_DEVICES": "", "ONEAPI_DEVICE_SELECTOR": "opencl:cpu"}


def test_json_error_row(tmp_path, pythons):
    code, text = fake_machine(tmp_path, "no_gpu", pythons, ["--json", "--xpu"], registered=())
    choices = {c["choice"]: c for c in json.loads(text)["choices"]}
    selected = choices["selected (--force-intel-xpu)"]
    assert selected["selected"] and not selected["ok"] and "no Intel GPU was found" in selected["error"]
    assert "drop --force-intel-xpu" in selected["hint"]
