"""ComfyUI's arguments refused before it starts, by a parser built from the installed version's flag set."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from ipex_integration.cli import comfyui as cli
from ipex_integration.comfyui.argcheck import check_argv
from ipex_integration.comfyui.flags import parse_cli_args, read_flag_set
from ipex_integration.comfyui.prepare import prepare_launch
from ipex_integration.errors import UsageError
from ipex_integration.plan.model import DeviceRequest
from ipex_integration.runtime.model import Backend
from tests.fakes.comfyui import fake_torch_env

from .helpers import resolver

VERSIONS = ("0.3.47", "0.3.64", "dec2024")

# argv -> what the fake ComfyUI's own argparse (rendered from the version's flag set) says about it.
ARGVS = [
    [],
    ["--lowvram", "--novram"],
    ["--lowvram"],
    ["--preview-method", "bogus"],
    ["--preview-method", "taesd"],
    ["--cuda-device", "x"],
    ["--cuda-device", "1"],
    ["--port", "80x"],
    ["--max-upload-size", "1.5"],
    ["--max-upload-size", "big"],
    ["--verbose", "LOUD"],
    ["--verbose"],
    ["--default-hashing-function", "crc"],
    ["--fast", "nonsense"],
    ["--fast"],
    ["--listen", "--port", "9"],
    ["--cpu", "--gpu-only"],
    ["--output-directory", "/tmp/x y"],
]

_TRUTH = r"""
import json, sys
sys.argv = ["main.py"]
from comfy import cli_args
answers = []
for argv in json.load(sys.stdin):
    try:
        cli_args.parser.parse_args(argv)
        answers.append(True)
    except SystemExit:
        answers.append(False)
print(json.dumps(answers))
"""


@pytest.mark.parametrize("version", VERSIONS)
def test_refuses_exactly_what_that_versions_parser_refuses(comfyui, version):
    root = comfyui(version)
    done = subprocess.run([sys.executable, "-c", _TRUTH], cwd=root, input=json.dumps(ARGVS), capture_output=True,
                          text=True, check=True)
    truth = json.loads(done.stdout)
    flag_set = read_flag_set(root, use_cache=False)
    ours = []
    for argv in ARGVS:
        try:
            check_argv(argv, flag_set, version_label=version)
            ours.append(True)
        except UsageError:
            ours.append(False)
    assert dict(zip(map(tuple, ARGVS), ours)) == dict(zip(map(tuple, ARGVS), truth))
    assert truth[1:4] == [False, True, False]  # the table exercises refusals, not only acceptances


@pytest.mark.parametrize(("argv", "says"), [
    (["--lowvram", "--novram"], "not allowed with argument --lowvram"),
    (["--preview-method", "bogus"], "invalid choice: 'bogus'"),
    (["--cuda-device", "x"], "invalid int value: 'x'"),
])
def test_the_refusal_names_the_version_and_the_reason(comfyui, argv, says):
    flag_set = read_flag_set(comfyui("0.3.64"))
    with pytest.raises(UsageError) as caught:
        check_argv(argv, flag_set, version_label="0.3.64")
    assert "ComfyUI 0.3.64 would refuse" in str(caught.value) and says in str(caught.value)


def test_enum_typed_options_get_the_enum_values_as_choices():
    text = (
        "import argparse, enum\n"
        "class Mode(enum.Enum):\n    A = 'a'\n    B = 'b'\n"
        "def check(v):\n    return v\n"
        "parser = argparse.ArgumentParser()\n"
        "parser.add_argument('--mode', type=Mode)\n"
        "parser.add_argument('--dir', type=check)\n"
        "parser.add_argument('--level', type=int, choices=[1, 2])\n"
    )
    flags = {f.name: f for f in parse_cli_args(text)}
    assert flags["--mode"].choices == ("a", "b") and flags["--mode"].type == "Mode"
    assert flags["--dir"].choices is None and flags["--dir"].type == "check"
    assert flags["--level"].choices == ("1", "2")


def test_refused_before_any_plan_is_made(comfyui, tmp_path):
    root = comfyui("0.3.47")
    resolve = resolver(tmp_path)
    with pytest.raises(UsageError, match="ComfyUI 0.3.47 would refuse"):
        prepare_launch(DeviceRequest(backend=Backend.CUDA), ["--lowvram", "--novram"], comfyui=str(root),
                       environ=fake_torch_env(cuda=1), resolve=resolve)
    assert resolve.calls == []  # no interpreter was asked


def test_prepare_launch_gives_checkout_plan_and_spec(comfyui, tmp_path):
    root = comfyui("0.3.47")
    prepared = prepare_launch(DeviceRequest(backend=Backend.CUDA), ["--preview-method", "taesd"],
                              comfyui=str(root), environ=fake_torch_env(cuda=1), resolve=resolver(tmp_path))
    assert prepared.plan.backend is Backend.CUDA and prepared.checkout.path == root.resolve()
    assert prepared.spec.comfyui_argv[-2:] == ("--preview-method", "taesd")
    assert prepared.notes == prepared.spec.notes and any("--cuda-device" in n for n in prepared.notes)
    assert set(prepared.to_dict()) == {"comfyui", "plan", "launch"}


def test_launcher_exits_2_with_one_line_before_comfyui_starts(comfyui, tmp_path, capsys):
    root = comfyui("0.3.47")
    resolve = resolver(tmp_path)
    code = cli.launcher_main("comfyui-ipex", ["--comfyui", str(root), "--preview-method", "bogus"],
                             environ=fake_torch_env(cuda=1), resolve=resolve, out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 2 and "ComfyUI 0.3.47 would refuse" in err and "Traceback" not in err
    assert resolve.calls == []
