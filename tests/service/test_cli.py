"""`ipex service install|remove|status` through the real parser, with the real policy on described hardware
(tests/comfyui/helpers.resolver), a fake ComfyUI checkout and a fake systemctl."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from ipex_integration.cli.common import run_cli
from ipex_integration.cli.main import build_parser
from ipex_integration.cli.service import cmd_install, cmd_remove, cmd_status
from ipex_integration.plan.flags import split_device_flags
from tests.comfyui.helpers import resolver
from tests.fakes.comfyui import build_fake_comfyui

from .helpers import FakeSystemctl, machine, make_launchers


@pytest.fixture
def world(tmp_path):
    bin_dir = make_launchers(tmp_path / "venv" / "bin")
    checkout = build_fake_comfyui(tmp_path / "ComfyUI")
    return {
        "units": tmp_path / "units", "bin": bin_dir, "checkout": checkout, "runner": FakeSystemctl(),
        "resolve": resolver(tmp_path, cuda=1, xpu=2), "tmp": tmp_path,
    }


def _install(world, *argv, environ=None, mach=None):
    args = build_parser().parse_args(["service", "install", *argv, "--unit-dir", str(world["units"])])
    out = io.StringIO()
    code = run_cli(lambda: cmd_install(args, environ=environ or {}, runner=world["runner"], resolve=world["resolve"],
                                       machine=mach or machine(world["bin"]), out=out))
    return code, out.getvalue()


def _exec_words(unit: str) -> list[str]:
    line = next(l for l in unit.splitlines() if l.startswith("ExecStart="))
    return line.removeprefix("ExecStart=").split()


def test_install_pins_the_device_the_policy_chose(world):
    code, out = _install(world, "comfyui", "--intel-device", "1", "--comfyui", str(world["checkout"]))
    assert code == 0 and "comfyui-ipex.service installed" in out
    unit = (world["units"] / "comfyui-ipex.service").read_text()
    words = _exec_words(unit)
    assert words[0] == str(world["bin"] / "comfyui-ipex")
    flags, rest = split_device_flags(words[1:])
    assert flags.backend_flags == ("--force-intel-xpu",) and flags.intel_device == 1
    assert rest == ["--comfyui", str(world["checkout"]), "--listen", "127.0.0.1", "--port", "8188"]
    assert "User=alice" in unit.splitlines()  # the installing user
    # Only ComfyUI's data folders are writable, not its code (changed: the whole checkout was writable).
    c = world["checkout"]
    assert f"ReadWritePaths=-{c}/output -{c}/input -{c}/temp -{c}/user" in unit.splitlines()
    request = world["resolve"].calls[0]
    assert request.needs_torch is True  # runs as us: our registry is the service's
    assert world["runner"].calls == []  # a custom --unit-dir is not systemd's: no daemon-reload


def test_auto_install_pins_cuda_first(world):
    code, _ = _install(world, "ollama", "--user", "--ollama-bin", "/opt/ollama/bin/ollama")
    assert code == 0
    words = _exec_words((world["units"] / "ollama-ipex.service").read_text())
    assert words[1:5] == ["serve", "--cuda", "--cuda-device", "0"]
    assert words[5:] == ["--ollama-bin", "/opt/ollama/bin/ollama", "--host", "127.0.0.1:11434"]
    assert world["resolve"].calls[0].needs_torch is False  # Ollama brings its own GPU runtime


def test_root_install_needs_a_user_and_checks_torch_only_for_itself(world):
    root = machine(world["bin"], uid=0, user="root")
    code, _ = _install(world, "ollama", "--cpu", mach=root)
    assert code == 2
    code, _ = _install(world, "comfyui", "--cpu", "--comfyui", str(world["checkout"]), mach=root,
                       environ={"SUDO_USER": "bob"})
    assert code == 0
    unit = (world["units"] / "comfyui-ipex.service").read_text()
    assert "User=bob" in unit.splitlines() and "--cpu" in _exec_words(unit)
    assert world["resolve"].calls[-1].needs_torch is False  # bob's registry decides at start


def test_a_uid_0_alias_is_refused_like_root(world, capsys):
    from ipex_integration.service.prepare import Machine

    base = machine(world["bin"], users={"alice": "/home/alice", "toor": "/root"})
    mach = Machine(**{**base.__dict__, "user_uid": lambda name: {"toor": 0, "alice": 1000}.get(name)})
    code, _ = _install(world, "comfyui", "--cpu", "--run-as", "toor", "--comfyui", str(world["checkout"]), mach=mach)
    err = capsys.readouterr().err
    assert code == 2 and "refusing to run the service as root (--run-as toor has uid 0)" in err
    assert not (world["units"] / "comfyui-ipex.service").exists()
    code, _ = _install(world, "comfyui", "--cpu", "--run-as", "alice", "--comfyui", str(world["checkout"]), mach=mach)
    assert code == 0


def test_errors_are_one_line(world, capsys):
    code, _ = _install(world, "comfyui", "--cpu", "--run-as", "root", "--comfyui", str(world["checkout"]))
    assert code == 2 and "refusing to run the service as root" in capsys.readouterr().err
    code, _ = _install(world, "comfyui", "--cpu", "--run-as", "nosuchuser", "--comfyui", str(world["checkout"]))
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("ipex: error: --run-as nosuchuser: no such user")
    code, _ = _install(world, "comfyui", "--cpu", "--comfyui", str(world["tmp"]))
    assert code == 2 and "not a ComfyUI checkout" in capsys.readouterr().err
    assert world["resolve"].calls == []  # cheap checks fail before any probing
    code, _ = _install(world, "ollama", "--cpu", "--env", "bad")
    assert code == 2 and "expected NAME=VALUE" in capsys.readouterr().err
    code, _ = _install(world, "ollama", "--cpu", "--user", "--run-as", "bob")
    assert code == 2 and "--run-as is for system units" in capsys.readouterr().err


def test_foreign_unit_needs_force(world, capsys):
    world["units"].mkdir()
    (world["units"] / "ollama-ipex.service").write_text("[Service]\nExecStart=/bin/true\n")
    code, _ = _install(world, "ollama", "--cpu")
    err = capsys.readouterr().err
    assert code == 2 and "not written by ipex-integration" in err and "--force" in err
    code, _ = _install(world, "ollama", "--cpu", "--force")
    assert code == 0 and "# Managed by ipex-integration" in (world["units"] / "ollama-ipex.service").read_text()


def test_dry_run_json_and_extra_args(world):
    code, out = _install(world, "ollama", "--cpu", "--dry-run", "--json", "--listen", "0.0.0.0",
                         "--extra-args=--timeout '120'", "--env", "OLLAMA_NUM_PARALLEL=2")
    data = json.loads(out)
    assert code == 0 and not world["units"].exists()
    assert data["action"] == "would be installed" and data["plan"]["backend"] == "cpu"
    assert 'Environment="OLLAMA_NUM_PARALLEL=2"' in data["text"].splitlines()
    assert 'ExecStart=' in data["text"] and '--host 0.0.0.0:11434 --timeout 120' in data["text"]
    assert any("reachable from other machines" in n for n in data["notes"])


def test_remove_and_status_use_systemctl_for_systemds_own_dir(world, monkeypatch):
    _install(world, "ollama", "--cpu")
    runner = FakeSystemctl({"ollama-ipex.service": ("active", "enabled")})
    out = io.StringIO()
    args = build_parser().parse_args(["service", "status", "--unit-dir", str(world["units"]), "--json"])
    assert cmd_status(args, runner=runner, out=out) == 0
    rows = {r["program"]: r for r in json.loads(out.getvalue())["units"]}
    assert rows["ollama"]["managed"] and rows["ollama"]["active"] == "active"
    assert not rows["comfyui"]["installed"]

    # Remove from what systemd reads: stop and disable first, reload after.
    monkeypatch.setattr("ipex_integration.service.install.SYSTEM_UNIT_DIR", world["units"])
    args = build_parser().parse_args(["service", "remove", "ollama"])
    out = io.StringIO()
    assert cmd_remove(args, environ={}, runner=runner, out=out) == 0
    assert runner.calls[-2:] == [("systemctl", "disable", "--now", "ollama-ipex.service"),
                                 ("systemctl", "daemon-reload")]
    assert not (world["units"] / "ollama-ipex.service").exists()
    assert cmd_remove(args, environ={}, runner=runner, out=io.StringIO()) == 1  # nothing left to remove


def test_remove_never_touches_a_foreign_unit(world, monkeypatch, capsys):
    monkeypatch.setattr("ipex_integration.service.install.SYSTEM_UNIT_DIR", world["units"])
    world["units"].mkdir()
    (world["units"] / "comfyui-ipex.service").write_text("[Service]\nExecStart=/bin/true\n")
    runner = FakeSystemctl()
    args = build_parser().parse_args(["service", "remove", "comfyui"])
    code = run_cli(lambda: cmd_remove(args, environ={}, runner=runner, out=io.StringIO()))
    assert code == 2 and "not removing it" in capsys.readouterr().err
    assert runner.calls == []  # not even disabled
    assert (world["units"] / "comfyui-ipex.service").exists()


def test_install_into_systemds_dir_reloads_and_reports_a_failed_reload(world, monkeypatch):
    monkeypatch.setattr("ipex_integration.service.install.SYSTEM_UNIT_DIR", world["units"])
    world["runner"] = FakeSystemctl(fail=["daemon-reload"])
    args = build_parser().parse_args(["service", "install", "ollama", "--cpu"])
    out = io.StringIO()
    code = cmd_install(args, environ={}, runner=world["runner"], resolve=world["resolve"],
                       machine=machine(world["bin"]), out=out)
    assert code == 0 and world["runner"].calls == [("systemctl", "daemon-reload")]
    assert "note: systemctl daemon-reload failed: Failed to daemon-reload: Access denied" in out.getvalue()
    assert "start it with: systemctl enable --now ollama-ipex.service" in out.getvalue()


def test_the_real_command_line(tmp_path):
    """`ipex service status` as a user runs it: a real process, real systemctl (or none), JSON out."""
    done = subprocess.run([sys.executable, "-m", "ipex_integration.cli.main", "service", "status", "--json",
                           "--unit-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [r["unit"] for r in data["units"]] == ["comfyui-ipex.service", "ollama-ipex.service",
                                                  "llama-server-ipex.service"]
    assert all(not r["installed"] for r in data["units"])
