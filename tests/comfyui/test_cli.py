"""comfyui-ipex / comfyui-cuda / comfyui-xpu and `ipex comfyui ...` through their entry points."""

from __future__ import annotations

import io
import json
import socket

import pytest

from ipex_integration.cli import comfyui as cli
from ipex_integration.cli.main import main as ipex_main
from ipex_integration.comfyui.checkout import find_checkout
from ipex_integration.plan.helpgpu import HELP_GPU
from tests.fakes.comfyui import fake_torch_env

from .helpers import PYTHON, reports, resolver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(prog, argv, tmp_path, *, cuda=1, xpu=1, environ=None):
    out = io.StringIO()
    resolve = resolver(tmp_path, cuda=cuda, xpu=xpu)
    code = cli.launcher_main(prog, argv, environ=fake_torch_env(cuda=cuda, xpu=xpu, base=environ), resolve=resolve,
                             out=out)
    return code, out.getvalue(), resolve.calls


@pytest.mark.parametrize(("prog", "flags", "backend", "device_flags"), [
    ("comfyui-ipex", [], "cuda", "--cuda-device 0"),
    ("comfyui-cuda", [], "cuda", "--cuda-device 0"),
    ("comfyui-xpu", [], "xpu", "--oneapi-device-selector level_zero:0"),
    ("comfyui-ipex", ["--force-intel-xpu"], "xpu", "--oneapi-device-selector level_zero:0"),
    ("comfyui-ipex", ["--cpu"], "cpu", "--cpu"),
    ("comfyui-ipex", ["--cuda-device", "1"], "cuda", "--cuda-device 1"),
])
def test_dry_run_shows_plan_and_command_and_starts_nothing(comfyui, tmp_path, capfd, prog, flags, backend, device_flags):
    root = comfyui()
    code, out, calls = launch(prog, ["--comfyui", str(root), *flags, "--dry-run", "--preview-size", "256"],
                              tmp_path, cuda=2)
    assert code == 0
    assert f"--backend {backend}" in out
    assert f"-- {device_flags} --listen 127.0.0.1 --preview-size 256" in out
    assert f"interpreter: {PYTHON}" in out and "because:" in out
    assert f"comfyui:     {root.resolve()} (version 0.3.47, --comfyui)" in out
    assert len(calls) == 1
    assert reports(capfd.readouterr().out) == []  # nothing was started


def test_dry_run_json(comfyui, tmp_path):
    code, out, _ = launch("comfyui-cuda", ["--comfyui", str(comfyui("0.3.64")), "--dry-run", "--json", "--port", "9"],
                          tmp_path)
    data = json.loads(out)
    assert code == 0
    assert data["plan"]["backend"] == "cuda" and data["plan"]["request"]["source"] == "comfyui-cuda"
    assert data["comfyui"]["version"] == "0.3.64"
    assert data["launch"]["comfyui_argv"] == ["--cuda-device", "0", "--listen", "127.0.0.1", "--port", "9"]
    assert data["launch"]["port"] == 9


@pytest.mark.parametrize(("prog", "cuda", "xpu", "expected"), [
    ("comfyui-ipex", 1, 1, "cuda:0"),  # auto: CUDA > XPU, and the XPU-first ComfyUI really ends on CUDA
    ("comfyui-cuda", 1, 1, "cuda:0"),
    ("comfyui-xpu", 1, 1, "xpu:0"),
    ("comfyui-ipex", 0, 1, "xpu:0"),
    ("comfyui-ipex", 0, 0, "cpu"),
])
def test_every_plan_starts_comfyui_on_its_device(comfyui, tmp_path, capfd, prog, cuda, xpu, expected):
    code, _, _ = launch(prog, ["--comfyui", str(comfyui()), "--port", str(free_port())], tmp_path, cuda=cuda, xpu=xpu)
    assert code == 0
    report = reports(capfd.readouterr().out)[0]
    assert report["device"] == expected
    assert report["listen"] == "127.0.0.1"


def test_launcher_flags_are_removed_and_the_rest_passes_through(comfyui, tmp_path, capfd):
    argv = ["--comfyui", str(comfyui()), "--cpu", "--disable-ipex", "--port", str(free_port()), "--dont-print-server",
            "--preview-method", "auto", "--fallback"]
    code, _, calls = launch("comfyui-ipex", argv, tmp_path)
    assert code == 0
    report = reports(capfd.readouterr().out)[0]
    assert report["argv"] == ["--cpu", "--listen", "127.0.0.1", *argv[4:9]]
    assert calls[0].fallback is True


