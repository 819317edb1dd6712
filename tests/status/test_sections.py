"""Status sections on hand-built contexts: fake hardware layouts, fake runtime answers, a fake ldconfig."""

from __future__ import annotations

import json
import sys

import pytest

from ipex_integration.hardware.model import HardwareReport
from ipex_integration.runtime.model import Backend
from ipex_integration.status import render, sections
from ipex_integration.status.context import StatusContext
from ipex_integration.status.model import Level
from ipex_integration.status.sections import GROUP_FIX, collect_status, usable
from tests.status.helpers import (
    ALL_INTEL_LIBS,
    FakeLdconfig,
    cpu_info,
    cuda_info,
    env,
    hardware_of,
    interpreter,
    no_torch_info,
    plan,
    xpu_info,
)

CURRENT = sys.executable


def ctx_for(tmp_path, layout, *, environments=(), plan_=None, plan_error=None, runner=None, access=lambda p: True,
            groups=(), environ=None):
    hardware, root = hardware_of(tmp_path, layout)
    return StatusContext(
        hardware=hardware, environments=environments, plan=plan_, plan_error=plan_error,
        environ=environ or {}, root=root, runner=runner or FakeLdconfig(ALL_INTEL_LIBS),
        access=access, groups=lambda: tuple(groups),
    )


def rows(checks, section):
    return [c for c in checks if c.section == section]


# --------------------------------------------------------------------------------------------- whole table


def test_no_gpu_machine_with_cpu_torch_is_usable_and_says_no_gpu(tmp_path):
    runner = FakeLdconfig()
    ctx = ctx_for(tmp_path, "no_gpu", environments=[(env("current", CURRENT), cpu_info(CURRENT))],
                  plan_=plan(Backend.CPU, "current", CURRENT), runner=runner)
    checks = collect_status(ctx)
    (gpu,) = rows(checks, "GPUs")
    assert gpu.level is Level.WARNING and "no GPU found" in gpu.detail and "CPU" in gpu.detail
    assert rows(checks, "Render nodes") == []
    assert [c.level for c in rows(checks, "Intel GPU runtime")] == [Level.OK]
    assert runner.calls == []  # no Intel GPU: ldconfig is not even asked
    assert rows(checks, "IPEX")[0].level is Level.OK
    assert rows(checks, "Selected device")[0].detail.startswith("CPU in environment current")
    assert usable(checks, ctx.plan)
    # The table's order: built-in sections, (hooks), then the verdict on the selected device.
    order = list(dict.fromkeys(c.section for c in checks))
    assert order[0] == "GPUs" and order[-1] == "Selected device"


def test_plan_error_makes_it_unusable(tmp_path):
    ctx = ctx_for(tmp_path, "no_gpu", environments=[(env("current", CURRENT), no_torch_info(CURRENT))],
                  plan_error="no environment has torch")
    checks = collect_status(ctx)
    (row,) = rows(checks, "Selected device")
    assert row.level is Level.ERROR and row.blocks_selected_path and "no environment has torch" in row.detail
    assert not usable(checks, None)


def test_usable_needs_a_plan_and_no_blocker(tmp_path):
    p = plan(Backend.CPU, "current", CURRENT)
    assert usable([], p)
    assert not usable([], None)
    blocker = sections.Check("X", "y", Level.ERROR, "z", blocks_selected_path=True)
    assert not usable([blocker], p)


# --------------------------------------------------------------------------------------------- GPUs / drivers


def test_gpu_rows_describe_each_gpu(tmp_path):
    checks = sections.gpus(ctx_for(tmp_path, "igpu_arc"))
    assert [(c.name, c.level) for c in checks] == [
        ("Intel UHD Graphics 770 (Raptor Lake-S)", Level.OK), ("Intel Arc B580 Graphics", Level.OK)]
    assert "integrated" in checks[0].detail and "discrete" in checks[1].detail
    assert "/dev/dri/renderD129" in checks[1].detail


def test_amd_gpu_is_flagged_as_not_a_backend(tmp_path):
    (row,) = sections.gpus(ctx_for(tmp_path, "amd_only"))
    assert row.level is Level.WARNING and "not a backend" in row.detail


