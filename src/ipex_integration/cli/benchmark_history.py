"""`ipex-benchmark history`: the runs recorded in the benchmark history, and an op's trend over them.

    ipex-benchmark history [--device D] [--op OP] [--since DATE] [--until DATE] [--limit N] [--json]
    ipex-benchmark history --plot OP [--device D] [--dtype DT] [--output FILE.png] [--json]

Registered in cli/benchmark.py through `add_history_parser(subparsers)`; the database is bench/history.py.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Mapping, TextIO

from ..errors import UsageError
from . import common


def add_history_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "history", help="list recorded runs; --plot OP draws an op's trend", description=cmd_history.__doc__
    )
    parser.add_argument("--device", help="a backend (cuda, xpu, cpu), a label or part of a device name")
    parser.add_argument("--op", help="only runs that measured this op (matmul, copy_d2d, sd15_pipeline, ...)")
    parser.add_argument("--since", metavar="DATE", help="runs created on or after DATE (YYYY-MM-DD or ISO time)")
    parser.add_argument("--until", metavar="DATE", help="runs created on or before DATE")
    parser.add_argument("--limit", type=int, metavar="N", help="the N newest runs only")
    parser.add_argument("--plot", metavar="OP", help="draw the headline rate of OP over the runs")
    parser.add_argument("--dtype", help="with --plot: one dtype only")
    parser.add_argument("--output", type=Path, metavar="FILE.png", help="with --plot: write a PNG (else sparklines)")
    parser.add_argument("--db", type=Path, metavar="FILE", help="another history file (default: in the data dir)")
    parser.add_argument("--json", action="store_true", help="print runs (or trend points) as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.set_defaults(func=cmd_history)
    return parser


def cmd_history(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None, out: TextIO | None = None) -> int:
    """List the benchmark runs recorded in the history (newest first), or with --plot OP the op's headline
    rate across them: a PNG with --output, else one sparkline per device and spec."""
    from ..bench.history import History, default_path

    environ = os.environ if environ is None else environ
    stream = out or sys.stdout
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    if (args.output or args.dtype) and not args.plot:
        raise UsageError("--output and --dtype go with --plot OP")
    path = args.db or default_path(environ)
    if not path.exists():
        stream.write(f"no benchmark history yet ({path}); runs are recorded unless --no-history\n")
        return common.EXIT_OK
    with History(path) as history:
        if args.plot:
            return _plot(history, args, stream)
        runs = history.runs(device=args.device, op=args.op, since=args.since, until=args.until, limit=args.limit)
    if args.json:
        common.print_json([r.to_dict() for r in runs])
        return common.EXIT_OK
    if not runs:
        stream.write("no recorded run matches\n")
    for run in runs:
        devices = ", ".join(d.label for d in run.devices) or "no device"
        state = "" if run.complete else "  [incomplete]"
        failed = f", {run.failed} failed" if run.failed else ""
        stream.write(
            f"#{run.id:<5} {run.created}  {run.suite or '-':<8} {devices}  ({run.measurements} measurements{failed})"
            f"{state}\n"
        )
    return common.EXIT_OK


def _plot(history: Any, args: argparse.Namespace, stream: TextIO) -> int:
    from ..bench.report.trend import sparkline_text, write_trend_png

    points = history.trend(args.plot, device=args.device, dtype=args.dtype, since=args.since, until=args.until)
    if args.json:
        common.print_json([p.to_dict() for p in points])
        return common.EXIT_OK
    if not points:
        raise UsageError(f"no successful measurement of op '{args.plot}' in the history"
                         + (f" on '{args.device}'" if args.device else ""))
    if args.output:
        title = f"{args.plot} over {len({p.run_id for p in points})} runs" + (f" ({args.device})" if args.device else "")
        path = write_trend_png(points, args.output, title)
        stream.write(f"png: {path}\n")
    else:
        stream.write(sparkline_text(points) + "\n")
    return common.EXIT_OK
