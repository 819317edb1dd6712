"""The fake checkout's cli_args.py: flag sets (data) -> rendered module -> argparse, and back to the same data."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.fakes.comfyui import VERSIONS
from tests.fakes.comfyui.extract_flagset import ExtractError, extract
from tests.fakes.comfyui.flagset import load_flagset, render_cli_args


def _without_computed(data: dict) -> dict:
    """A default computed at import (a path) is rendered as no default, so it reads back as None."""
    arguments = [{**a, "default": None} if a["default"] == {"computed": True} else a for a in data["arguments"]]
    return {**data, "source": None, "arguments": arguments}


@pytest.mark.parametrize("version", VERSIONS)
def test_rendered_module_reads_back_as_its_flag_set(version):
    data = load_flagset(VERSIONS[version][0])
    assert extract(render_cli_args(data, label=version)) == _without_computed(data)


def test_extractor_refuses_what_it_does_not_understand():
    source = "import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument('--x', type=lambda v: v)\n"
    with pytest.raises(ExtractError, match="line 3: a type"):
        extract(source)


_PRINT_ARGS = r"""
import json, sys
sys.argv = ["main.py"] + sys.argv[1:]
import comfy.options
comfy.options.enable_args_parsing()
from comfy.cli_args import args
print(json.dumps({"preview": args.preview_method.value, "fp16_unet": args.fp16_unet,
                  "fast": sorted(f.value for f in args.fast), "auto_launch": args.auto_launch}))
"""


def test_enum_option_and_post_parse_rules(comfyui):
    root = comfyui("0.3.64")
    argv = ["--preview-method", "taesd", "--force-fp16", "--fast", "--windows-standalone-build"]
    done = subprocess.run([sys.executable, "-c", _PRINT_ARGS, *argv], cwd=root, capture_output=True, text=True,
                          check=True)
    assert json.loads(done.stdout) == {"preview": "taesd", "fp16_unet": True, "auto_launch": True,
                                       "fast": ["autotune", "cublas_ops", "fp16_accumulation", "fp8_matrix_mult"]}
    bad = subprocess.run([sys.executable, "-c", _PRINT_ARGS, "--preview-method", "sharp"], cwd=root,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice: 'sharp'" in bad.stderr
