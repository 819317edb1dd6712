"""`ipex env` through the real CLI entry point, with fake interpreters for GPU builds this machine cannot have.
The hardware probe is the real one (this machine has no GPU)."""

from __future__ import annotations

import json
import sys

import pytest

from ipex_integration.cli.main import main
from ipex_integration.runtime.model import Backend
from ipex_integration.runtime.registry import load_registry, registry_path
from tests.fakes.interpreters import make_fake_python


def run(capsys, *argv):
    rc = main(["env", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


def register(backend, python):
    registry = load_registry()
    registry.add(backend, python)
    registry.save()


def test_add_a_fitting_interpreter(tmp_path, capsys):
    python = make_fake_python(tmp_path, "cuda")
    rc, out, err = run(capsys, "add", "cuda", str(python))
    assert rc == 0, err
    assert f"registered {python} as the cuda environment" in out
    assert "torch 2.8.0+cu128" in out and "cuda:0 NVIDIA H100 80GB HBM3" in out
    assert load_registry().get(Backend.CUDA).python == str(python)


def test_add_refuses_a_wrong_build_unless_forced(tmp_path, capsys):
    python = make_fake_python(tmp_path, "cpu")
    rc, out, err = run(capsys, "add", "xpu", str(python))
    assert rc == 2
    assert err.splitlines()[0] == (
        f"ipex: error: refusing to register {python} as the xpu environment: torch 2.8.0+cpu is a cpu build; "
        "an xpu environment needs a +xpu build (from https://download.pytorch.org/whl/xpu)"
    )
    assert "--force" in err
    assert not registry_path().exists()

    rc, out, err = run(capsys, "add", "xpu", str(python), "--force")
    assert rc == 0
    assert "warning: torch 2.8.0+cpu is a cpu build" in err
    assert load_registry().get(Backend.XPU).python == str(python)


@pytest.mark.parametrize("kind, message", [("garbage", "no readable answer"), ("crash", "exited with status")])
def test_add_refuses_what_is_not_a_working_python(tmp_path, capsys, kind, message):
    python = make_fake_python(tmp_path, kind)
    rc, out, err = run(capsys, "add", "cpu", str(python), "--force")
    assert rc == 2
    assert err.startswith(f"ipex: error: {python} is not a usable Python interpreter")
    assert message in err


def test_add_missing_interpreter_and_unknown_backend(tmp_path, capsys):
    rc, _, err = run(capsys, "add", "cpu", str(tmp_path / "nope"))
    assert rc == 2 and "interpreter not found" in err
    rc, _, err = run(capsys, "add", "tpu", sys.executable)
    assert rc == 2 and "unknown backend 'tpu'; choose one of: cuda, xpu, cpu" in err


def test_add_refuses_no_torch(tmp_path, capsys):
    rc, _, err = run(capsys, "add", "cpu", str(make_fake_python(tmp_path, "notorch")))
    assert rc == 2 and "torch is not installed" in err


def test_list_json(tmp_path, capsys):
    register(Backend.XPU, make_fake_python(tmp_path, "xpu", ipex_version="2.8.10+xpu"))
    register(Backend.CUDA, tmp_path / "deleted" / "bin" / "python")
    rc, out, _ = run(capsys, "list", "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["registry"] == str(registry_path())
    names = [e["name"] for e in data["environments"]]
    assert names == ["cuda", "xpu", "current"]
    cuda, xpu, current = data["environments"]
    assert cuda["runtime"]["ok"] is False and cuda["runtime"]["error"].startswith("interpreter not found")
    assert xpu["runtime"]["torch_build"] == "xpu" and xpu["runtime"]["ipex_version"] == "2.8.10+xpu"
    assert xpu["runtime"]["devices"][0]["name"] == "Intel(R) Arc(TM) A770 Graphics"
    assert current["registered"] is False and current["python"] == sys.executable


def test_list_text_shows_missing_interpreters(tmp_path, capsys):
    register(Backend.CPU, tmp_path / "deleted" / "bin" / "python")
    rc, out, _ = run(capsys, "list")
    assert rc == 0
    assert "MISSING (interpreter not found" in out
    assert f"registry: {registry_path()}" in out


def test_check_all_ok(tmp_path, capsys):
    register(Backend.CUDA, make_fake_python(tmp_path, "cuda"))
    register(Backend.XPU, make_fake_python(tmp_path, "xpu", ipex_version="2.8.10+xpu"))
    rc, out, _ = run(capsys, "check")
    assert rc == 0
    assert "cuda: ok" in out and "xpu: ok" in out
    assert "note: IPEX 2.8.10+xpu is installed: discontinued upstream" in out


def test_check_reports_problems_and_exits_1(tmp_path, capsys):
    register(Backend.XPU, make_fake_python(tmp_path, "cpu"))
    register(Backend.CUDA, tmp_path / "gone" / "bin" / "python")
    rc, out, _ = run(capsys, "check", "--json")
    assert rc == 1
    data = json.loads(out)
    assert data["ok"] is False
    by_name = {e["name"]: e for e in data["environments"]}
    assert by_name["cuda"]["problems"][0].startswith("the runtime probe failed: interpreter not found")
    assert "is a cpu build" in by_name["xpu"]["problems"][0]

    rc, out, _ = run(capsys, "check")
    assert rc == 1
    assert "cuda: MISSING" in out and "xpu: FAIL" in out


def test_check_one_backend(tmp_path, capsys):
    register(Backend.CPU, make_fake_python(tmp_path, "cpu"))
    register(Backend.XPU, make_fake_python(tmp_path, "cpu", name="bad-xpu"))
    rc, out, _ = run(capsys, "check", "cpu")
    assert rc == 0 and "cpu: ok" in out and "xpu" not in out
    rc, _, err = run(capsys, "check", "cuda")
    assert rc == 2 and "no cuda environment is registered" in err and "ipex env create cuda" in err


def test_check_with_nothing_registered(capsys):
    rc, _, err = run(capsys, "check")
    assert rc == 1 and "no backend environment registered" in err


def test_check_times_out_a_hanging_interpreter(tmp_path, capsys):
    register(Backend.CUDA, make_fake_python(tmp_path, "hang"))
    rc, out, _ = run(capsys, "check", "--timeout", "1")
    assert rc == 1
    assert "probe timed out after 1 s" in out
    rc, out, _ = run(capsys, "list", "--timeout", "0.5")
    assert rc == 0
    assert "ERROR (probe timed out after 0.5 s" in out


def test_bad_timeout_is_a_usage_error(capsys):
    assert main(["env", "check", "--timeout", "soon"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ipex: error: argument --timeout: not a number of seconds: 'soon'\n")


def test_remove(tmp_path, capsys):
    register(Backend.CPU, "/opt/cpu/bin/python")
    rc, out, _ = run(capsys, "remove", "cpu")
    assert rc == 0 and "unregistered the cpu environment (/opt/cpu/bin/python)" in out
    assert load_registry().entries == {}
    rc, _, err = run(capsys, "remove", "cpu")
    assert rc == 2 and "no cpu environment is registered" in err


def test_corrupt_registry_is_one_line_and_untouched(capsys):
    path = registry_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"[environments\n")
    for argv in (["list"], ["check"], ["add", "cpu", sys.executable], ["remove", "cpu"]):
        rc, out, err = run(capsys, *argv)
        assert rc == 2, argv
        assert err.startswith(f"ipex: error: the environment registry {path} is not valid TOML")
    assert path.read_bytes() == b"[environments\n"


def test_env_without_subcommand_prints_help(capsys):
    rc, _, err = run(capsys)
    assert rc == 2 and "SUBCOMMAND" in err
