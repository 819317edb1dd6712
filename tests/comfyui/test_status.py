"""The ComfyUI section of `ipex status`, with the real requirement check run by a real interpreter."""

from __future__ import annotations

import dataclasses
import os

from ipex_integration.comfyui.checkout import inspect_checkout, register_checkout
from ipex_integration.comfyui.status import checks
from ipex_integration.hardware.model import HardwareReport
from ipex_integration.runtime.model import Backend, Environment, RuntimeInfo
from ipex_integration.status.context import StatusContext
from ipex_integration.status.model import Level
from ipex_integration.status.sections import collect_status

from .helpers import PYTHON, plan_for

CURRENT = Environment("current", PYTHON, None, registered=False)


def context(**kwargs) -> StatusContext:
    return StatusContext(hardware=HardwareReport(), environments=[(CURRENT, None)], environ=dict(os.environ), **kwargs)


def by_name(rows):
    return {row.name: row for row in rows}


def test_no_checkout_is_missing_with_the_fix():
    (row,) = checks(context())
    assert (row.section, row.name, row.level) == ("ComfyUI", "checkout", Level.MISSING)
    assert row.fix.startswith("ipex comfyui install")


def test_registered_checkout_with_requirements_met(comfyui):
    root = comfyui(requirements="numpy\n# comment\ntorch\n")
    register_checkout(inspect_checkout(root, found_by="test"))
    rows = by_name(checks(context()))
    assert rows["checkout"].level is Level.OK and str(root.resolve()) in rows["checkout"].detail
    assert rows["version"].detail == "0.3.47 (from comfyui_version.py)"
    assert rows["device flags"].level is Level.OK and "--oneapi-device-selector yes" in rows["device flags"].detail
    req = rows["requirements (current)"]
    assert req.level is Level.OK and req.detail == "all 3 requirements installed"  # numpy, torch, requests


def test_missing_and_wrong_requirements_block_the_selected_environment(comfyui, tmp_path):
    root = comfyui(requirements="numpy<1\nno-such-package-xyz>=2\ntorch\n")
    register_checkout(inspect_checkout(root, found_by="test"))
    plan = plan_for(Backend.CPU, tmp_path, source="--cpu")
    assert plan.environment == "current"
    req = by_name(checks(context(plan=plan)))["requirements (current)"]
    assert req.level is Level.ERROR and req.blocks_selected_path
    assert "missing: no-such-package-xyz>=2" in req.detail and "wrong version: numpy<1 (installed: " in req.detail
    assert req.fix == "ipex comfyui requirements --backend current"


def test_registered_environments_are_checked_not_the_current_one(comfyui):
    register_checkout(inspect_checkout(comfyui(), found_by="test"))
    cpu = Environment("cpu", PYTHON, Backend.CPU)
    broken = Environment("xpu", "/nonexistent/python", Backend.XPU)
    ctx = dataclasses.replace(context(), environments=(
        (cpu, None), (broken, RuntimeInfo(python=broken.python, ok=False, error="interpreter not found")), (CURRENT, None)))
    rows = by_name(checks(ctx))
    assert rows["requirements (cpu)"].level is Level.OK
    assert rows["requirements (xpu)"].level is Level.MISSING and rows["requirements (xpu)"].fix == "ipex env create xpu"
    assert "requirements (current)" not in rows


def test_old_comfyui_without_oneapi_selector(comfyui):
    register_checkout(inspect_checkout(comfyui("dec2024"), found_by="test"))
    rows = by_name(checks(context()))
    assert "through ONEAPI_DEVICE_SELECTOR instead" in rows["device flags"].detail
    assert rows["version"].level is Level.WARNING  # that version had no comfyui_version.py


def test_broken_registration_is_an_error(tmp_path):
    gone = tmp_path / "gone"
    (gone / "comfy").mkdir(parents=True)
    for name in ("main.py", "comfy/cli_args.py", "comfy/options.py"):
        (gone / name).write_text("")
    register_checkout(inspect_checkout(gone, found_by="test"))
    (gone / "main.py").unlink()
    (row,) = checks(context())
    assert row.level is Level.ERROR and "the registered ComfyUI is gone or broken" in row.detail


def test_section_is_part_of_ipex_status(comfyui):
    register_checkout(inspect_checkout(comfyui(), found_by="test"))
    rows = [r for r in collect_status(context()) if r.section == "ComfyUI"]
    assert {r.name for r in rows} >= {"checkout", "version", "device flags", "requirements (current)"}


def test_missing_torchaudio_is_only_a_warning(comfyui):
    root = comfyui(requirements="torch\ntorchaudio\nnumpy\n")
    register_checkout(inspect_checkout(root, found_by="test"))
    cpu = Environment("cpu", PYTHON, Backend.CPU)
    ctx = dataclasses.replace(context(), environments=((cpu, None),))
    row = by_name(checks(ctx))["requirements (cpu)"]
    assert row.level is Level.WARNING and "torchaudio missing" in row.detail and not row.blocks_selected_path
    assert row.fix == "ipex env create cpu --package torchvision --package torchaudio"
