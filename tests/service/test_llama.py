"""`ipex service install llama-server --model FILE`: a unit that runs llama.cpp's llama-server itself, with the
command and variables `prepare_llama_launch` built for the planned device (fake llama-server builds on a fake
two-GPU machine), the same hardening as the other units, loopback by default."""

from __future__ import annotations

import io
import re

import pytest

from ipex_integration.cli.common import run_cli
from ipex_integration.cli.main import build_parser
from ipex_integration.cli.service import cmd_install
from tests.llama.helpers import install, model_file
from tests.ollama.helpers import MACHINES

from .helpers import FakeSystemctl, machine, make_launchers

CUDA_SYCL = ("libggml-cuda.so", "libggml-sycl.so")


@pytest.fixture
def world(tmp_path):
    return {"units": tmp_path / "units", "bin": make_launchers(tmp_path / "venv" / "bin"),
            "binary": install(tmp_path / "llama", CUDA_SYCL), "model": model_file(tmp_path / "m" / "tiny.gguf"),
            "runner": FakeSystemctl(), "tmp": tmp_path}


def _install(world, *argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(["service", "install", *argv, "--unit-dir", str(world["units"])])
    out = io.StringIO()
    code = run_cli(lambda: cmd_install(args, environ={}, runner=world["runner"], machine=machine(world["bin"]),
                                       hardware=MACHINES["nvidia_arc"], out=out))
    return code, out.getvalue()


def _llama(world, *argv: str) -> tuple[int, str]:
    return _install(world, "llama-server", "--model", world["model"], "--llama-server", str(world["binary"]), *argv)


def _unit(world, name: str = "llama-server-ipex.service") -> list[str]:
    return (world["units"] / name).read_text().splitlines()


def _environment(lines: list[str]) -> dict[str, str]:
    return dict(re.fullmatch(r'Environment="([^=]+)=(.*)"', l).groups() for l in lines if l.startswith("Environment="))


def _hardening(lines: list[str]) -> list[str]:
    """The hardening block, less ReadWritePaths (what each program writes differs: ~/.ollama for Ollama)."""
    block = lines[lines.index('# Hardening (see docs/nix.md, "Nix and systemd")'):lines.index("[Install]")]
    return [line for line in block if not line.startswith("ReadWritePaths=")]


def test_the_unit_runs_llama_server_with_the_variables_of_its_build(world):
    code, out = _llama(world, "--intel-device", "0")
    assert code == 0 and "llama-server-ipex.service installed" in out
    lines = _unit(world)
    exec_words = next(l for l in lines if l.startswith("ExecStart=")).removeprefix("ExecStart=").split()
    assert exec_words == [str(world["binary"]), "--model", world["model"], "--host", "127.0.0.1", "--port", "8080",
                          "--n-gpu-layers", "999"]
    env = _environment(lines)
    assert env["ONEAPI_DEVICE_SELECTOR"] == "level_zero:0" and env["CUDA_VISIBLE_DEVICES"] == "-1"
    assert env["SYCL_CACHE_DIR"] == "%S/llama-server-ipex/sycl-cache"  # the unit's, not the installer's cache
    assert "DeviceAllow=char-drm rw" in lines and "User=alice" in lines
    assert "Description=llama.cpp's llama-server on Intel XPU device 0 (ipex-integration)" in lines
    assert "its variables below pin it" in lines[2]
    assert "note: llama-server: llama.cpp b6123 (cuda+sycl) on XPU device 0 (Intel Arc A770 Graphics) via sycl" in out
    # tmp_path is under /tmp, which the unit makes private
    assert "is under /tmp, which the unit makes private (PrivateTmp=yes)" in out


def test_on_cuda_the_sycl_backend_is_hidden_and_only_nvidia_devices_allowed(world):
    assert _llama(world, "--cuda")[0] == 0
    lines = _unit(world)
    env = _environment(lines)
    assert env["CUDA_VISIBLE_DEVICES"] == "0" and env["ONEAPI_DEVICE_SELECTOR"] == "opencl:cpu"
    assert "DeviceAllow=char-nvidia-uvm rw" in lines and "DeviceAllow=char-drm rw" not in lines


def test_hardening_is_shared(world, tmp_path):
    from tests.comfyui.helpers import resolver

    assert _llama(world, "--cuda")[0] == 0
    args = build_parser().parse_args(["service", "install", "ollama", "--cuda", "--ollama-bin", "/opt/ollama",
                                      "--unit-dir", str(world["units"])])
    assert cmd_install(args, environ={}, runner=world["runner"], resolve=resolver(tmp_path, cuda=1, xpu=1),
                       machine=machine(world["bin"]), out=io.StringIO()) == 0
    ollama = _unit(world, "ollama-ipex.service")
    llama = _unit(world)
    assert _hardening(llama) == _hardening(ollama) and "ProtectSystem=strict" in _hardening(llama)


def test_listen_is_loopback_by_default_and_exposure_is_a_note(world):
    code, out = _llama(world, "--cpu", "--listen", "0.0.0.0", "--port", "9000")
    assert code == 0 and "reachable from other machines" in out
    assert "--host 0.0.0.0 --port 9000 --n-gpu-layers 0" in next(l for l in _unit(world) if l.startswith("ExecStart="))
    code, _ = _llama(world, "--cpu", "--listen", "127.0.0.1,::1")
    assert code == 2  # llama-server takes one address


@pytest.mark.parametrize("argv,message", [
    (["comfyui", "--model", "/m.gguf"], "--model goes with `ipex service install llama-server`"),
    (["ollama", "--llama-server", "/bin/x"], "--llama-server goes with `ipex service install llama-server`"),
    (["llama-server", "--model", "/m.gguf", "--ollama-bin", "/o"], "--ollama-bin does not go with llama-server"),
])
def test_flags_of_another_program_are_usage_errors(world, capsys, argv, message):
    code, _ = _install(world, *argv)
    assert code == 2 and message in capsys.readouterr().err
    assert not world["units"].exists()


def test_a_missing_model_or_a_build_without_the_backend_writes_nothing(world, capsys):
    code, _ = _install(world, "llama-server", "--llama-server", str(world["binary"]), "--cpu")
    assert code == 2 and "llama-server needs a model file" in capsys.readouterr().err
    cpu_only = install(world["tmp"] / "cpu-build")
    code, _ = _install(world, "llama-server", "--model", world["model"], "--llama-server", str(cpu_only), "--cuda")
    assert code == 4 and "has no CUDA backend" in capsys.readouterr().err
    assert not world["units"].exists()