def test_probe_notes_become_warnings(tmp_path):
    hardware = HardwareReport(notes=("no GPU found: x", "NVML: boom"))
    checks = sections.gpus(StatusContext(hardware=hardware))
    assert [(c.name, c.level) for c in checks] == [("GPU", Level.WARNING), ("probe", Level.WARNING)]
    assert checks[1].detail == "NVML: boom"


def test_drivers_for_nvidia_and_intel(tmp_path):
    checks = sections.drivers(ctx_for(tmp_path, "nvidia_arc"))
    assert [(c.name, c.level) for c in checks] == [
        ("nvidia", Level.OK), ("Intel Arc A770 Graphics (0000:03:00.0)", Level.OK)]
    assert "550.54.15" in checks[0].detail and "i915" in checks[1].detail


def test_intel_gpu_without_driver_blocks_xpu(tmp_path):
    from dataclasses import replace

    ctx = ctx_for(tmp_path, "igpu_arc", plan_=plan(Backend.XPU, "xpu", CURRENT, index=1))
    arc = replace(ctx.hardware.gpus[1], driver=None)
    ctx = replace(ctx, hardware=replace(ctx.hardware, gpus=(ctx.hardware.gpus[0], arc)))
    row = sections.drivers(ctx)[1]
    assert row.level is Level.ERROR and row.blocks_selected_path and "modprobe xe" in row.fix


def test_nvidia_gpu_without_nvidia_module(tmp_path):
    from dataclasses import replace

    ctx = ctx_for(tmp_path, "nvidia_only", plan_=plan(Backend.CUDA, "cuda", CURRENT, index=0))
    hw = replace(ctx.hardware, loaded_modules=(), nvidia_source="none",
                 gpus=tuple(replace(g, driver="nouveau") for g in ctx.hardware.gpus))
    (row,) = sections.drivers(replace(ctx, hardware=hw))
    assert row.level is Level.ERROR and "nouveau" in row.detail and row.blocks_selected_path


def test_no_gpu_drivers_row(tmp_path):
    (row,) = sections.drivers(ctx_for(tmp_path, "no_gpu"))
    assert row.level is Level.OK and "no NVIDIA or Intel GPU" in row.detail


# --------------------------------------------------------------------------------------------- render nodes


def test_render_nodes_accessible(tmp_path):
    checks = sections.render_nodes(ctx_for(tmp_path, "igpu_arc", access=lambda p: True))
    assert [c.level for c in checks] == [Level.OK, Level.OK]


def test_render_node_not_accessible_and_not_in_group(tmp_path):
    seen = []

    def access(path):
        seen.append(path)
        return False

    ctx = ctx_for(tmp_path, "igpu_arc", access=access, plan_=plan(Backend.XPU, "xpu", CURRENT, index=1))
    checks = sections.render_nodes(ctx)
    assert all(c.level is Level.ERROR and c.fix == GROUP_FIX and c.blocks_selected_path for c in checks)
    assert "usermod -aG render,video" in GROUP_FIX
    assert seen[0] == ctx.root / "dev/dri/renderD128"  # the node under the given root, not the real /dev


def test_render_node_in_group_but_session_is_old(tmp_path):
    checks = sections.render_nodes(ctx_for(tmp_path, "igpu_only", access=lambda p: False, groups=["users", "render"]))
    (row,) = checks
    assert "log out and back in" in row.fix and "group render" in row.detail
    assert not row.blocks_selected_path  # no XPU plan: not the selected path


def test_render_node_missing_in_dev(tmp_path):
    ctx = ctx_for(tmp_path, "igpu_only")
    (ctx.root / "dev/dri/renderD128").unlink()
    (row,) = sections.render_nodes(ctx)
    assert row.level is Level.ERROR and "does not exist" in row.detail and "--device /dev/dri" in row.fix


def test_no_render_checks_for_nvidia_only(tmp_path):
    assert sections.render_nodes(ctx_for(tmp_path, "nvidia_only")) == []


# --------------------------------------------------------------------------------------------- Intel runtime


