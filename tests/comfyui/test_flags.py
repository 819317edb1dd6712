"""Reading a ComfyUI version's flags from its cli_args.py, and translating plans into them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ipex_integration.comfyui.flags import ONE, OPTIONAL, read_flag_set, scan_argv, translate
from ipex_integration.errors import UsageError
from ipex_integration.runtime.model import Backend

from .helpers import plan_for

VERSIONS = ("0.3.47", "0.3.64", "dec2024")

# What argparse itself builds from a cli_args.py: the ground truth our ast reading must match.
_ARGPARSE_DUMP = r"""
import argparse, json, sys
sys.argv = ["main.py"]
from comfy import cli_args
parser = cli_args.parser
groups = {}
for i, group in enumerate(parser._mutually_exclusive_groups):
    for action in group._group_actions:
        groups[action.dest] = i
out = []
for a in parser._actions:
    values = "none" if a.nargs == 0 else {None: "one", "?": "optional", "*": "any", "+": "some"}.get(a.nargs, "one")
    out.append({"options": a.option_strings, "values": values, "group": groups.get(a.dest)})
print(json.dumps(out))
"""


@pytest.mark.parametrize("version", VERSIONS)
def test_flag_set_matches_what_argparse_builds(comfyui, version):
    root = comfyui(version)
    truth = json.loads(subprocess.run([sys.executable, "-c", _ARGPARSE_DUMP], cwd=root, capture_output=True,
                                      text=True, check=True).stdout)
    flag_set = read_flag_set(root, use_cache=False)
    assert [list(f.options) for f in flag_set.flags] == [t["options"] for t in truth]
    assert [f.values for f in flag_set.flags] == [t["values"] for t in truth]
    # Same partition into mutually exclusive groups (names vs. indices).
    ours = {f.dest: f.group for f in flag_set.flags}
    pairs = {(a["options"][0], b["options"][0]) for a in truth for b in truth
             if a["group"] is not None and a["group"] == b["group"]}
    assert pairs == {(a.options[0], b.options[0]) for a in flag_set.flags for b in flag_set.flags
                     if a.group is not None and a.group == b.group}
    assert ours["cpu"] == ours["lowvram"] is not None


def test_versions_differ_where_upstream_changed(comfyui):
    v47, v64, dec = (read_flag_set(comfyui(v)) for v in ("0.3.47", "0.3.64", "dec2024"))
    assert v47.get("--cuda-device").type == "int" and v47.get("--cuda-device").values == ONE
    assert v47.accepts("--oneapi-device-selector") and v64.accepts("--oneapi-device-selector")
    assert not dec.accepts("--oneapi-device-selector")
    assert v64.accepts("--force-non-blocking") and not v47.accepts("--force-non-blocking")
    assert v47.get("--listen").values == OPTIONAL and v47.get("--listen").const == "0.0.0.0,::"
    assert v47.get("--port").default == 8188


def test_flag_set_is_cached_by_content(comfyui, isolated_home):
    root = comfyui("0.3.47")
    first = read_flag_set(root)
    cached = list((isolated_home / "cache" / "comfyui-flags").glob("*.json"))
    assert len(cached) == 1 and first.sha256[:24] in cached[0].name
    # The cache is what is read next time: plant a marker flag in it.
    data = json.loads(cached[0].read_text())
    data["flags"].append({"options": ["--from-cache"], "dest": "from_cache", "values": "none"})
    cached[0].write_text(json.dumps(data))
    assert read_flag_set(root).accepts("--from-cache")
    # An edited cli_args.py is a new key: re-read from source.
    (root / "comfy" / "cli_args.py").write_text((root / "comfy" / "cli_args.py").read_text() + "\n# edited\n")
    assert not read_flag_set(root).accepts("--from-cache")
    # A corrupt cache entry is ignored.
    cached[0].write_text("{not json")
    (root / "comfy" / "cli_args.py").write_text((root / "comfy" / "cli_args.py").read_text().replace("\n# edited\n", "\n"))
    assert read_flag_set(root).accepts("--cpu")


@pytest.mark.parametrize("version", VERSIONS)
def test_cpu_plan_adds_cpu_and_default_listen(comfyui, tmp_path, version):
    plan = plan_for(Backend.CPU, tmp_path, source="--cpu")
    result = translate(plan, read_flag_set(comfyui(version)), ["--port", "8190", "--preview-size", "256"])
    assert result.argv == ("--cpu", "--listen", "127.0.0.1", "--port", "8190", "--preview-size", "256")
    assert (result.listen, result.port) == ("127.0.0.1", 8190)


@pytest.mark.parametrize("version", VERSIONS)
def test_cuda_plan_repeats_the_plans_visible_device(comfyui, tmp_path, version):
    plan = plan_for(Backend.CUDA, tmp_path, cuda=2, cuda_device=1, source="--cuda-device 1")
    assert plan.env["CUDA_VISIBLE_DEVICES"] == "1"
    result = translate(plan, read_flag_set(comfyui(version)), [])
    assert result.argv == ("--cuda-device", "1", "--listen", "127.0.0.1")
    assert result.port == 8188


@pytest.mark.parametrize(("version", "expected"), [
    ("0.3.47", ("--oneapi-device-selector", "level_zero:1", "--listen", "127.0.0.1")),
    ("0.3.64", ("--oneapi-device-selector", "level_zero:1", "--listen", "127.0.0.1")),
    ("dec2024", ("--listen", "127.0.0.1")),  # no such flag yet: the plan's variable alone selects the GPU
])
def test_xpu_plan_uses_oneapi_selector_where_accepted(comfyui, tmp_path, version, expected):
    plan = plan_for(Backend.XPU, tmp_path, xpu=2, intel_device=1, source="--intel-device 1")
    assert plan.env["ONEAPI_DEVICE_SELECTOR"] == "level_zero:1"
    result = translate(plan, read_flag_set(comfyui(version)), [], version_label=version)
    assert result.argv == expected
    if version == "dec2024":
        assert any("lacks it" in note and "ONEAPI_DEVICE_SELECTOR=level_zero:1" in note for note in result.notes)


def test_users_own_visibility_variable_is_not_overridden(comfyui, tmp_path):
    plan = plan_for(Backend.CUDA, tmp_path, cuda=2, environ={"CUDA_VISIBLE_DEVICES": "1"}, source="--cuda")
    assert "CUDA_VISIBLE_DEVICES" in plan.env_kept
    assert "--cuda-device" not in translate(plan, read_flag_set(comfyui()), []).argv


def test_users_comfyui_device_flag_wins(comfyui, tmp_path):
    plan = plan_for(Backend.XPU, tmp_path, source="--xpu")
    result = translate(plan, read_flag_set(comfyui()), ["--oneapi-device-selector", "level_zero:0"])
    assert result.argv == ("--listen", "127.0.0.1", "--oneapi-device-selector", "level_zero:0")


@pytest.mark.parametrize(("argv", "listen", "port"), [
    (["--listen", "0.0.0.0"], "0.0.0.0", 8188),
    (["--listen"], "0.0.0.0,::", 8188),  # bare --listen: ComfyUI's const
    (["--lis=10.0.0.1", "--po", "9"], "10.0.0.1", 9),  # argparse abbreviations
    (["--port=8200", "--port", "8300"], "127.0.0.1", 8300),  # the last one wins, as in argparse
])
def test_listen_and_port_as_comfyui_will_see_them(comfyui, tmp_path, argv, listen, port):
    plan = plan_for(Backend.CPU, tmp_path, source="--cpu")
    result = translate(plan, read_flag_set(comfyui()), argv)
    assert (result.listen, result.port) == (listen, port)
    assert result.argv[-len(argv):] == tuple(argv)  # passed through unchanged, in order
    assert ("--listen" in result.added) == (listen == "127.0.0.1")


@pytest.mark.parametrize(("version", "argv", "message"), [
    ("0.3.47", ["--force-non-blocking"], "ComfyUI 0.3.47 does not accept --force-non-blocking"),
    ("0.3.64", ["--bogus"], "ComfyUI 0.3.64 does not accept --bogus"),
    ("0.3.47", ["--fp"], "is ambiguous"),
    ("0.3.47", ["--port"], "needs a value"),
    ("0.3.47", ["--highvram=1"], "takes no value"),
    ("0.3.47", ["stray"], "takes options only"),
])
def test_flags_the_version_lacks_are_clear_errors(comfyui, tmp_path, version, argv, message):
    plan = plan_for(Backend.CUDA, tmp_path, source="--cuda")
    with pytest.raises(UsageError, match=message):
        translate(plan, read_flag_set(comfyui(version)), argv, version_label=version)


def test_force_non_blocking_passes_on_the_version_that_has_it(comfyui, tmp_path):
    plan = plan_for(Backend.CUDA, tmp_path, source="--cuda")
    assert "--force-non-blocking" in translate(plan, read_flag_set(comfyui("0.3.64")), ["--force-non-blocking"]).argv


def test_cpu_mode_conflicts_with_vram_flags(comfyui, tmp_path):
    plan = plan_for(Backend.CPU, tmp_path, source="--cpu")
    with pytest.raises(UsageError, match="--lowvram cannot be combined with CPU mode"):
        translate(plan, read_flag_set(comfyui()), ["--lowvram"])
    # On a GPU the same flag is fine.
    gpu = plan_for(Backend.CUDA, tmp_path, source="--cuda")
    assert "--lowvram" in translate(gpu, read_flag_set(comfyui()), ["--lowvram"]).argv


def test_multi_value_flags_consume_their_values(comfyui):
    flag_set = read_flag_set(comfyui())
    given = scan_argv(["--fast", "fp16_accumulation", "cublas_ops", "--cpu-vae", "--whitelist-custom-nodes", "a", "b"],
                      flag_set, version_label="0.3.47")
    assert [(g.spec.dest, g.values) for g in given] == [
        ("fast", ("fp16_accumulation", "cublas_ops")), ("cpu_vae", ()), ("whitelist_custom_nodes", ("a", "b"))]


# --- the newest ComfyUI (cli_args.py of 0.38.x): see docs/comfyui.md "Versions checked"


def test_newest_comfyui_flag_set(comfyui):
    new = read_flag_set(comfyui("0.38"))
    cuda = new.get("--cuda-device")
    assert cuda.type == "str" and cuda.values == ONE  # "0", "0,1" or "all"
    assert new.get("--default-device").type == "int"
    for flag in ("--async-offload", "--disable-dynamic-vram", "--enable-dynamic-vram", "--disable-cuda-graphs",
                 "--disable-comfy-compiler", "--offline", "--enable-manager", "--database-url", "--vram-headroom"):
        assert new.accepts(flag), flag
    assert not new.accepts("--disable-ipex-optimize") and not new.accepts("--normalvram")
    assert new.get("--async-offload").values == OPTIONAL


def test_newest_comfyui_takes_the_plans_device_list(comfyui, tmp_path):
    """A string --cuda-device: the plan's CUDA_VISIBLE_DEVICES goes through as it is (comma lists too)."""
    plan = plan_for(Backend.CUDA, tmp_path, cuda=2, cuda_device=1, source="--cuda-device 1")
    result = translate(plan, read_flag_set(comfyui("0.38")), ["--async-offload", "4", "--disable-cuda-graphs"],
                       version_label="0.38.1")
    assert result.argv == ("--cuda-device", "1", "--listen", "127.0.0.1", "--async-offload", "4",
                           "--disable-cuda-graphs")
    users = translate(plan, read_flag_set(comfyui("0.38")), ["--cuda-device", "all"], version_label="0.38.1")
    assert users.argv == ("--listen", "127.0.0.1", "--cuda-device", "all")  # the user's choice wins


@pytest.mark.parametrize(("version", "flag"), [
    ("0.3.64", "--disable-dynamic-vram"), ("0.3.47", "--disable-cuda-graphs"), ("0.3.64", "--offline"),
    ("0.3.64", "--enable-manager"), ("0.38", "--disable-ipex-optimize"),
])
def test_flags_of_other_versions_are_refused_naming_the_installed_one(comfyui, tmp_path, version, flag):
    plan = plan_for(Backend.CUDA, tmp_path, source="--cuda")
    with pytest.raises(UsageError, match=f"ComfyUI {version} does not accept {flag}"):
        translate(plan, read_flag_set(comfyui(version)), [flag], version_label=version)
