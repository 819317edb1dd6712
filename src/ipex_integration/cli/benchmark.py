"""`ipex-benchmark`: time tensor ops, SD1.5 convolutions and a Stable Diffusion pipeline on the device you
choose, and compare result files.

    ipex-benchmark [run] [--suite quick|standard|full] [--only tensor,conv,sd,OP] [--dtype fp16,bf16]
                   [--size 4096,8192] [--device auto|cuda|xpu|cpu | --devices all] [GPU flags] [--graph]
                   [--output DIR] [--format json,csv,html,png] [--json] [--warmup S] [--budget S]
    ipex-benchmark compare OLD NEW [--fail-above 10%] [--json]     (a results file or run:N from the history)
    ipex-benchmark history [--device D] [--op OP] [--since DATE] [--until DATE] [--plot OP [--output PNG]] [--json]

This process never imports torch: the measuring happens in a worker started in the chosen backend's
environment (bench/runner.py).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import Interrupted, UsageError
from ..plan.vocabulary import BACKEND_CHOICES, SPEC_HELP, priority_text
from . import common, types

PROG = "ipex-benchmark"
SUBCOMMANDS = ("run", "compare", "llm", "comfyui", "history")
OUTPUT_FORMATS = ("json", "csv", "html", "png")


def _choices(kind: str, value: str, valid: Sequence[str]) -> str:
    if value not in valid:
        raise UsageError(f"unknown {kind} {value!r}; choose from: {', '.join(valid)}")
    return value


def _csv(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _sd_models() -> tuple[str, ...]:
    try:  # the SD workload owns its model list; its module imports torch only when it runs
        from ..bench.workloads.sd_models import MODELS

        return tuple(MODELS)
    except ImportError:
        return ("tiny", "sd15", "sdxl")


# -- parser -----------------------------------------------------------------------------------------


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    from ..plan.flags import add_device_arguments

    what = parser.add_argument_group("what to measure")
    what.add_argument("--suite", default="quick", help="quick (about a minute), standard or full (default: quick)")
    what.add_argument(
        "--only", metavar="LIST", help="workloads (tensor, conv, sd) and/or ops (matmul, sdpa, ...), comma-separated"
    )
    what.add_argument("--dtype", metavar="LIST", help="fp32, tf32, fp16, bf16, comma-separated (default: per op)")
    what.add_argument("--size", metavar="LIST", help="matmul sizes N (N x N x N), also the N x N elementwise tensors")
    what.add_argument("--graph", action="store_true", help="also time CUDA/XPU graph replays (launch overhead removed)")
    what.add_argument("--warmup", type=types.nonnegative_seconds, metavar="S", help="warm-up seconds per measurement (default: per suite)")
    what.add_argument("--budget", type=types.positive_seconds, metavar="S", help="timed seconds per measurement (default: per suite)")
    what.add_argument("--sd-model", help="SD model: tiny, sd15, sdxl (default: tiny on CPU, sd15 on GPUs)")
    what.add_argument("--sd-steps", type=types.count(maximum=1000), metavar="N", help="denoising steps of the SD pipeline")
    what.add_argument("--sd-resolution", type=types.count(minimum=8, maximum=8192), metavar="PX", help="SD image side in pixels")
    what.add_argument("--seed", type=int, default=0, help="random seed for inputs and weights (default: 0)")
    where = parser.add_argument_group("where to run")
    choice = where.add_mutually_exclusive_group()
    choice.add_argument("--device", metavar="SPEC", help=f"{SPEC_HELP} (default: auto: {priority_text()})")
    choice.add_argument(
        "--devices", metavar="all|LIST",
        help="every available device (all: each GPU of each backend, then the CPU) or backends (cuda,xpu), "
        "each in its own environment, compared in one report",
    )
    add_device_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--output", metavar="DIR", type=types.nonempty_path, help="results directory (default: new, under the data dir)")
    out.add_argument("--force", action="store_true",
                     help="replace results.json (and its siblings) in --output; by default a new run there is "
                          "written as results-2.json, results-3.json, ...")
    out.add_argument("--format", default=",".join(OUTPUT_FORMATS), help="json,csv,html,png (json is always written)")
    out.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    out.add_argument("--no-history", action="store_true", help="do not record this run in the benchmark history")
    out.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    source = "a results file, or run:N for run N of `ipex-benchmark history`"
    parser.add_argument("old", type=types.nonempty, metavar="OLD", help=source)
    parser.add_argument("new", type=types.nonempty, metavar="NEW", help=source)
    parser.add_argument(
        "--fail-above", default="10%", metavar="PCT", help="exit 1 when an op got slower by more than this (10%%)"
    )
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def _add_subcommands(subparsers: Any) -> None:
    run = subparsers.add_parser("run", help="measure (the default command)", description=cmd_run.__doc__)
    add_run_arguments(run)
    run.set_defaults(func=cmd_run)
    compare = subparsers.add_parser("compare", help="compare two results (files or history runs)", description=cmd_compare.__doc__)
    add_compare_arguments(compare)
    compare.set_defaults(func=cmd_compare)
    from .benchmark_llm import add_llm_parser

    add_llm_parser(subparsers)
    from .benchmark_comfyui import add_comfyui_parser

    add_comfyui_parser(subparsers)
    from .benchmark_history import add_history_parser

    add_history_parser(subparsers)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = common.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"ipex-integration {__version__}")
    _add_subcommands(parser.add_subparsers(dest="command", metavar="{run,compare,llm,comfyui,history}"))
    return parser


def register(subparsers: Any) -> None:
    """`ipex benchmark run|compare`, for the umbrella command."""
    parser = subparsers.add_parser("benchmark", help="time tensor ops, convolutions and Stable Diffusion")
    _add_subcommands(parser.add_subparsers(dest="benchmark_command", metavar="{run,compare,llm,comfyui,history}", required=True))


# -- run --------------------------------------------------------------------------------------------


def config_from_args(args: argparse.Namespace) -> Any:
    """The SuiteConfig the flags ask for; any bad value is a UsageError naming the valid choices."""
    from ..bench.workload import DTYPES, SUITES, SuiteConfig
    from ..bench.workloads import split_only

    suite = _choices("suite", args.suite, SUITES)
    only, ops = split_only(_csv(args.only))
    dtypes = tuple(_choices("dtype", d, DTYPES) for d in _csv(args.dtype)) or None
    sizes = tuple(_positive_int(s, "--size") for s in _csv(args.size)) or None
    for flag, value, minimum in (("--warmup", args.warmup, 0.0), ("--budget", args.budget, 1e-9)):
        if value is not None and not value >= minimum:
            raise UsageError(f"{flag} must be {'>= 0' if minimum == 0 else '> 0'} seconds, got {value}")
    sd_model = _choices("SD model", args.sd_model, _sd_models()) if args.sd_model else None
    for flag, value in (("--sd-steps", args.sd_steps), ("--sd-resolution", args.sd_resolution)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    return SuiteConfig(
        suite=suite, only=only, ops=ops, dtypes=dtypes, sizes=sizes, warmup_s=args.warmup, budget_s=args.budget,
        graph=args.graph, sd_model=sd_model, sd_steps=args.sd_steps, sd_resolution=args.sd_resolution,
        seed=args.seed,
    )


def _positive_int(text: str, flag: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{flag} expects whole numbers, got {text!r}") from None
    if value < 1:
        raise UsageError(f"{flag} values must be positive, got {value}")
    return value


def plans_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[list[Any], list[str]]:
    """The DevicePlans to run, and notes on backends left out (with --devices)."""
    from ..plan.flags import request_from_args
    from ..plan.resolve import resolve_plan
    from ..plan.vocabulary import parse_device_spec
    from ..runtime.model import Backend

    if args.devices:
        from ..bench.runner import plans_for_all

        flags = (
            ("--cpu", args.cpu),
            ("--cuda", args.cuda),
            ("--force-intel-xpu", args.force_intel_xpu),
            ("--intel-device", args.intel_device is not None),
            ("--cuda-device", args.cuda_device is not None),
        )
        chosen = [flag for flag, given in flags if given]
        if chosen:
            raise UsageError(f"--devices picks the devices itself; drop {chosen[0]} (or use --device)")
        wanted = _csv(args.devices)
        if wanted == ["all"]:
            return plans_for_all(environ)
        backends = [Backend(_choices("device", d, BACKEND_CHOICES)) for d in wanted]
        return plans_for_all(environ, backends=list(dict.fromkeys(backends)))
    request = request_from_args(args, environ)
    if args.device:
        spec = parse_device_spec(args.device, "--device")
        if spec is not None:
            if request.source.startswith("--") and request.backend not in (None, spec.backend):
                raise UsageError(f"--device {spec.text} conflicts with {request.source}")
            index = {} if spec.index is None else (
                {"cuda_device": spec.index} if spec.backend is Backend.CUDA else {"intel_device": spec.index})
            request = replace(request, backend=spec.backend, source=f"--device {spec.text}", **index)
    return [resolve_plan(request, environ=environ)], []


def default_output_dir(environ: Mapping[str, str], suite: str) -> Path:
    from ..paths import data_dir

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return data_dir(environ) / "benchmarks" / f"{stamp}-{suite}"


class _ProgressObserver:
    """Drives the report package's progress bar: one bar per device, results printed as they come."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.progress: Any = None

    def device_started(self, plan: Any, run: Any, specs: Sequence[Any]) -> None:
        from ..bench.report.terminal import BenchProgress

        self._close()
        self.console.print(f"[bold]{run.label}[/bold] ({plan.environment}: {plan.python}), {len(specs)} measurements")
        self.progress = BenchProgress(len(specs), self.console).__enter__()
        self.device = run.label

    def spec_started(self, plan: Any, spec: Any) -> None:
        if self.progress:
            self.progress.start(spec, device=plan.backend.value)

    def spec_finished(self, plan: Any, measurement: Any) -> None:
        if self.progress:
            self.progress.finish(measurement)

    def device_finished(self, plan: Any, run: Any) -> None:
        self._close()

    def note(self, text: str) -> None:
        self.console.print(text, style="yellow", markup=False, highlight=False)

    def _close(self) -> None:
        if self.progress is not None:
            self.progress.__exit__(None, None, None)
            self.progress = None


