"""The real probe script, run by the real interpreter of this test run (the dev environment: torch 2.13.0+cpu).

No fakes here: this is the script's contract with a real torch, checked against facts read without
importing torch in the test process (importlib.metadata)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from ipex_integration.runtime.model import Backend
from ipex_integration.proc import CommandResult
from ipex_integration.runtime.probe import SCRIPT_PATH, _parse, probe_runtime, probe_script_source


def _installed_torch() -> str | None:
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def _run_script(*argv: str, cwd: Path | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=120, cwd=cwd, check=True
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must hold exactly one JSON line, got: {done.stdout!r}"
    return json.loads(lines[0])


def test_script_imports_nothing_from_our_package():
    source = probe_script_source()
    assert "ipex_integration" not in source.replace('"""', "").split("import json", 1)[1]
    assert "import torch" in source


@pytest.fixture(scope="module")
def file_answer(tmp_path_factory):
    return _run_script(str(SCRIPT_PATH), cwd=tmp_path_factory.mktemp("cwd"))


def test_real_interpreter_answers_with_its_torch(file_answer):
    answer = file_answer
    assert answer["python_version"] == "%d.%d.%d" % sys.version_info[:3]
    assert answer["prefix"] == sys.prefix
    assert any(Path(p).is_dir() for p in answer["site_packages"])
    version = _installed_torch()
    if version is None:
        assert "torch" not in answer
        return
    torch = answer["torch"]
    assert torch["version"] == version
    suffix = version.partition("+")[2]
    expected = {"cpu": "cpu", "xpu": "xpu", "": "cuda" if torch["cuda_version"] else "cpu"}.get(suffix)
    if suffix.startswith("cu"):
        expected = "cuda"
    assert torch["build"] == expected
    assert answer["cuda"]["available"] in (True, False)
    assert answer["xpu"]["available"] in (True, False)
    if not answer["cuda"]["available"]:
        assert answer["cuda"]["devices"] == []


def test_dash_c_gives_the_same_answer_and_cwd_torch_does_not_shadow(tmp_path, file_answer):
    # `-c` puts the working directory first on sys.path: a checkout's own torch/ folder must not win.
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise SystemExit('shadow torch imported')\n")
    by_c = _run_script("-c", probe_script_source(), cwd=tmp_path)
    assert "torch_error" not in by_c
    assert by_c == file_answer


def test_probe_runtime_on_the_real_interpreter():
    info = probe_runtime(sys.executable, use_cache=False)
    assert info.ok, info.error
    assert info.python == sys.executable
    assert info.python_version == "%d.%d.%d" % sys.version_info[:3]
    assert info.torch_version == _installed_torch()
    if info.torch_version and info.torch_version.endswith("+cpu"):
        assert info.torch_build == "cpu"
        assert not info.cuda_available and not info.xpu_available
        assert info.devices == ()
        assert info.can_run(Backend.CPU) and not info.can_run(Backend.CUDA)


def test_prints_during_torch_import_do_not_reach_stdout(tmp_path):
    # Some builds print banners from C code straight to fd 1 while importing; stdout must hold only the JSON.
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text(
        "import os\nos.write(1, b'banner from a C extension\\n')\nprint('and one from Python')\n"
        "__version__ = '2.8.0+cpu'\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", str(SCRIPT_PATH)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert done.stdout.count("\n") == 1
    answer = json.loads(done.stdout)
    assert answer["torch"]["version"] == "2.8.0+cpu"
    assert answer["torch"]["build"] == "cpu"
    assert "banner from a C extension" in done.stderr
    assert "and one from Python" in done.stderr
    # this torch has no torch.cuda: that part fails as a field, the rest of the answer stands
    assert "error" in answer["cuda"]


def test_answer_is_found_after_startup_noise_on_stdout():
    # A sitecustomize or a wrapper script may print before the probe starts: the last JSON line counts.
    answer = {"probe": 1, "python_version": "3.12.3", "site_packages": []}
    stdout = "hello from sitecustomize\n{not json\n" + json.dumps(answer) + "\n"
    info, raw = _parse("/x/python", CommandResult(("/x/python",), 0, stdout, ""), 30.0)
    assert info.ok and info.python_version == "3.12.3" and raw == answer
