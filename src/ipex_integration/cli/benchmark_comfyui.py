"""`ipex-benchmark comfyui`: how fast ComfyUI generates on the planned device, through its own API.

    ipex-benchmark comfyui [--comfyui DIR | --url URL] [--model tiny|sd15|sdxl] [--batch LIST] [--width PX]
                           [--height PX] [--steps N] [--sampler NAME] [--images N] [--warmup N]
                           [--repetitions N] [--peer stock,diffusers] [--cpu|--cuda|--xpu ...] [--output DIR]

Registered in cli/benchmark.py through `add_comfyui_parser(subparsers)`; the measuring is in
bench/workloads/comfyui.py, the servers in comfyui_servers.py.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
from pathlib import Path
from typing import Any, Mapping, TextIO

from ..errors import EXIT_FAILED, UsageError
from . import common, types

PROG = "ipex-benchmark comfyui"
DEFAULT_FORMATS = "json,csv,html"


def add_comfyui_parser(subparsers: Any) -> argparse.ArgumentParser:
    from ..plan.flags import add_device_arguments

    parser = subparsers.add_parser("comfyui", help="time ComfyUI's own txt2img through its API (ours vs stock)",
                                   description=run_comfyui.__doc__)
    where = parser.add_argument_group("which ComfyUI")
    where.add_argument("--comfyui", metavar="DIR", help="the checkout (default: $COMFYUI_PATH, else the registered one)")
    where.add_argument("--url", type=types.url, help="measure a running ComfyUI instead of starting one")
    where.add_argument("--comfyui-args", default="", metavar="ARGS",
                       help="more ComfyUI flags for both servers, one string (e.g. \"--front-end-root /srv/fe\")")
    where.add_argument("--checkpoint", metavar="NAME",
                       help="with --url: a checkpoint that server has (default: ours, which it must be able to see)")
    what = parser.add_argument_group("what to measure")
    what.add_argument("--model", choices=("tiny", "sd15", "sdxl"), default=None,
                      help="random-weight checkpoint made locally (default: tiny on the CPU, sd15 on GPUs)")
    what.add_argument("--batch", default="1", metavar="LIST", help="batch sizes, e.g. 1,4 (default 1)")
    what.add_argument("--width", type=types.count(minimum=8, maximum=8192), default=None, metavar="PX")
    what.add_argument("--height", type=types.count(minimum=8, maximum=8192), default=None, metavar="PX")
    what.add_argument("--steps", type=types.count(maximum=1000), default=None, metavar="N", help="default 20 (2 for tiny)")
    what.add_argument("--sampler", default="euler", help="KSampler sampler_name (default euler)")
    what.add_argument("--scheduler", default="normal", help="KSampler scheduler (default normal)")
    what.add_argument("--images", type=types.count(), default=3, metavar="N", help="timed prompts per batch size and repetition")
    what.add_argument("--warmup", type=types.count(minimum=0), default=1, metavar="N", help="untimed prompts after the load")
    what.add_argument("--repetitions", type=types.count(), default=2, metavar="N", help="rounds, alternating the servers")
    what.add_argument("--peer", default="stock", metavar="LIST", help="stock, diffusers, both or none (default stock)")
    what.add_argument("--seed", type=int, default=0)
    what.add_argument("--timeout", type=types.positive_seconds, default=600.0, metavar="S", help="seconds per prompt")
    add_device_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--output", type=types.nonempty_path, metavar="DIR", help="results directory (default: a new one under the data dir)")
    out.add_argument("--force", action="store_true", help="replace results.json in --output")
    out.add_argument("--format", default=DEFAULT_FORMATS, help=f"json,csv,html (default {DEFAULT_FORMATS})")
    out.add_argument("--json", action="store_true", help="print the results as JSON")
    out.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.set_defaults(func=run_comfyui)
    return parser


def _peers(text: str) -> tuple[str, ...]:
    from ..bench.workloads.comfyui import PEERS

    items = [p.strip() for p in text.split(",") if p.strip()]
    if items in (["none"], []):
        return ()
    if items == ["both"]:
        return PEERS
    for item in items:
        if item not in PEERS:
            raise UsageError(f"unknown --peer {item!r}; choose from: {', '.join(PEERS)}, both, none")
    return tuple(dict.fromkeys(items))


def _batches(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"--batch takes batch sizes such as 1,4, not {text!r}") from None
    return values


def run_comfyui(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None, out: TextIO | None = None) -> int:
    """Generate images through ComfyUI's API (POST /prompt, /ws progress, /history) and time them: ComfyUI's
    own execution timestamps, it/s as SD.Next counts it (steps x batch / image time), sampler-only it/s,
    checkpoint load, VRAM; every image checked to be written and not blank. ComfyUI starts through our launcher
    on the planned device (or --url attaches); --peer stock runs `python main.py` of the same checkout
    alternating with ours, --peer diffusers adds the project's diffusers pipeline at the same shape."""
    from .. import state
    from ..bench.report.writer import check_formats, write_reports
    from ..bench.workloads import comfyui_servers as servers
    from ..bench.workloads.comfyui import ComfyConfig, Server, run_comfyui_benchmark, summary_lines
    from ..bench.workloads.comfyui_client import ComfyClient
    from ..paths import data_dir
    from ..plan.flags import request_from_args

    environ = os.environ if environ is None else environ
    stream = out or sys.stdout
    peers = _peers(args.peer)
    formats = check_formats([*args.format.split(","), "json"])
    if args.url and "stock" in peers and args.peer != "stock":
        raise UsageError("--peer stock starts a second ComfyUI from a checkout; with --url, use --peer none")
    out_dir = args.output or data_dir(environ) / "benchmarks" / (_dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-comfyui")
    state.ensure_writable_dir(out_dir, what="results folder")
    request = request_from_args(args, environ)
    cpu = args.cpu or (request.backend is not None and request.backend.value == "cpu")
    family = args.model or ("tiny" if cpu else "sd15")
    side = {"tiny": 64, "sd15": 512, "sdxl": 1024}[family]
    config = ComfyConfig(family=family, batches=_batches(args.batch), width=args.width or side,
                         height=args.height or side, steps=args.steps or (2 if family == "tiny" else 20),
                         sampler=args.sampler, scheduler=args.scheduler, images=args.images, warmup=args.warmup,
                         repetitions=args.repetitions, seed=args.seed, timeout_s=args.timeout)
    import shlex

    extra = shlex.split(args.comfyui_args)
    say = lambda text: print(f"{PROG}: {text}", file=sys.stderr, flush=True)  # noqa: E731
    command = ["ipex-benchmark", *getattr(args, "_argv", ["comfyui"])]
    checkpoints = data_dir(environ) / "checkpoints"
    if args.url:
        name = args.checkpoint or servers.ensure_checkpoint(family, checkpoints, seed=args.seed).name
        report = run_comfyui_benchmark(config, [Server("attached", ComfyClient(args.url, timeout=args.timeout))],
                                       name, command=command, progress=say)
    else:
        say(f"checkpoint: {family} (random weights, made locally)")
        ckpt = servers.ensure_checkpoint(family, checkpoints, seed=args.seed)
        with state.temp_dir("ipex-bench-comfyui-") as work:
            yaml = servers.model_paths_yaml(work, checkpoints)
            with servers.ours(request, args.comfyui, work, yaml, environ=environ, extra_args=extra,
                              timeout=args.timeout) as (client, prepared):
                say(f"ours: {prepared.spec.command}")
                targets = [Server("ours", client)]
                if "stock" in peers:
                    with servers.stock(prepared, work, yaml, environ=environ, extra_args=extra,
                                   timeout=args.timeout) as stock_client:
                        targets.append(Server("stock", stock_client))
                        report = run_comfyui_benchmark(config, targets, ckpt.name, command=command, progress=say)
                else:
                    report = run_comfyui_benchmark(config, targets, ckpt.name, command=command, progress=say)
                report.config["launch"] = prepared.spec.to_dict()
    if "diffusers" in peers:
        _add_diffusers_peer(report, config, args, environ, say)
    written = write_reports(report, out_dir, formats, replace=args.force)
    if args.json:
        stream.write(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    else:
        stream.write("\n".join(summary_lines(report)) + "\n")
        for fmt, path in written.items():
            stream.write(f"{fmt}: {path}\n")
    failed = any(r.error for r in report.runs) or any(
        m.status.value == "failed" for r in report.runs for m in r.measurements)
    return EXIT_FAILED if failed else common.EXIT_OK


def _add_diffusers_peer(report: Any, config: Any, args: argparse.Namespace, environ: Mapping[str, str], say: Any) -> None:
    """The project's diffusers pipeline (`ipex-benchmark run --only sd`) at the same model, side and steps, in
    a child: its runs join the report as peer "diffusers" (batch 1: the sd workload's batch)."""
    from .. import state
    from ..bench.model import BenchReport
    from ..proc import run_command

    if config.width != config.height:
        report.config["diffusers_peer"] = "skipped: the sd workload renders square images"
        return
    device = [flag for flag, on in (("--cpu", args.cpu), ("--cuda", args.cuda), ("--xpu", args.force_intel_xpu)) if on]
    with state.temp_dir("ipex-bench-sd-") as tmp:
        argv = [sys.executable, "-c", "import sys; from ipex_integration.cli.benchmark import main; sys.exit(main())",
                "run", "--only", "sd", "--sd-model", config.family, "--sd-steps", str(config.steps),
                "--sd-resolution", str(config.width), "--seed", str(config.seed), "--output", str(tmp),
                "--no-history", "--format", "json", *device]
        say("diffusers peer: " + " ".join(argv[3:]))
        result = run_command(argv, timeout=3600, env=dict(environ))
        path = Path(tmp) / "results.json"
        if result.returncode not in (0, 1) or not path.exists():
            report.config["diffusers_peer"] = f"failed ({result.returncode}): {result.stderr.strip()[-300:]}"
            return
        peer = BenchReport.from_dict(state.read_json(path, what="diffusers peer results"))
    for run in peer.runs:
        run.device["peer"] = "diffusers"
        run.measurements = [m for m in run.measurements if m.spec.op.endswith("_pipeline")]
        report.runs.append(run)
