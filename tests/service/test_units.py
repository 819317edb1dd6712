"""Unit rendering: exact lines for ExecStart, Environment and hardening; quoting that systemd reads back."""

from __future__ import annotations

import pytest

from ipex_integration.errors import UsageError
from ipex_integration.runtime.model import Backend
from ipex_integration.service.units import (
    MARKER, UnitSpec, device_flags, escape_word, exec_argv, is_managed, parse_environment, render_unit,
)


def _lines(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


def test_system_unit_for_comfyui_on_an_intel_gpu():
    spec = UnitSpec("comfyui", "system", "/home/alice/.venv/bin/comfyui-ipex", Backend.XPU, device_index=1,
                    device_name="Intel Arc A770", program_args=("--comfyui", "/home/alice/ComfyUI"),
                    user="alice", read_write_paths=("/home/alice/ComfyUI",))
    text = render_unit(spec)
    assert text.splitlines()[0] == MARKER and is_managed(text)
    assert _lines(text, "ExecStart=") == [
        "ExecStart=/home/alice/.venv/bin/comfyui-ipex --force-intel-xpu --intel-device 1 "
        "--comfyui /home/alice/ComfyUI --listen 127.0.0.1 --port 8188"
    ]
    assert _lines(text, "Environment=") == [
        'Environment="PYTHONUNBUFFERED=1"',
        'Environment="SYCL_CACHE_DIR=%S/comfyui-ipex/sycl-cache"',
        'Environment="XDG_CACHE_HOME=%C/comfyui-ipex"',
    ]
    for line in ("User=alice", "StateDirectory=comfyui-ipex", "CacheDirectory=comfyui-ipex",
                 "WorkingDirectory=%S/comfyui-ipex", "SupplementaryGroups=render video", "DeviceAllow=char-drm rw",
                 "DevicePolicy=closed", "PrivateDevices=no", "ProtectSystem=strict", "ProtectHome=read-only",
                 "ReadWritePaths=-/home/alice/ComfyUI", "NoNewPrivileges=yes", "CapabilityBoundingSet=",
                 "SystemCallFilter=@system-service", "SystemCallFilter=~@privileged", "SystemCallErrorNumber=EPERM",
                 "SystemCallArchitectures=native", "ProtectProc=invisible", "PrivateIPC=yes", "RestrictSUIDSGID=yes",
                 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "WantedBy=multi-user.target",
                 "Description=ComfyUI on Intel XPU device 1 (ipex-integration)"):
        assert line in text.splitlines(), line
    assert not _lines(text, "DeviceAllow=char-nvidia")
    assert "Intel Arc A770" in text.splitlines()[2]
    # /proc/meminfo, /proc/cpuinfo and /proc/driver/nvidia must stay visible; CUDA/SYCL JIT needs W+X pages.
    for absent in ("ProcSubset=", "MemoryDenyWriteExecute=", "~@resources"):
        assert absent not in text, absent


def test_cuda_unit_allows_only_nvidia_devices_and_cpu_unit_none():
    cuda = render_unit(UnitSpec("ollama", "system", "/opt/bin/ollama-ipex", Backend.CUDA, device_index=0, user="u"))
    assert _lines(cuda, "DeviceAllow=") == [
        "DeviceAllow=char-nvidiactl rw", "DeviceAllow=char-nvidia-caps rw",
        "DeviceAllow=char-nvidia-frontend rw", "DeviceAllow=char-nvidia-uvm rw",
    ]
    assert _lines(cuda, "ExecStart=") == [
        "ExecStart=/opt/bin/ollama-ipex serve --cuda --cuda-device 0 --host 127.0.0.1:11434"]
    cpu = render_unit(UnitSpec("ollama", "system", "/opt/bin/ollama-ipex", Backend.CPU, user="u"))
    assert _lines(cpu, "DeviceAllow=") == [] and "DevicePolicy=closed" in cpu.splitlines()
    assert _lines(cpu, "SupplementaryGroups=") == []  # a CPU service needs no GPU groups


def test_user_unit_keeps_only_unprivileged_hardening():
    text = render_unit(UnitSpec("ollama", "user", "/home/a/bin/ollama-ipex", Backend.CPU, listen="::1", port=9000))
    assert _lines(text, "ExecStart=") == ["ExecStart=/home/a/bin/ollama-ipex serve --cpu --host [::1]:9000"]
    assert "WantedBy=default.target" in text.splitlines()
    for absent in ("User=", "ProtectSystem=", "ProtectHome=", "DeviceAllow=", "SupplementaryGroups=",
                   "CacheDirectory=", "After=network-online.target", "XDG_CACHE_HOME"):
        assert absent not in text, absent
    for present in ("NoNewPrivileges=yes", "SystemCallArchitectures=native", "StateDirectory=ollama-ipex",
                    "LockPersonality=yes", "RestrictRealtime=yes", "RestrictSUIDSGID=yes", "RestrictNamespaces=yes",
                    "SystemCallFilter=@system-service", "SystemCallFilter=~@privileged"):
        assert present in text.splitlines(), present
    # These need a mount or IPC namespace, which a user manager cannot set up without PrivateUsers=.
    for absent in ("PrivateTmp=", "PrivateIPC=", "ProtectProc=", "DevicePolicy=", "MemoryDenyWriteExecute="):
        assert absent not in text, absent


def test_values_are_escaped_for_systemd():
    spec = UnitSpec("comfyui", "system", "/opt/my tools/comfyui-ipex", Backend.CPU, user="u",
                    extra_args=("--output-directory", "/srv/out 1", "50%", "$HOME", 'say "hi"', ";"),
                    environment={"B": 'x "y" 100%', "A": "back\\slash"}, read_write_paths=("/srv/out 1",),
                    ipex_home="/srv/ipex")
    text = render_unit(spec)
    assert _lines(text, "ExecStart=") == [
        'ExecStart="/opt/my tools/comfyui-ipex" --cpu --listen 127.0.0.1 --port 8188 --output-directory '
        '"/srv/out 1" 50%% "$$HOME" "say \\"hi\\"" ";"'
    ]
    assert _lines(text, "Environment=")[-3:] == [
        'Environment="IPEX_INTEGRATION_HOME=/srv/ipex"',
        'Environment="A=back\\\\slash"',
        'Environment="B=x \\"y\\" 100%%"',
    ]
    assert 'ReadWritePaths="-/srv/out 1"' in text.splitlines()


def test_rendering_is_deterministic():
    spec = UnitSpec("comfyui", "user", "/x/comfyui-ipex", Backend.CUDA, environment={"Z": "1", "A": "2"})
    assert render_unit(spec) == render_unit(spec)


@pytest.mark.parametrize("backend,index,flags", [
    (Backend.CPU, None, ["--cpu"]),
    (Backend.CUDA, None, ["--cuda"]),
    (Backend.CUDA, 2, ["--cuda", "--cuda-device", "2"]),
    (Backend.XPU, 0, ["--force-intel-xpu", "--intel-device", "0"]),
])
def test_device_flags(backend, index, flags):
    assert device_flags(backend, index) == flags


@pytest.mark.parametrize("bad", [
    dict(program="nginx"), dict(scope="global"), dict(port=70000), dict(environment={"1X": "y"}),
    dict(extra_args=("a\nExecStartPre=/bin/evil",)),
])
def test_bad_specs_are_usage_errors(bad):
    base = dict(program="ollama", scope="user", launcher="/x/ollama-ipex", backend=Backend.CPU)
    with pytest.raises(UsageError):
        UnitSpec(**{**base, **bad})


def test_parse_environment():
    assert parse_environment(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(UsageError, match="expected NAME=VALUE"):
        parse_environment(["novalue"])


def test_exec_argv_keeps_words_unquoted():
    spec = UnitSpec("comfyui", "user", "/x/comfyui-ipex", Backend.CPU, extra_args=("a b",))
    assert exec_argv(spec)[-1] == "a b"
    assert escape_word("a b") == '"a b"' and escape_word("plain/path-1.0") == "plain/path-1.0"
    assert escape_word("") == '""'


def test_marker_must_be_a_whole_line():
    assert not is_managed("# Managed by ipex-integration-fork\n[Service]\n")
    assert is_managed("[Unit]\n  # Managed by ipex-integration  \n")