def test_intel_libraries_found_by_ldconfig(tmp_path):
    runner = FakeLdconfig(ALL_INTEL_LIBS)
    checks = sections.intel_runtime(ctx_for(tmp_path, "igpu_arc", runner=runner))
    assert [(c.name, c.level) for c in checks] == [
        ("libze_loader.so.1", Level.OK), ("libze_intel_gpu.so.1", Level.OK), ("libigdrcl.so", Level.OK)]
    assert checks[0].detail.endswith("/lib/x86_64-linux-gnu/libze_loader.so.1")
    assert runner.calls == [("ldconfig", "-p")]


def test_intel_libraries_missing_on_debian(tmp_path):
    checks = sections.intel_runtime(ctx_for(tmp_path, "igpu_arc", runner=FakeLdconfig({})))
    assert all(c.level is Level.MISSING for c in checks)
    assert "apt-get install libze1" in checks[0].fix and "libze-intel-gpu1" in checks[1].fix
    assert not any(c.blocks_selected_path for c in checks)


def test_intel_libraries_missing_on_nixos(tmp_path):
    ctx = ctx_for(tmp_path, "igpu_only", runner=FakeLdconfig({}))
    (ctx.root / "etc").mkdir()
    (ctx.root / "etc/NIXOS").write_text("")
    checks = sections.intel_runtime(ctx)
    assert all("hardware.graphics.extraPackages" in c.fix for c in checks)


def test_intel_libraries_on_nixos_driver_dir_and_ld_library_path(tmp_path):
    ctx = ctx_for(tmp_path, "igpu_only", runner=FakeLdconfig({}, location="/sbin/ldconfig"))
    driver_dir = ctx.root / "run/opengl-driver/lib"
    driver_dir.mkdir(parents=True)
    (driver_dir / "libze_intel_gpu.so.1").write_text("")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "libze_loader.so.1").write_text("")
    from dataclasses import replace

    checks = sections.intel_runtime(replace(ctx, environ={"LD_LIBRARY_PATH": f"/nonexistent:{extra}"}))
    levels = {c.name: c.level for c in checks}
    assert levels == {"libze_loader.so.1": Level.OK, "libze_intel_gpu.so.1": Level.OK, "libigdrcl.so": Level.MISSING}
    assert ctx.runner.calls == [("ldconfig", "-p"), ("/sbin/ldconfig", "-p")]


def test_opencl_driver_found_through_icd_file(tmp_path):
    ctx = ctx_for(tmp_path, "igpu_only", runner=FakeLdconfig({}))
    vendors = ctx.root / "etc/OpenCL/vendors"
    vendors.mkdir(parents=True)
    (vendors / "intel.icd").write_text("/usr/lib/x86_64-linux-gnu/intel-opencl/libigdrcl.so\n")
    row = sections.intel_runtime(ctx)[2]
    assert row.level is Level.OK and "intel.icd" in row.detail


# --------------------------------------------------------------------------------------------- environments


def test_registered_interpreter_that_no_longer_exists_is_missing_not_a_crash(tmp_path):
    gone = str(tmp_path / "gone/bin/python")
    ctx = ctx_for(tmp_path, "nvidia_arc", environments=[(env("cuda", gone), None)],
                  plan_=plan(Backend.CUDA, "cuda", gone, index=0))
    (row, *_) = sections.environments(ctx)
    assert row.level is Level.MISSING and "no longer exists" in row.detail
    assert "ipex env remove cuda" in row.fix and row.blocks_selected_path


def test_environment_table(tmp_path):
    cuda, xpu, cpu = (interpreter(tmp_path, n) for n in ("cuda", "xpu", "cpu"))
    ctx = ctx_for(tmp_path, "nvidia_arc", environments=[
        (env("cuda", cuda), cuda_info(cuda)),
        (env("xpu", xpu), xpu_info(xpu, available=False)),
        (env("cpu", cpu), cpu_info(cpu)),
        (env("current", CURRENT), no_torch_info(CURRENT)),
    ], plan_=plan(Backend.CUDA, "cuda", cuda, index=0))
    checks = sections.environments(ctx)
    assert [(c.name, c.level) for c in checks] == [
        ("cuda", Level.OK), ("xpu", Level.ERROR), ("cpu", Level.OK), ("current", Level.MISSING)]
    assert "RTX 4090" in checks[0].detail and "2.8.0+cu128" in checks[0].detail
    assert "sees no xpu device although the GPU is present" in checks[1].detail
    assert not any(c.blocks_selected_path for c in checks)  # the CUDA path is fine


