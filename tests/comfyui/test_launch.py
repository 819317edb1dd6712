"""LaunchSpec building and running: real children, real signals, a real occupied port."""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from ipex_integration.comfyui import ComfyUIError
from ipex_integration.comfyui.checkout import inspect_checkout
from ipex_integration.comfyui.launch import BOOTSTRAP, build_launch_spec, run
from ipex_integration.proc import ensure_port_free, shell_code
from ipex_integration.runtime.model import Backend
from tests.fakes.comfyui import fake_torch_env

from .helpers import PYTHON, plan_for, reports

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def listener():
    """Something already listening on a loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def test_spec_runs_the_bootstrap_with_the_plans_interpreter_and_variables(comfyui, tmp_path):
    checkout = inspect_checkout(comfyui(), found_by="--comfyui")
    plan = plan_for(Backend.XPU, tmp_path, environ={"ZES_ENABLE_SYSMAN": "0"}, source="--xpu")
    spec = build_launch_spec(plan, checkout, ["--port", "9000"], base_env={"HOME": "/home/x", "ZES_ENABLE_SYSMAN": "0"},
                             disable_ipex=True, prog="comfyui-xpu")
    assert spec.argv[:6] == (PYTHON, str(BOOTSTRAP), "--comfyui", str(checkout.path), "--backend", "xpu")
    assert spec.argv[6:10] == ("--disable-ipex", "--prog", "comfyui-xpu", "--")
    assert spec.comfyui_argv == ("--oneapi-device-selector", "level_zero:0", "--listen", "127.0.0.1", "--port", "9000")
    assert spec.env["ONEAPI_DEVICE_SELECTOR"] == "level_zero:0"
    assert spec.env["ZES_ENABLE_SYSMAN"] == "0"  # the user's value is kept
    assert spec.env["HOME"] == "/home/x"
    assert spec.cwd == str(checkout.path) and spec.port == 9000


def test_exit_code_propagates(comfyui, tmp_path, capfd):
    checkout = inspect_checkout(comfyui(), found_by="--comfyui")
    plan = plan_for(Backend.CPU, tmp_path, source="--cpu")
    env = fake_torch_env()
    env["FAKE_COMFYUI_EXIT"] = "7"
    spec = build_launch_spec(plan, checkout, ["--port", str(free_port())], base_env=env)
    assert run(spec) == 7
    assert reports(capfd.readouterr().out)[0]["device"] == "cpu"


def test_missing_interpreter(comfyui, tmp_path):
    checkout = inspect_checkout(comfyui(), found_by="--comfyui")
    plan = dataclasses.replace(plan_for(Backend.CPU, tmp_path, source="--cpu"), python=str(tmp_path / "no-python"))
    spec = build_launch_spec(plan, checkout, ["--port", str(free_port())], base_env={})
    with pytest.raises(ComfyUIError, match="does not exist"):
        run(spec)


def test_port_in_use_is_reported_before_start(comfyui, tmp_path, listener):
    checkout = inspect_checkout(comfyui(), found_by="--comfyui")
    spec = build_launch_spec(plan_for(Backend.CPU, tmp_path, source="--cpu"), checkout, ["--port", str(listener)],
                             base_env={})
    started = []
    with pytest.raises(ComfyUIError, match=f"port {listener} on 127.0.0.1 is already in use"):
        run(spec, popen=lambda *a, **k: started.append(a))
    assert started == []
    ensure_port_free("127.0.0.1", free_port())  # a free port passes
    ensure_port_free("127.0.0.1", 0)


def test_exit_code_of_a_signalled_child():
    assert shell_code(-signal.SIGTERM) == 128 + signal.SIGTERM
    assert shell_code(3) == 3


# --- the launcher as its own process ----------------------------------------------------------------------


class Launcher:
    """`python -m tests.comfyui.launcher_entry PROG ...` with its output read line by line."""

    def __init__(self, prog: str, args: list[str], *, cuda: int, xpu: int, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.comfyui.launcher_entry", prog, str(cuda), str(xpu), "--", *args],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line starting {prefix!r}; saw {self.seen}; stderr: {self._stderr()}")

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read()

    def finish(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout=timeout)
        time.sleep(0.05)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code


def serving(env: dict[str, str]) -> dict[str, str]:
    return {**env, "FAKE_COMFYUI_SERVE": "1"}


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize(("signum", "child_exit", "expected"), [
    (signal.SIGTERM, "0", 128 + signal.SIGTERM),  # ComfyUI dies of SIGTERM: we report it as a shell would
    (signal.SIGINT, "5", 5),  # ComfyUI handles Ctrl-C ("Stopped server") and exits: its code is ours
])
def test_signals_reach_comfyui_and_its_exit_code_is_ours(comfyui, signum, child_exit, expected):
    root, port = comfyui(), free_port()
    env = serving(fake_torch_env(cuda=1, xpu=1))
    env["FAKE_COMFYUI_EXIT"] = child_exit
    launcher = Launcher("comfyui-ipex", ["--comfyui", str(root), "--port", str(port)], cuda=1, xpu=1, env=env)
    try:
        report = json.loads(launcher.wait_for("FAKE_COMFYUI ").split(" ", 1)[1])
        launcher.wait_for("To see the GUI")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/system_stats", timeout=10) as response:
            stats = json.load(response)
        # Auto with a torch that sees both GPUs: the plan says CUDA, and ComfyUI really uses CUDA.
        assert report["device"] == "cuda:0" and stats["devices"][0]["type"] == "cuda"
        assert report["env"]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
        launcher.proc.send_signal(signum)
        assert launcher.finish() == expected
    finally:
        if launcher.proc.poll() is None:
            launcher.proc.kill()
    assert _gone(report["pid"])
    if signum == signal.SIGINT:
        assert "Stopped server" in launcher.seen


def test_port_in_use_from_the_command_line(comfyui, listener):
    launcher = Launcher("comfyui-ipex", ["--comfyui", str(comfyui()), "--cpu", "--port", str(listener)],
                        cuda=0, xpu=0, env=fake_torch_env())
    assert launcher.finish() == 2
    assert f"comfyui-ipex: error: port {listener} on 127.0.0.1 is already in use" in launcher.proc.stderr.read()
    assert not any(line.startswith("FAKE_COMFYUI") for line in launcher.seen)


def _dead_within(pid: int, seconds: float) -> bool:
    import psutil

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def test_sigkill_of_the_launcher_stops_comfyui(comfyui):
    # Nothing of ours runs after SIGKILL: the parent-death signal must end ComfyUI, or it keeps serving.
    root, port = comfyui(), free_port()
    launcher = Launcher("comfyui-ipex", ["--comfyui", str(root), "--cpu", "--port", str(port)], cuda=0, xpu=0,
                        env=serving(fake_torch_env()))
    try:
        report = json.loads(launcher.wait_for("FAKE_COMFYUI ").split(" ", 1)[1])
        launcher.wait_for("To see the GUI")
        launcher.proc.kill()
        launcher.finish()
        assert _dead_within(report["pid"], 3)
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/system_stats", timeout=2)
    finally:
        if launcher.proc.poll() is None:
            launcher.proc.kill()
