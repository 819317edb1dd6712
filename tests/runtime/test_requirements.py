"""The one requirements installer, in a real virtual environment (pip offline: a folder of tiny hand-built
wheels stands in for PyPI; torch among them)."""

from __future__ import annotations

import os
import subprocess
import venv

import pytest

from ipex_integration.errors import EnvironmentSetupError
from ipex_integration.runtime.model import Backend, Environment
from ipex_integration.runtime.requirements import install_requirements, requirement_name
from tests.nodes.test_requirements_venv import make_wheel, version_in

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("line, name", [
    ("Torch_Vision>=0.20 ; python_version >= '3.9'", "torch-vision"),
    ("opencv-python[contrib]==4.10", "opencv-python"),
    ("torchaudio  # the audio nodes", "torchaudio"),
    ("pkg @ https://example.org/pkg-1.0.tar.gz", "pkg"),
    ("# a comment", None),
    ("-r base.txt", None),
    ("--extra-index-url https://example.org", None),
    ("", None),
    ("not a requirement!", None),
])
def test_requirement_name(line, name):
    assert requirement_name(line) == name


@pytest.fixture(scope="module")
def xpu_env(tmp_path_factory):
    """An XPU-like environment: torch and torchvision +xpu and triton, no torchaudio."""
    root = tmp_path_factory.mktemp("reqs")
    wheels = root / "wheels"
    wheels.mkdir()
    for args in [("torch", "2.8.0+xpu"), ("torch", "2.9.0"), ("torchvision", "0.23.0+xpu"), ("torchvision", "0.24.0"),
                 ("torchaudio", "2.8.0"), ("triton", "3.4.0"), ("triton", "3.5.0"), ("demo_dep", "1.0"),
                 ("needs_new_triton", "1.0", ("triton>=3.5",))]:
        make_wheel(wheels, *args)
    env_dir = root / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels,
                    "torch==2.8.0+xpu", "torchvision==0.23.0+xpu", "triton==3.4.0"], check=True)
    offline = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
    return Environment("xpu", str(python), Backend.XPU), offline


def test_companions_pinned_missing_ones_left_out_and_relative_includes_kept(xpu_env, tmp_path):
    env, offline = xpu_env
    (tmp_path / "base.txt").write_text("demo-dep\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("-r base.txt\ntorchvision>=0.20\ntorchaudio  # audio nodes\n")
    result = install_requirements(env, requirements, environ=offline)
    assert dict(result.pinned) == {"torch": "2.8.0+xpu", "torchvision": "0.23.0+xpu", "triton": "3.4.0"}
    assert result.skipped == ("torchaudio",)  # a generic torchaudio would not match torch +xpu
    assert result.mismatched == () and result.conflicts == ()
    assert version_in(env.python, "demo_dep") == "1.0"  # the -r line beside the file still resolved
    assert version_in(env.python, "torchvision") == "0.23.0+xpu"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.txt", "requirements.txt"]  # no filtered copy left


def test_a_requirement_that_needs_another_triton_fails_naming_the_pins(xpu_env, tmp_path):
    env, offline = xpu_env
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("needs-new-triton\n")
    with pytest.raises(EnvironmentSetupError, match=r"environment xpu failed \(pinned: .*triton==3\.4\.0\)") as info:
        install_requirements(env, requirements, environ=offline)
    assert "\n" not in info.value.message and len(info.value.message) < 600
    assert version_in(env.python, "triton") == "3.4.0"


def test_environment_without_torch_is_refused_when_torch_is_required(tmp_path):
    bare = tmp_path / "bare"
    venv.EnvBuilder(with_pip=False).create(bare)
    env = Environment("cpu", str(bare / "bin" / "python"), Backend.CPU)
    with pytest.raises(EnvironmentSetupError, match="has no torch"):
        install_requirements(env, None, extra=("requests",), require_torch=True)
