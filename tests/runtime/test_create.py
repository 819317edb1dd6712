"""`ipex env create` for real: a real venv, a real pip installing from a local --find-links folder (offline),
the real runtime probe. The torch wheels are fakes built here (tests/fakes/interpreters.py): PyTorch's real ones
are hundreds of MB and need the network."""

from __future__ import annotations

import os
import subprocess

import pytest

from ipex_integration.cli.main import main
from ipex_integration.errors import EnvironmentSetupError
from ipex_integration.runtime.create import create_environment, default_target, split_packages, torch_source
from ipex_integration.runtime.model import Backend
from ipex_integration.runtime.probe import probe_runtime
from ipex_integration.runtime.registry import load_registry, registry_path
from tests.fakes.interpreters import build_fake_torch_wheel

from .helpers import NO_GPU, build_wheel, hardware, intel_arc, nvidia_gpu, tree_snapshot

ARC_HW = hardware(intel_arc())


@pytest.fixture(scope="module")
def cpu_wheels(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cpu-wheels")
    build_fake_torch_wheel(folder, "cpu")
    build_wheel(folder, "ipex_test_extra", "1.0", {"ipex_test_extra.py": "import torch\nOK = True\n"}, ["torch"])
    return folder


@pytest.fixture(scope="module")
def xpu_wheels(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xpu-wheels")
    build_fake_torch_wheel(folder, "xpu", torch_version="2.9.0+xpu")
    return folder


def _leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def _fake_existing_env(target):
    """An environment already at the target (what a previous `ipex env create` left)."""
    (target / "bin").mkdir(parents=True)
    (target / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (target / "bin" / "python").symlink_to("/usr/bin/python3")
    (target / "marker.txt").write_text("the old environment\n")
    return tree_snapshot(target)


@pytest.mark.slow
def test_cli_create_cpu_offline(cpu_wheels, capsys):
    rc = main(["env", "create", "cpu", "--find-links", str(cpu_wheels), "--package", "ipex_test_extra"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    target = default_target(Backend.CPU)
    python = target / "bin" / "python"
    assert f"created the cpu environment: {python}" in out
    assert "(offline)" in err  # the progress lines name the source
    assert load_registry().get(Backend.CPU).python == str(python)
    info = probe_runtime(str(python), use_cache=False)
    assert (info.torch_version, info.torch_build) == ("2.8.0+cpu", "cpu")
    done = subprocess.run([str(python), "-c", "import ipex_test_extra; print(ipex_test_extra.OK)"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "True", done.stderr
    # renamed into place: scripts name the final path, and work from there
    assert (target / "bin" / "pip").read_text().splitlines()[0] == f"#!{target}/bin/python{_pyver()}"
    pip = subprocess.run([str(target / "bin" / "pip"), "--version"], capture_output=True, text=True, timeout=60)
    assert str(target) in pip.stdout
    assert _leftovers(target.parent) == []
    assert not (target / "ipex-constraints.txt").exists()


def _pyver():
    import sys

    return "%d.%d" % sys.version_info[:2]


@pytest.mark.slow
def test_wrong_build_fails_and_leaves_the_existing_env_untouched(cpu_wheels):
    target = default_target(Backend.XPU)
    before = _fake_existing_env(target)
    registry = load_registry()
    registry.add(Backend.XPU, target / "bin" / "python")
    registry.save()
    registry_bytes = registry_path().read_bytes()

    with pytest.raises(EnvironmentSetupError) as excinfo:
        create_environment(Backend.XPU, find_links=cpu_wheels, hardware=ARC_HW)
    assert "failed verification: torch 2.8.0+cpu is a cpu build; an xpu environment needs a +xpu build" in (
        excinfo.value.message
    )
    assert "offered a cpu torch" in excinfo.value.hint
    assert tree_snapshot(target) == before
    assert registry_path().read_bytes() == registry_bytes
    assert _leftovers(target.parent) == []


@pytest.mark.slow
def test_xpu_create_replaces_the_old_env_once_verified(xpu_wheels):
    target = default_target(Backend.XPU)
    _fake_existing_env(target)
    progress = []
    env = create_environment(Backend.XPU, find_links=xpu_wheels, hardware=ARC_HW, progress=progress.append)
    assert env.python == str(target / "bin" / "python")
    assert not (target / "marker.txt").exists()
    info = probe_runtime(env.python, use_cache=False)
    assert (info.torch_version, info.torch_build, info.xpu_available) == ("2.9.0+xpu", "xpu", True)
    assert info.devices[0].name == "Intel(R) Arc(TM) A770 Graphics"
    assert load_registry().get(Backend.XPU).python == env.python
    assert progress[-1] == f"torch 2.9.0+xpu verified in {target}"
    assert _leftovers(target.parent) == []


def test_refuses_to_replace_a_folder_that_is_not_a_venv(tmp_path, cpu_wheels):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    with pytest.raises(EnvironmentSetupError, match="is not a virtual environment"):
        create_environment(Backend.CPU, target_dir=target, find_links=cpu_wheels, hardware=NO_GPU)
    assert (target / "thesis.tex").read_text() == "years of work"


def test_missing_find_links_folder(tmp_path, capsys):
    rc = main(["env", "create", "cpu", "--find-links", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("ipex: error: --find-links folder")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "kwargs, args",
    [
        (
            {"driver_version": "575.57.08"},
            ["--index-url", "https://download.pytorch.org/whl/cu128"],
        ),
        ({"index_url": "https://mirror.example/whl/cu126"}, ["--index-url", "https://mirror.example/whl/cu126"]),
    ],
)
def test_cuda_torch_source(kwargs, args):
    assert torch_source(Backend.CUDA, **kwargs)[0] == args


def test_find_links_alone_means_offline(tmp_path):
    args, description = torch_source(Backend.XPU, find_links=tmp_path)
    assert args == ["--no-index", "--find-links", str(tmp_path)]
    assert description.endswith("(offline)")
    args, _ = torch_source(Backend.XPU, index_url="https://m.example/xpu", find_links=tmp_path)
    assert args == ["--index-url", "https://m.example/xpu", "--find-links", str(tmp_path)]


def test_cuda_driver_comes_from_the_hardware_report(tmp_path, monkeypatch):
    """The commands create runs, up to pip: a recording runner stands in for `python -m venv` (answering
    success without running it) and for a pip that fails; the real runs are the slow tests above."""
    from ipex_integration.proc import CommandResult

    monkeypatch.setenv("PYTHONPATH", "/somewhere/with/another/torch")
    monkeypatch.setenv("VIRTUAL_ENV", "/tmp/devenv")
    calls, envs = [], []

    def runner(argv, *, timeout, env=None, input=None):
        calls.append(list(argv))
        envs.append(dict(env))
        if "pip" in argv:
            return CommandResult(tuple(argv), 1, "", "ERROR: No matching distribution found for torch")
        return CommandResult(tuple(argv), 0, "", "")

    with pytest.raises(EnvironmentSetupError, match="pip install torch failed .*No matching distribution"):
        create_environment(Backend.CUDA, target_dir=tmp_path / "cuda", hardware=hardware(nvidia_gpu("580.82.07")),
                           runner=runner, python="/usr/bin/python3")
    venv_call, pip_call = calls
    assert venv_call[:3] == ["/usr/bin/python3", "-m", "venv"]
    assert pip_call[pip_call.index("--index-url") + 1] == "https://download.pytorch.org/whl/cu130"
    assert pip_call[-1] == "torch"
    # the caller's venv and PYTHONPATH must not leak into the new environment's pip
    assert all("VIRTUAL_ENV" not in e and "PYTHONPATH" not in e for e in envs)
    assert os.environ["PYTHONPATH"] == "/somewhere/with/another/torch"  # our own process is left alone
    assert not (tmp_path / "cuda").exists() and _leftovers(tmp_path) == []


def test_split_packages():
    assert split_packages(["torchvision==0.23.0", "torchaudio", "diffusers>=0.30", "Torch_Vision", "einops"]) == (
        ["torchvision==0.23.0", "torchaudio"],
        ["diffusers>=0.30", "Torch_Vision", "einops"],
    )
