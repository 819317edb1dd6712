"""`ipex status [--json] [GPU selection flags]`: every component with ok / warning / missing / error and its fix.

Exit status: 0 when the selected device path is usable, 1 when it is not, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence, TextIO

from ..errors import SelectionError
from ..plan.flags import request_from_args
from ..plan.resolve import EnvPair, probe_everything, resolve_plan
from ..proc import Runner, run_command
from ..status import render
from ..status.context import StatusContext
from ..status.sections import collect_status, usable
from . import common


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "status",
        help="check GPUs, drivers, libraries and environments; say what to fix",
        description="Check every component (GPUs, kernel drivers, render-node access, Level Zero, each "
        "environment's torch, IPEX, ComfyUI, custom nodes, Ollama) and show the fix for each problem. "
        "Exit 0 when the selected device path is usable, 1 when it is not.",
    )
    common.add_probe_arguments(parser, json_help="print the checks, plan and probes as JSON")
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
    """The command. The keyword arguments are test seams (fake sysfs root, runner, NVML, environments)."""
    environ = os.environ if environ is None else environ  # read only: nothing here changes our environment
    request = request_from_args(args, environ)  # bad flags: UsageError (exit 2) before any probing
    hardware, pairs = probe_everything(environ=environ, root=root, runner=runner, nvml=nvml,
                                       environments=environments, probe_timeout=args.probe_timeout)
    plan, plan_error = None, None
    try:
        plan = resolve_plan(request, environ=environ, root=root, runner=runner, hardware=hardware,
                            environments=pairs, probe_timeout=args.probe_timeout)
    except SelectionError as exc:
        plan_error = exc.message + (f" ({exc.hint})" if exc.hint else "")
    ctx = StatusContext(hardware=hardware, environments=pairs, plan=plan, plan_error=plan_error,
                        environ=environ, root=Path(root), runner=runner)
    checks = collect_status(ctx)
    ok = usable(checks, plan)
    stream = out or sys.stdout
    final = render.verdict(ok, plan, plan_error)
    if args.json:
        data = render.to_json(checks, ok=ok, hardware=hardware, environments=pairs, plan=plan, plan_error=plan_error)
        stream.write(json.dumps(data, indent=2, default=str) + "\n")
    elif out is None and sys.stdout.isatty():
        render.print_rich(checks, final, ok)
    else:
        stream.write(render.to_text(checks, final) + "\n")
    return common.EXIT_OK if ok else common.EXIT_NEGATIVE
