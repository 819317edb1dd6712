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
