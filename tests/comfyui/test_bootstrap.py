"""The in-process bootstrap, run for real by a child interpreter against the fake ComfyUI and fake torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ipex_integration.comfyui.bootstrap import EXIT_DEVICE_MISSING
from ipex_integration.comfyui.launch import BOOTSTRAP
from tests.fakes.comfyui import fake_torch_env

from .helpers import reports


@pytest.fixture
def fake_ipex(tmp_path) -> Path:
    """A stand-in intel_extension_for_pytorch (the real one needs an Intel GPU stack): importable, and
    ComfyUI's model_management imports it when it can."""
    root = tmp_path / "ipex-site"
    (root / "intel_extension_for_pytorch").mkdir(parents=True)
    (root / "intel_extension_for_pytorch" / "__init__.py").write_text('__version__ = "2.8.10+xpu"\n')
    return root


def run(args, *, cwd, cuda=0, xpu=0, extra_path=None, script=None):
    env = fake_torch_env(cuda=cuda, xpu=xpu)
    if extra_path:
        env["PYTHONPATH"] = f"{env['PYTHONPATH']}:{extra_path}"
    argv = [sys.executable, str(script or BOOTSTRAP), *args]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_stock_comfyui_picks_xpu_when_torch_sees_both(comfyui, tmp_path):
    """The problem the bootstrap exists for (DESIGN.md): plain `python main.py` chooses the Intel GPU."""
    root = comfyui()
    done = run([], cwd=root, cuda=1, xpu=1, script=root / "main.py")
    assert reports(done.stdout)[0]["device"] == "xpu:0"


def test_cuda_plan_hides_xpu_and_ipex(comfyui, tmp_path, fake_ipex):
    root = comfyui()
    done = run(["--comfyui", str(root), "--backend", "cuda", "--", "--cuda-device", "0"],
               cwd=tmp_path, cuda=1, xpu=1, extra_path=fake_ipex)
    assert done.returncode == 0, done.stderr
    report = reports(done.stdout)[0]
    assert report["device"] == "cuda:0"
    assert report["xpu_available"] is False
    assert report["ipex_imported"] is False
    assert report["torch_preimported"] is False  # main.py's own order (flags -> env -> torch) is kept
    assert report["argv"] == ["--cuda-device", "0"]
    assert report["cwd"] == str(root)
    assert report["env"]["CUDA_VISIBLE_DEVICES"] == "0"


def test_xpu_plan_leaves_xpu_and_ipex_alone(comfyui, tmp_path, fake_ipex):
    root = comfyui()
    done = run(["--comfyui", str(root), "--backend", "xpu", "--", "--oneapi-device-selector", "level_zero:1"],
               cwd=tmp_path, cuda=1, xpu=2, extra_path=fake_ipex)
    assert done.returncode == 0, done.stderr
    report = reports(done.stdout)[0]
    assert report["device"] == "xpu:0"
    assert report["ipex_imported"] is True
    assert report["env"]["ONEAPI_DEVICE_SELECTOR"] == "level_zero:1"


def test_disable_ipex_blocks_its_import(comfyui, tmp_path, fake_ipex):
    root = comfyui()
    done = run(["--comfyui", str(root), "--backend", "xpu", "--disable-ipex"], cwd=tmp_path, xpu=1,
               extra_path=fake_ipex)
    assert done.returncode == 0, done.stderr
    report = reports(done.stdout)[0]
    assert (report["device"], report["ipex_imported"]) == ("xpu:0", False)


def test_cpu_flag_reaches_comfyui(comfyui, tmp_path):
    """enable_args_parsing + sys.argv: ComfyUI's --cpu takes effect although torch sees two GPUs."""
    root = comfyui("0.3.64")
    done = run(["--comfyui", str(root), "--backend", "cpu", "--", "--cpu"], cwd=tmp_path, cuda=1, xpu=1)
    assert done.returncode == 0, done.stderr
    assert reports(done.stdout)[0]["device"] == "cpu"


def test_xpu_requested_but_absent_is_a_clear_message(comfyui, tmp_path):
    root = comfyui()
    done = run(["--comfyui", str(root), "--backend", "xpu", "--prog", "comfyui-xpu"], cwd=tmp_path, cuda=1, xpu=0)
    assert done.returncode == EXIT_DEVICE_MISSING
    assert "comfyui-xpu: error: Intel XPU was selected, but torch 2.8.0" in done.stderr
    assert "sees no XPU" in done.stderr and "Traceback" not in done.stderr
    assert reports(done.stdout) == []  # ComfyUI never chose a device


def test_xpu_hidden_by_selector_is_absent_too(comfyui, tmp_path):
    root = comfyui()
    done = run(["--comfyui", str(root), "--backend", "xpu", "--", "--oneapi-device-selector", "level_zero:3"],
               cwd=tmp_path, xpu=2)
    assert done.returncode == EXIT_DEVICE_MISSING
    assert "ONEAPI_DEVICE_SELECTOR=level_zero:3" in done.stderr


def test_cuda_requested_but_absent_is_a_clear_message(comfyui, tmp_path):
    root = comfyui()
    done = run(["--comfyui", str(root), "--backend", "cuda"], cwd=tmp_path, cuda=0, xpu=1)
    assert done.returncode == EXIT_DEVICE_MISSING
    assert "CUDA was selected, but torch 2.8.0" in done.stderr and "Traceback" not in done.stderr


def test_comfyui_argument_errors_stay_comfyuis(comfyui, tmp_path):
    root = comfyui()
    done = run(["--comfyui", str(root), "--backend", "cpu", "--", "--cpu", "--no-such-flag"], cwd=tmp_path)
    assert done.returncode == 2 and "unrecognized arguments: --no-such-flag" in done.stderr


def test_not_a_checkout(tmp_path):
    done = run(["--comfyui", str(tmp_path), "--backend", "cpu"], cwd=tmp_path)
    assert done.returncode == EXIT_DEVICE_MISSING and "is not a ComfyUI checkout" in done.stderr


def test_bootstrap_uses_only_the_standard_library():
    """It runs in environments that lack our dependencies: nothing but stdlib imports, no package imports."""
    import ast

    tree = ast.parse(BOOTSTRAP.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert imported <= set(sys.stdlib_module_names) | {"__future__", "comfy"}
    assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree))


def test_torch_imported_before_the_bootstrap_is_patched_too(comfyui, tmp_path):
    """A sitecustomize (or .pth) that imports torch early must not defeat the XPU hiding."""
    site = tmp_path / "early"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import torch\n")
    done = run(["--comfyui", str(comfyui()), "--backend", "cuda"], cwd=tmp_path, cuda=1, xpu=1, extra_path=site)
    assert done.returncode == 0, done.stderr
    report = reports(done.stdout)[0]
    assert (report["device"], report["torch_preimported"]) == ("cuda:0", True)