def cmd_run(args: argparse.Namespace) -> int:
    """Measure tensor ops, SD1.5 convolutions and a Stable Diffusion pipeline on the chosen device(s);
    write results (JSON, CSV, HTML, PNG charts) and print a table."""
    from ..bench.report.writer import ResultsWriter, check_formats
    from ..bench.runner import run_benchmark

    environ = os.environ
    config = config_from_args(args)
    formats = _csv(args.format)
    for fmt in formats:
        _choices("format", fmt, OUTPUT_FORMATS)
    table_formats = check_formats([f for f in formats if f != "png"] + ["json"])
    out_dir = args.output or default_output_dir(environ, config.suite)
    from .. import state

    state.ensure_writable_dir(out_dir, what="results folder")  # before probing and measuring, not after
    plans, skipped = plans_from_args(args, environ)
    writer = ResultsWriter(out_dir / "results.json", replace=args.force)  # keeps an earlier run's file
    console = common.make_console(stderr=args.json)
    observer = _ProgressObserver(console)
    made_folder = not out_dir.exists()
    try:
        command = [PROG, *getattr(args, "_argv", sys.argv[1:])]
        report = run_benchmark(
            plans, config, results_path=writer.path, command=command, observer=observer, skipped=skipped,
            save=writer.save,
        )
    except BaseException as exc:
        observer._close()
        if writer.path.is_file() and isinstance(exc, (KeyboardInterrupt, Interrupted)):
            print(f"{PROG}: results measured so far are in {writer.path}", file=sys.stderr)
        elif made_folder:
            with contextlib.suppress(OSError):
                out_dir.rmdir()  # only if still empty: a folder we made for a run that wrote nothing
        raise
    finally:
        observer._close()
    written = _write_outputs(report, out_dir, table_formats, "png" in formats, stem=writer.stem)
    if not args.no_history:
        record_history(report, writer.path, environ, console)
    if args.json:
        common.print_json(report.to_dict())
    else:
        from ..bench.report.terminal import render_table

        console.print(render_table(report))
        for fmt, path in written.items():
            console.print(f"{fmt}: {path}", highlight=False)
    return _exit_code(report)