def test_xpu_environment_holding_cpu_torch_is_an_error(tmp_path):
    xpu = interpreter(tmp_path, "xpu")
    ctx = ctx_for(tmp_path, "igpu_arc", environments=[(env("xpu", xpu), cpu_info(xpu))],
                  plan_=plan(Backend.XPU, "xpu", xpu, index=1))
    (row,) = sections.environments(ctx)
    assert row.level is Level.ERROR and "cpu build" in row.detail and row.fix == "ipex env create xpu"
    assert row.blocks_selected_path


def test_environment_probe_failure_and_no_torch(tmp_path):
    cuda, cpu = interpreter(tmp_path, "cuda"), interpreter(tmp_path, "cpu")
    from ipex_integration.runtime.model import RuntimeInfo

    ctx = ctx_for(tmp_path, "nvidia_only", environments=[
        (env("cuda", cuda), RuntimeInfo(python=cuda, ok=False, error="probe timed out after 30 s")),
        (env("cpu", cpu), no_torch_info(cpu)),
    ])
    failed, empty = sections.environments(ctx)
    assert failed.level is Level.ERROR and "timed out" in failed.detail
    assert empty.level is Level.ERROR and empty.fix == "ipex env create cpu"


def test_gpu_environment_on_machine_without_that_gpu(tmp_path):
    cuda = interpreter(tmp_path, "cuda")
    ctx = ctx_for(tmp_path, "igpu_only", environments=[(env("cuda", cuda), cuda_info(cuda, available=False))])
    (row,) = sections.environments(ctx)
    assert row.level is Level.WARNING and "no NVIDIA GPU" in row.detail


def test_current_interpreter_with_torch(tmp_path):
    ctx = ctx_for(tmp_path, "nvidia_arc", environments=[(env("current", CURRENT), cuda_info(CURRENT))])
    (row, none_registered) = sections.environments(ctx)
    assert row.level is Level.OK and "can run on cuda, cpu" in row.detail
    assert none_registered.level is Level.MISSING and none_registered.fix == "ipex env create cuda"


@pytest.mark.parametrize("layout, backend", [("igpu_arc", "xpu"), ("no_gpu", "cpu"), ("igpu_only", "cpu")])
def test_suggested_environment_when_none_registered(tmp_path, layout, backend):
    ctx = ctx_for(tmp_path, layout, environments=[(env("current", CURRENT), cpu_info(CURRENT))])
    assert sections.environments(ctx)[-1].fix == f"ipex env create {backend}"


# --------------------------------------------------------------------------------------------- IPEX


def test_ipex_present_is_a_warning_that_says_discontinued(tmp_path):
    xpu = interpreter(tmp_path, "xpu")
    ctx = ctx_for(tmp_path, "igpu_arc", environments=[(env("xpu", xpu), xpu_info(xpu, ipex="2.8.10+xpu"))])
    (row,) = sections.ipex(ctx)
    assert row.level is Level.WARNING and "discontinued" in row.detail and "2.8.10+xpu" in row.detail
    assert row.fix == f"{xpu} -m pip uninstall intel-extension-for-pytorch"


def test_ipex_absent_is_ok(tmp_path):
    (row,) = sections.ipex(ctx_for(tmp_path, "igpu_arc", environments=[(env("current", CURRENT), cpu_info(CURRENT))]))
    assert row.level is Level.OK and "torch.xpu" in row.detail


# --------------------------------------------------------------------------------------------- hooks


