"""Rendered units pass `systemd-analyze verify` (skipped where systemd-analyze is absent). verify exits 0 for
unknown keys and unparsable values too (it only logs them), so its output is checked as well."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ipex_integration.runtime.model import Backend
from ipex_integration.service.install import install_unit
from ipex_integration.service.units import UnitSpec

from .helpers import make_launchers

ANALYZE = shutil.which("systemd-analyze")
pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")


def _verify(path, *, user: bool, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env["XDG_RUNTIME_DIR"] = str(runtime)  # a user manager needs one, even offline
    env["SYSTEMD_LOG_LEVEL"] = "notice"
    argv = [ANALYZE, *(["--user"] if user else []), "verify", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)


CASES = [
    ("comfyui", "system", Backend.XPU, 1),
    ("comfyui", "system", Backend.CPU, None),
    ("ollama", "system", Backend.CUDA, 0),
    ("comfyui", "user", Backend.CUDA, 0),
    ("ollama", "user", Backend.XPU, None),
]


@pytest.mark.parametrize("program,scope,backend,index", CASES)
def test_rendered_units_verify_cleanly(tmp_path, program, scope, backend, index):
    bin_dir = make_launchers(tmp_path / "my bin")
    spec = UnitSpec(program, scope, str(bin_dir / f"{program}-ipex"), backend, device_index=index,
                    user="alice" if scope == "system" else None, listen="::1", port=8000,
                    extra_args=("--x", "a b 50%"), environment={"A": 'q"uote'},
                    read_write_paths=(str(tmp_path / "data dir"),) if scope == "system" else ())
    result = install_unit(spec, unit_dir=tmp_path / "units")
    done = _verify(result.path, user=scope == "user", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    problems = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert problems == [], problems


def test_verify_catches_a_bad_unit(tmp_path):
    """The check above can fail: a unit whose program does not exist is reported."""
    spec = UnitSpec("ollama", "system", str(tmp_path / "missing" / "ollama-ipex"), Backend.CPU, user="alice")
    result = install_unit(spec, unit_dir=tmp_path / "units")
    done = _verify(result.path, user=False, tmp_path=tmp_path)
    assert done.returncode != 0 and "is not executable" in done.stderr


@pytest.mark.parametrize("scope,flag", [("system", "--intel-device"), ("user", "--cuda-device")])
def test_a_llama_server_unit_verifies_cleanly(tmp_path, scope, flag):
    """The unit `ipex service install llama-server` writes: the fake build's binary, its variables, a model path
    with a space (quoted), through the real command."""
    import io

    from ipex_integration.cli.main import build_parser
    from ipex_integration.cli.service import cmd_install
    from tests.llama.helpers import install, model_file
    from tests.ollama.helpers import MACHINES

    from .helpers import FakeSystemctl, machine

    binary = install(tmp_path / "llama", ("libggml-cuda.so", "libggml-sycl.so"))
    model = model_file(tmp_path / "my models" / "tiny.gguf")
    argv = ["service", "install", "llama-server", "--model", model, "--llama-server", str(binary), flag, "0",
            "--unit-dir", str(tmp_path / "units"), "--extra-args=--ctx-size 4096", *(["--user"] if scope == "user" else [])]
    assert cmd_install(build_parser().parse_args(argv), environ={}, runner=FakeSystemctl(),
                       machine=machine(make_launchers(tmp_path / "bin")), hardware=MACHINES["nvidia_arc"],
                       out=io.StringIO()) == 0
    path = tmp_path / "units" / "llama-server-ipex.service"
    assert '"' + model + '"' in path.read_text()  # the space survives quoting
    done = _verify(path, user=scope == "user", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    problems = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert problems == [], problems