def _write_outputs(
    report: Any, out_dir: Path, formats: Sequence[str], png: bool, stem: str = "results"
) -> dict[str, Path]:
    from ..bench.report.writer import write_reports

    written = write_reports(report, out_dir, formats, stem=stem)
    if png:
        from ..bench.report.charts import write_pngs

        pngs = write_pngs(report, out_dir, suffix=stem.removeprefix("results"))
        if pngs:
            written["png"] = out_dir
    return written


def record_history(report: Any, results: Path, environ: Mapping[str, str], console: Any) -> int | None:
    """Record the run in the benchmark history; a history that cannot be written costs a warning, not
    the run (its results files are already written)."""
    import sqlite3

    from ..bench.history import record_run
    from ..errors import IpexError

    try:
        run_id = record_run(report, results_path=results, environ=environ)
    except (IpexError, sqlite3.Error, OSError) as exc:
        console.print(f"warning: run not recorded in the history: {exc}", style="yellow", markup=False, highlight=False)
        return None
    console.print(f"history: run #{run_id}", highlight=False)
    return run_id


def _exit_code(report: Any) -> int:
    """1 when a device run failed or an op gave a wrong result; skips and out-of-memory are answers."""
    from ..bench.model import Status

    bad = any(r.error for r in report.runs) or any(
        m.status is Status.FAILED for r in report.runs for m in r.measurements
    )
    return common.EXIT_NEGATIVE if bad else common.EXIT_OK


# -- compare ----------------------------------------------------------------------------------------


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare two results op by op; each is a results file or run:N, run N of the benchmark history.
    Exit 0: no regression; 1: an op got slower by more than --fail-above (or broke); 4: could not compare
    (a damaged file, a run the history does not hold, nothing in common, an incomplete run)."""
    from ..bench.report.compare import compare_reports, load_for_compare, parse_threshold, render_compare

    threshold = parse_threshold(args.fail_above)
    environ = os.environ
    old = load_for_compare(args.old, "old", environ=environ)
    new = load_for_compare(args.new, "new", environ=environ)
    result = compare_reports(old, new, fail_above=threshold)
    if args.json:
        common.print_json(result.to_dict())
    else:
        common.make_console().print(render_compare(result))
    return result.exit_code


# -- entry point ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*SUBCOMMANDS, "-h", "--help", "--version"):
        argv = ["run", *argv]  # `run` is the default command
    return common.run_cli(lambda: _run(argv), debug=common.wants_debug(argv), prog=PROG)


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)  # inside the error boundary: a bad flag is one line and exit 2
    args._argv = argv
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