def test_hooks_run_before_the_verdict_and_failures_are_rows(tmp_path, monkeypatch):
    def broken(ctx):
        raise RuntimeError("ollama exploded")

    broken.__module__ = "ipex_integration.ollama.status"
    monkeypatch.setattr(sections, "EXTRA_SECTIONS", [
        "ipex_integration.nothing_here_yet.status:checks",  # not written yet: skipped
        "tests.status.sample_hook:checks",
        broken,
    ])
    ctx = ctx_for(tmp_path, "no_gpu", plan_=plan(Backend.CPU, "current", CURRENT),
                  environments=[(env("current", CURRENT), cpu_info(CURRENT))])
    checks = collect_status(ctx)
    titles = list(dict.fromkeys(c.section for c in checks))
    assert titles[-3:] == ["Sample", "Ollama", "Selected device"]
    sample = rows(checks, "Sample")[0]
    assert sample.detail == "saw 0 GPU(s)"
    failed = rows(checks, "Ollama")[0]
    assert failed.level is Level.ERROR and "ollama exploded" in failed.detail
    assert usable(checks, ctx.plan)  # a broken hook is reported, it does not block the device path


def test_a_hook_that_cannot_be_imported_is_an_error_row(tmp_path, monkeypatch):
    monkeypatch.setattr(sections, "EXTRA_SECTIONS", ["tests.status.sample_hook:no_such_function"])
    checks = collect_status(ctx_for(tmp_path, "no_gpu"))
    (row,) = [c for c in checks if c.name == "status check failed"]
    assert row.level is Level.ERROR and "AttributeError" in row.detail and "no_such_function" in row.detail


def test_default_hooks_name_the_later_modules():
    assert "ipex_integration.comfyui.status:checks" in sections.EXTRA_SECTIONS
    assert "ipex_integration.ollama.status:checks" in sections.EXTRA_SECTIONS
    assert "ipex_integration.llama.status:checks" in sections.EXTRA_SECTIONS


def test_a_crashing_builtin_section_becomes_an_error_row(tmp_path, monkeypatch):
    def boom(ctx):
        raise KeyError("x")

    monkeypatch.setattr(sections, "SECTIONS", [("GPUs", boom)] + sections.SECTIONS[1:])
    checks = collect_status(ctx_for(tmp_path, "no_gpu"))
    assert checks[0].section == "GPUs" and checks[0].level is Level.ERROR and "KeyError" in checks[0].detail


# --------------------------------------------------------------------------------------------- rendering


def test_text_and_json_rendering(tmp_path):
    ctx = ctx_for(tmp_path, "igpu_arc", access=lambda p: False, plan_=plan(Backend.XPU, "xpu", CURRENT, index=1,
                  name="Intel Arc B580 Graphics"), environments=[(env("current", CURRENT), cpu_info(CURRENT))])
    checks = collect_status(ctx)
    ok = usable(checks, ctx.plan)
    assert not ok
    final = render.verdict(ok, ctx.plan, None)
    text = render.to_text(checks, final)
    assert "fix: " + GROUP_FIX in text and "[blocks]" in text
    assert text.splitlines()[0] == "GPUs" and text.endswith(final) and final.startswith("not usable")
    data = json.loads(json.dumps(render.to_json(checks, ok=ok, hardware=ctx.hardware,
                                                environments=ctx.environments, plan=ctx.plan, plan_error=None)))
    assert data["usable"] is False and data["plan"]["backend"] == "xpu"
    assert {c["section"] for c in data["checks"]} >= {"GPUs", "Render nodes", "Selected device"}
    assert data["environments"][0]["runtime"]["torch_build"] == "cpu"


# --------------------------------------------------------------------------------------------- real seams


def test_real_access_and_group_lookups(tmp_path):
    from ipex_integration.status.context import can_read_write, user_groups

    node = tmp_path / "renderD128"
    node.write_text("")
    assert can_read_write(node)
    assert not can_read_write(tmp_path / "absent")
    groups = user_groups()
    assert isinstance(groups, tuple) and all(isinstance(g, str) for g in groups)


def test_context_defaults_are_safe():
    ctx = StatusContext(hardware=HardwareReport(), environments=[])
    assert ctx.environments == () and str(ctx.root) == "/" and ctx.plan is None
    checks = collect_status(ctx)
    assert checks[0].section == "GPUs"
    assert not usable(checks, ctx.plan)
