"""`ipex devices [--json] [GPU selection flags]`: the GPUs here, the Python environments and what their torch
can drive, and what each device choice (auto, cuda, xpu, cpu, and yours) would run on, or why it cannot."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Literal, Mapping, Sequence, TextIO

from ..hardware.model import Gpu, HardwareReport, Vendor
from ..paths import cache_dir
from ..plan.flags import request_from_args
from ..plan.overview import Choice, DeviceOverview, EnvironmentRow, build_overview
from ..plan.resolve import EnvPair, probe_everything
from ..proc import Runner, run_command
from ..runtime.model import Backend
from .common import EXIT_OK, add_probe_arguments, print_json

_INDEX_LABEL = {Vendor.NVIDIA: "NVIDIA", Vendor.INTEL: "Intel"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "devices",
        help="GPUs, Python environments, and what each device choice would run on",
        description=__doc__,
    )
    add_probe_arguments(parser, json_help="print JSON instead of text")
    parser.set_defaults(func=run)


def run(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    root: str | os.PathLike[str] = "/",
    runner: Runner = run_command,
    nvml: Any | None | Literal["auto"] = "auto",
    environments: Sequence[EnvPair] | None = None,
    out: TextIO | None = None,
) -> int:
    environ = os.environ if environ is None else environ
    request = request_from_args(args, environ)  # bad flags fail before any probing
    hardware, pairs = probe_everything(
        environ=environ, root=root, runner=runner, nvml=nvml, environments=environments,
        probe_timeout=getattr(args, "probe_timeout", 30.0),
    )
    overview = build_overview(request, hardware=hardware, environments=pairs, environ=environ,
                              cache_dir=cache_dir(environ))
    if args.json:
        if out is None:
            print_json(overview.to_dict())
        else:
            import json

            out.write(json.dumps(overview.to_dict(), indent=2, default=str) + "\n")
    else:
        (out or sys.stdout).write(render(overview))
    return EXIT_OK


# --- text -------------------------------------------------------------------------------------------------


def render(overview: DeviceOverview) -> str:
    lines = ["GPUs"]
    lines += _gpu_lines(overview)
    lines += ["", "Python environments"]
    lines += _env_lines(overview.environments)
    lines += ["", "What each choice runs on  (* = what your flags / IPEX_DEVICE select)"]
    width = max(len(c.label) for c in overview.choices)
    for choice in overview.choices:
        lines += _choice_lines(choice, width)
    return "\n".join(lines) + "\n"


def _gpu_lines(overview: DeviceOverview) -> list[str]:
    hardware = overview.hardware
    lines: list[str] = []
    if overview.no_gpu:
        auto = overview.auto
        if auto.plan is not None and auto.plan.backend is Backend.CPU:
            lines.append("  No GPU found: auto runs on CPU.")
        else:
            lines.append("  No GPU found by the hardware probe (see the choices below).")
    else:
        rows = [_gpu_row(gpu, hardware) for gpu in hardware.gpus]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    lines += [f"  note: {note}" for note in hardware.notes]
    return lines


def _gpu_row(gpu: Gpu, hardware: HardwareReport) -> tuple[str, ...]:
    if gpu.vendor in _INDEX_LABEL:
        index = hardware.of_vendor(gpu.vendor).index(gpu)
        label = f"{_INDEX_LABEL[gpu.vendor]} {index}"
    else:
        label = gpu.vendor.value.upper() if gpu.vendor is Vendor.AMD else gpu.vendor.value
    driver = gpu.driver or "no driver bound"
    if gpu.driver_version:
        driver += f" {gpu.driver_version}"
    kind = {True: "integrated", False: "discrete", None: "kind unknown"}[gpu.integrated]
    if gpu.vendor not in _INDEX_LABEL:
        kind += " (not supported)"
    return (label, gpu.label, gpu.pci_slot or "?", f"driver {driver}", gpu.render_node or "no render node", kind)


def _env_lines(rows: Sequence[EnvironmentRow]) -> list[str]:
    if not rows:
        return ["  none (ipex env create cuda|xpu|cpu)"]
    name_w = max(len(r.environment.name) for r in rows)
    py_w = max(len(r.environment.python) for r in rows)
    lines = []
    for row in rows:
        head = f"  {row.environment.name.ljust(name_w)}  {row.environment.python.ljust(py_w)}  "
        lines.append(head + _env_state(row))
        info = row.runtime
        for device in info.devices if info is not None else ():
            lines.append(f"  {'':{name_w}}  {'':{py_w}}    {device.backend.value}:{device.index} {device.name}")
    return lines


def _env_state(row: EnvironmentRow) -> str:
    info = row.runtime
    if info is None or row.state == "not probed":
        return "not probed"
    if row.state == "missing":
        return f"MISSING ({info.error})"
    if row.state == "error":
        return f"ERROR: {info.error}"
    if row.state == "no torch":
        return f"no torch{': ' + info.torch_error if info.torch_error else ''}"
    runs = ", ".join(b.name for b in row.can_run)
    build = f" ({info.torch_build} build)" if info.torch_build else ""
    ipex = f", IPEX {info.ipex_version} (discontinued upstream)" if info.ipex_version else ""
    return f"torch {info.torch_version}{build}{ipex}; runs {runs}"


def _choice_lines(choice: Choice, width: int) -> list[str]:
    mark = "*" if choice.selected else " "
    head = f"{mark} {choice.label.ljust(width)} -> "
    pad = " " * len(head)
    if choice.plan is None:
        lines = [f"{head}error: {choice.error}"]
        if choice.hint:
            lines.append(f"{pad}fix: {choice.hint}")
        return lines
    plan = choice.plan
    where = plan.backend.name
    if plan.device_index is not None:
        vendor = "NVIDIA" if plan.backend is Backend.CUDA else "Intel"
        where += f" on {vendor} {plan.device_index}"
    if plan.device_name:
        where += f" ({plan.device_name})"
    lines = [f"{head}{where}, environment {plan.environment} ({plan.python})"]
    if choice.selected:
        lines += [f"{pad}because {reason}" for reason in plan.reasons]
        lines += [f"{pad}set {k}={v}" for k, v in sorted(plan.env.items())]
        lines += [f"{pad}kept {k}={v} (yours)" for k, v in sorted(plan.env_kept.items())]
    lines += [f"{pad}warning: {w}" for w in plan.warnings]
    return lines