@pytest.mark.parametrize(("prog", "argv", "message"), [
    ("comfyui-cuda", ["--cpu"], "comfyui-cuda always runs on CUDA; --cpu asks for CPU"),
    ("comfyui-xpu", ["--cuda"], "comfyui-xpu always runs on XPU"),
    ("comfyui-ipex", ["--cpu", "--cuda"], "conflicting flags: --cpu and --cuda"),
    ("comfyui-ipex", ["--json"], "--json only goes with --dry-run"),
    ("comfyui-ipex", ["--normalvram", "--bogus"], "ComfyUI 0.3.47 does not accept --bogus"),
    ("comfyui-ipex", ["--cpu", "--lowvram"], "--lowvram cannot be combined with CPU mode"),
    ("comfyui-ipex", ["--comfyui"], "--comfyui needs a directory"),
    ("comfyui-ipex", ["--cuda-device", "x"], "--cuda-device expects a device number"),
])
def test_bad_input_is_one_line_and_exit_2(comfyui, tmp_path, capsys, prog, argv, message):
    code, _, calls = launch(prog, ["--comfyui", str(comfyui()), *argv], tmp_path)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    if "does not accept" in message:
        assert calls == []  # flags are checked before any probing


def test_forced_backend_that_is_absent(comfyui, tmp_path, capsys):
    code, _, _ = launch("comfyui-xpu", ["--comfyui", str(comfyui()), "--dry-run"], tmp_path, cuda=1, xpu=0)
    err = capsys.readouterr().err
    assert code == 2 and "comfyui-xpu: error: XPU requested by comfyui-xpu" in err


def test_no_comfyui_found(tmp_path, capsys):
    code, _, _ = launch("comfyui-ipex", ["--dry-run"], tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and "no ComfyUI found" in err and "hint: ipex comfyui install" in err


def test_not_a_comfyui_dir(tmp_path, capsys):
    code, _, _ = launch("comfyui-ipex", ["--comfyui", str(tmp_path)], tmp_path)
    assert code == 2 and "is not a ComfyUI checkout" in capsys.readouterr().err


def test_comfyui_path_variable_is_used(comfyui, tmp_path, isolated_home):
    root = comfyui()
    # The whole environment is replaced here: keep the test's home in it, or caches land in the real one.
    environ = {"COMFYUI_PATH": str(root), "IPEX_INTEGRATION_HOME": str(isolated_home)}
    code, out, _ = launch("comfyui-ipex", ["--dry-run"], tmp_path, environ=environ)
    assert code == 0 and "$COMFYUI_PATH" in out


def test_help_gpu(tmp_path):
    code, out, calls = launch("comfyui-ipex", ["--help-gpu"], tmp_path)
    assert code == 0 and HELP_GPU.strip() in out and calls == []


# --- ipex comfyui use | flags ---------------------------------------------------------------------------------


def test_use_registers_a_checkout_that_launchers_and_nodes_find(comfyui, isolated_home, capsys):
    root = comfyui("0.3.64")
    assert ipex_main(["comfyui", "use", str(root)]) == 0
    assert f"registered ComfyUI 0.3.64 at {root.resolve()}" in capsys.readouterr().out
    found = find_checkout()
    assert (found.path, found.found_by, found.version) == (root.resolve(), "registered", "0.3.64")
    from ipex_integration.nodes.locate import comfyui_dir

    assert comfyui_dir() == root.resolve()  # the custom-node installer reads the same entry


def test_use_keeps_other_settings_in_config(comfyui, isolated_home):
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('device = "xpu"\n\n[nodes]\nkeep = true\n')
    assert ipex_main(["comfyui", "use", str(comfyui())]) == 0
    text = config.read_text()
    assert 'device = "xpu"' in text and "keep = true" in text and "[comfyui]" in text


def test_use_rejects_what_is_not_comfyui(tmp_path, capsys):
    assert ipex_main(["comfyui", "use", str(tmp_path)]) == 2
    assert "is not a ComfyUI checkout (no main.py" in capsys.readouterr().err


def test_flags_command(comfyui, capsys):
    assert ipex_main(["comfyui", "flags", "--comfyui", str(comfyui("dec2024")), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    options = {o for f in data["flags"] for o in f["options"]}
    assert "--cpu" in options and "--oneapi-device-selector" not in options
    assert ipex_main(["comfyui", "flags", "--comfyui", str(comfyui("0.3.47"))]) == 0
    assert "--cpu  (one of group vram_group)" in capsys.readouterr().out


@pytest.mark.parametrize(("listen", "warned"), [("0.0.0.0", True), ("0.0.0.0,::", True), ("127.0.0.1", False)])
def test_listening_beyond_loopback_warns(comfyui, tmp_path, capsys, listen, warned):
    code, _, _ = launch("comfyui-ipex", ["--comfyui", str(comfyui()), "--dry-run", "--listen", listen], tmp_path)
    err = capsys.readouterr().err
    assert code == 0
    assert ("comfyui-ipex: warning: listening on" in err) is warned


@pytest.mark.parametrize("argv", [["--listen", "not an address!"], ["--comfyui", ""]])
def test_bad_listen_or_checkout_is_one_usage_line(comfyui, tmp_path, capsys, argv):
    args = argv if argv[0] == "--comfyui" else ["--comfyui", str(comfyui()), *argv]
    code, _, _ = launch("comfyui-ipex", [*args, "--dry-run"], tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert len([line for line in err.splitlines() if ": error: " in line]) == 1
