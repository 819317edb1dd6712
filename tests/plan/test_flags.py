"""Device flags, IPEX_DEVICE and config -> DeviceRequest; split_device_flags for pass-through launchers."""

from __future__ import annotations

import argparse

import pytest

from ipex_integration.errors import UsageError
from ipex_integration.plan.flags import (
    add_device_arguments,
    request_from_args,
    request_from_env,
    split_device_flags,
)
from ipex_integration.runtime.model import Backend

CUDA, XPU, CPU = Backend.CUDA, Backend.XPU, Backend.CPU


def parse(argv, environ=None, config=None):
    parser = argparse.ArgumentParser(prog="t")
    add_device_arguments(parser)
    args = parser.parse_args(argv)
    return request_from_args(args, environ or {}, config)


@pytest.mark.parametrize("argv, environ, config, expected", [
    ([], {}, None, dict(backend=None, source="default")),
    (["--cpu"], {}, None, dict(backend=CPU, source="--cpu")),
    (["--cuda"], {}, None, dict(backend=CUDA, source="--cuda")),
    (["--force-intel-xpu"], {}, None, dict(backend=XPU, source="--force-intel-xpu")),
    (["--xpu"], {}, None, dict(backend=XPU, source="--force-intel-xpu")),
    (["--intel-device", "1"], {}, None, dict(backend=XPU, intel_device=1, source="--intel-device 1")),
    (["--intel-device=2"], {}, None, dict(backend=XPU, intel_device=2)),
    (["--cuda-device", "1"], {}, None, dict(backend=CUDA, cuda_device=1, source="--cuda-device 1")),
    (["--xpu", "--intel-device", "1"], {}, None, dict(backend=XPU, intel_device=1, source="--force-intel-xpu")),
    (["--igpu", "--fallback"], {}, None, dict(backend=None, allow_integrated=True, fallback=True)),
    ([], {"IPEX_DEVICE": "xpu"}, None, dict(backend=XPU, source="IPEX_DEVICE=xpu")),
    ([], {"IPEX_DEVICE": " CUDA "}, None, dict(backend=CUDA, source="IPEX_DEVICE=cuda")),
    ([], {"IPEX_DEVICE": "auto"}, None, dict(backend=None, source="IPEX_DEVICE=auto")),
    ([], {"IPEX_DEVICE": ""}, None, dict(backend=None, source="default")),
    (["--cpu"], {"IPEX_DEVICE": "xpu"}, None, dict(backend=CPU, source="--cpu")),  # flags win
    (["--cuda-device", "0"], {"IPEX_DEVICE": "cpu"}, None, dict(backend=CUDA)),  # an index flag is a flag
    ([], {}, {"device": "cpu"}, dict(backend=CPU, source='config (device = "cpu")')),
    ([], {"IPEX_DEVICE": "cuda"}, {"device": "cpu"}, dict(backend=CUDA)),  # the variable wins over config
], ids=repr)
def test_request_from_args(argv, environ, config, expected):
    request = parse(argv, environ, config)
    for key, value in expected.items():
        assert getattr(request, key) == value, key


@pytest.mark.parametrize("argv, environ, config, message, hint", [
    (["--cpu", "--xpu"], {}, None, "conflicting flags: --cpu and --force-intel-xpu", "drop --cpu or"),
    (["--cpu", "--force-intel-xpu"], {}, None, "conflicting flags", "drop --cpu or --force-intel-xpu"),
    (["--cuda", "--cpu"], {}, None, "conflicting flags: --cpu and --cuda", None),
    (["--cuda-device", "1", "--intel-device", "0"], {}, None, "conflicting flags: --cuda-device 1 and --intel-device 0",
     "pick one GPU"),
    (["--intel-device", "-1"], {}, None, "--intel-device -1: device numbers start at 0", "ipex devices"),
    (["--cuda-device", "-2"], {}, None, "--cuda-device -2", None),
    ([], {"IPEX_DEVICE": "gpu"}, None, "IPEX_DEVICE=gpu is not one of: auto, cuda, xpu, cpu", None),
    ([], {}, {"device": "rocm"}, "config device = 'rocm' is not one of", None),
])
def test_request_errors(argv, environ, config, message, hint):
    with pytest.raises(UsageError) as info:
        parse(argv, environ, config)
    assert message in info.value.message
    if hint:
        assert hint in info.value.hint


def test_non_number_index_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        parse(["--intel-device", "first"])
    assert info.value.code == 2
    assert "expected a device number, got 'first'" in capsys.readouterr().err


def test_request_from_env():
    assert request_from_env({"IPEX_DEVICE": "cpu"}).backend is CPU
    assert request_from_env({}).backend is None
    assert request_from_env({}, {"device": "xpu"}).source == 'config (device = "xpu")'
    with pytest.raises(UsageError):
        request_from_env({"IPEX_DEVICE": "tpu"})


# --- split_device_flags -----------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, rest, expected", [
    ([], [], {}),
    (["--port", "8188", "--listen", "0.0.0.0"], ["--port", "8188", "--listen", "0.0.0.0"], {}),
    (["--intel-device", "1", "--port", "8188"], ["--port", "8188"], dict(intel_device=1)),
    (["--port", "8188", "--intel-device=1"], ["--port", "8188"], dict(intel_device=1)),
    (["--cuda-device", "0", "--lowvram"], ["--lowvram"], dict(cuda_device=0)),
    (["--xpu", "--preview-method", "auto"], ["--preview-method", "auto"], dict(backend_flags=("--xpu",))),
    (["--force-intel-xpu", "--fallback", "--igpu"], [], dict(backend_flags=("--force-intel-xpu",),
                                                            fallback=True, igpu=True)),
    (["--dry-run", "--json", "--help-gpu"], [], dict(dry_run=True, json=True, help_gpu=True)),
    (["--cpu"], [], dict(backend_flags=("--cpu",))),
    # Look-alikes are not ours: no abbreviations, no different spellings.
    (["--cpu-vae", "--cuda-malloc", "--intel", "--json-out", "x"], ["--cpu-vae", "--cuda-malloc", "--intel",
                                                                     "--json-out", "x"], {}),
    # An unknown flag's value is left alone even when it looks like a number.
    (["--port", "1", "--intel-device", "0", "-v", "2"], ["--port", "1", "-v", "2"], dict(intel_device=0)),
    # Everything after a bare -- belongs to the program.
    (["--cpu", "--", "--cuda", "--intel-device", "3"], ["--", "--cuda", "--intel-device", "3"],
     dict(backend_flags=("--cpu",))),
], ids=repr)
def test_split_device_flags(argv, rest, expected):
    original = list(argv)
    flags, remaining = split_device_flags(argv)
    assert remaining == rest
    assert argv == original  # not modified in place
    for key, value in expected.items():
        assert getattr(flags, key) == value, key
    # What was removed plus what remains is the input (ours taken out, order kept).
    assert len(flags.removed) + len(remaining) == len(argv)


@pytest.mark.parametrize("argv, message", [
    (["--intel-device"], "--intel-device needs a device number"),
    (["--intel-device", "--port"], "--intel-device expects a device number, got '--port'"),
    (["--cuda-device=x"], "--cuda-device expects a device number, got 'x'"),
    (["--cuda-device", "-1"], "--cuda-device -1: device numbers start at 0"),
    (["--cpu=1"], "--cpu takes no value"),
    (["--cpu", "--cuda"], "conflicting flags: --cpu and --cuda"),
])
def test_split_errors(argv, message):
    with pytest.raises(UsageError) as info:
        split_device_flags(argv)
    assert message in info.value.message


def test_split_to_request_matches_argparse():
    """Both front doors give the same request for the same flags."""
    argv = ["--intel-device", "1", "--fallback", "--igpu"]
    flags, _ = split_device_flags(argv + ["--port", "1"])
    assert flags.to_request({}) == parse(argv)
    flags, _ = split_device_flags(["--xpu"])
    assert flags.to_request({"IPEX_DEVICE": "cpu"}).backend is XPU
    assert split_device_flags([])[0].to_request({"IPEX_DEVICE": "cpu"}).source == "IPEX_DEVICE=cpu"
