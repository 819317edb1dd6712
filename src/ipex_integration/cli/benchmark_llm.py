"""`ipex-benchmark llm`: time a running Ollama (or OpenAI-compatible) server: cold load, time to first token,
prompt and generation tokens/s from the server's counters and from our clock, over N trials.

    ipex-benchmark llm --model NAME [--url URL] [--api ollama|openai] [--trials N] [--prompt-tokens N]
                       [--max-tokens N] [--load-trials N] [--output DIR] [--format json,csv,html] [--json]

Registered in cli/benchmark.py through `add_llm_parser(subparsers)`; the measuring is in bench/workloads/llm.py.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
from pathlib import Path
from typing import Any, Mapping, TextIO

from ..errors import EXIT_FAILED, EXIT_OK, UsageError
from . import common, types

PROG = "ipex-benchmark llm"
DEFAULT_FORMATS = "json,csv,html"


def add_llm_parser(subparsers: Any) -> argparse.ArgumentParser:
    from ..bench.workloads.llm import APIS, ENDPOINTS

    parser = subparsers.add_parser(
        "llm", help="time an Ollama / OpenAI-compatible server: load, first token, tokens/s",
        description=run_llm.__doc__,
    )
    what = parser.add_argument_group("what to measure")
    what.add_argument("--model", required=True, help="model name as the server knows it (llama3.2, qwen2.5:0.5b, ...)")
    what.add_argument("--url", type=types.url, help="the server (default: $OLLAMA_HOST, else http://127.0.0.1:11434)")
    what.add_argument("--api", choices=APIS, default="ollama",
                      help="ollama (/api/*, with the server's own counters) or openai (/v1/chat/completions)")
    what.add_argument("--endpoint", choices=ENDPOINTS, default="generate", help="Ollama endpoint (default: generate)")
    what.add_argument("--trials", type=types.count(), default=5, metavar="N", help="timed requests (default 5)")
    what.add_argument("--warmup", type=types.count(minimum=0), default=1, metavar="N", help="untimed requests first (default 1)")
    what.add_argument("--load-trials", type=types.count(minimum=0), default=1, metavar="N",
                      help="cold loads to time: unload, then one short request (Ollama only; 0 skips; default 1)")
    what.add_argument("--prompt-tokens", type=types.count(), default=512, metavar="N", help="prompt length in words (default 512)")
    what.add_argument("--max-tokens", type=types.count(), default=128, metavar="N", help="tokens to generate (default 128)")
    what.add_argument("--seed", type=int, default=0, help="prompt and sampling seed (default 0)")
    what.add_argument("--timeout", type=types.positive_seconds, default=600.0, metavar="S", help="seconds per request (default 600)")
    what.add_argument("--api-key", help="bearer token for an OpenAI-compatible server (default: $OPENAI_API_KEY)")
    add_serving_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--output", type=types.nonempty_path, metavar="DIR", help="results directory (default: a new one under the data dir)")
    out.add_argument("--force", action="store_true",
                     help="replace results.json (and its siblings) in --output; by default a new run there is "
                          "written as results-2.json, results-3.json, ...")
    out.add_argument("--format", default=DEFAULT_FORMATS, help=f"json,csv,html (json is always written; default {DEFAULT_FORMATS})")
    out.add_argument("--json", action="store_true", help="print the results as JSON")
    out.add_argument("--no-history", action="store_true", help="do not record this run in the benchmark history")
    out.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.set_defaults(func=run_llm)
    return parser


def run_llm(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None, out: TextIO | None = None) -> int:
    """Time an LLM server through its API: cold model load (load_duration), time to first token, prompt and
    generation tokens/s (server counters and wall clock), over N trials with median and spread. Writes
    results.json/.csv/.html like the other workloads."""
    from ..bench.report.writer import check_formats, write_reports
    from ..bench.workloads.llm import LlmConfig, run_llm_benchmark
    from ..ollama.client import OllamaClient, OpenAIClient

    environ = os.environ if environ is None else environ
    stream = out or sys.stdout
    if getattr(args, "concurrency", None):
        return run_serving(args, environ=environ, out=stream)
    url = args.url or _host_url(environ)
    config = LlmConfig(model=args.model, url=url, api=args.api, endpoint=args.endpoint, trials=args.trials,
                       warmup=args.warmup, load_trials=args.load_trials, prompt_tokens=args.prompt_tokens,
                       max_tokens=args.max_tokens, seed=args.seed, timeout_s=args.timeout)
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {args.timeout}")
    formats = check_formats([*args.format.split(","), "json"])
    from .. import state

    out_dir = args.output or default_output_dir(environ)
    state.ensure_writable_dir(out_dir, what="results folder")  # before the measuring, not after
    if args.api == "openai":
        client: Any = OpenAIClient(url, timeout=args.timeout, api_key=args.api_key or environ.get("OPENAI_API_KEY"))
    else:
        client = OllamaClient(url, timeout=args.timeout)
    report = run_llm_benchmark(config, client, command=["ipex-benchmark", *getattr(args, "_argv", ["llm"])],
                               server_log=_our_server_log(client.url, environ),
                               progress=lambda text: print(f"{PROG}: {text}", file=sys.stderr, flush=True))
    written = write_reports(report, out_dir, formats, replace=args.force)
    _record(args, report, written["json"], environ)
    if args.json:
        import json

        stream.write(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    else:
        stream.write(summary_text(report) + "\n")
        for fmt, path in written.items():
            stream.write(f"{fmt}: {path}\n")
    return _exit_code(report)


def add_serving_arguments(parser: argparse.ArgumentParser) -> None:
    serving = parser.add_argument_group(
        "serving sweep (OpenAI-compatible API): TTFT, ITL, TPOT, E2EL p50/p95/p99, tokens/s, requests/s")
    from ..bench.workloads.llm_serving import MAX_CONCURRENCY, MODES

    serving.add_argument("--concurrency", metavar="LIST", type=types.comma_list(types.count(maximum=MAX_CONCURRENCY)),
                         help="run the sweep at these concurrencies, e.g. 1,4,16 (implies --api openai)")
    serving.add_argument("--requests", type=types.count(), default=16, metavar="N",
                         help="requests per mode and concurrency level (default 16)")
    serving.add_argument("--mode", default="stream,nostream", metavar="LIST", type=types.comma_list(types.one_of(*MODES)),
                         help="stream, nostream or both (default stream,nostream)")


def run_serving(args: argparse.Namespace, *, environ: Mapping[str, str], out: TextIO,
                device: Mapping[str, Any] | None = None) -> int:
    """The serving sweep: every mode x concurrency level through /v1/chat/completions; a token-count
    mismatch between client and server fails its level (exit 4). `device`: where the server runs, when the
    caller started it (backend, device_name, device)."""
    from ..bench.report.writer import check_formats, write_reports
    from ..bench.workloads.llm_serving import ServingConfig, run_serving_benchmark, summary_lines
    from ..ollama.client import OpenAIClient

    if args.timeout <= 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {args.timeout}")
    url = args.url or _host_url(environ)
    config = ServingConfig(model=args.model, url=url, concurrency=tuple(args.concurrency),
                           modes=tuple(args.mode), requests=args.requests,
                           warmup=args.warmup, prompt_tokens=args.prompt_tokens, max_tokens=args.max_tokens,
                           seed=args.seed, timeout_s=args.timeout)
    formats = check_formats([*args.format.split(","), "json"])
    from .. import state

    out_dir = args.output or default_output_dir(environ)
    state.ensure_writable_dir(out_dir, what="results folder")  # before the measuring, not after
    client = OpenAIClient(url, timeout=args.timeout, api_key=args.api_key or environ.get("OPENAI_API_KEY"))
    report = run_serving_benchmark(config, client, command=["ipex-benchmark", *getattr(args, "_argv", ["llm"])],
                                   device=device, progress=lambda text: print(f"{PROG}: {text}", file=sys.stderr, flush=True))
    written = write_reports(report, out_dir, formats, replace=args.force)
    _record(args, report, written["json"], environ)
    if args.json:
        import json

        out.write(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    else:
        out.write("\n".join(summary_lines(report)) + "\n")
        for fmt, path in written.items():
            out.write(f"{fmt}: {path}\n")
    return _exit_code(report)


def _exit_code(report: Any) -> int:
    """EXIT_FAILED (4) when a measurement failed: the server did not answer a request, or its token counts
    disagree with ours (docs/exit-codes.md); else EXIT_OK. Both paths of `ipex-benchmark llm` end here."""
    failed = any(m.status.value == "failed" for r in report.runs for m in r.measurements)
    return EXIT_FAILED if failed else EXIT_OK


def _record(args: argparse.Namespace, report: Any, results: Path, environ: Mapping[str, str]) -> None:
    """Into the benchmark history like `ipex-benchmark run` (its line on stderr: stdout is the summary)."""
    if not getattr(args, "no_history", False):
        from .benchmark import record_history

        record_history(report, results, environ, common.make_console(stderr=True))


def _host_url(environ: Mapping[str, str]) -> str:
    """The server from $OLLAMA_HOST, read as Ollama reads it (UsageError for junk such as '::::')."""
    from ..ollama.serve import parse_host

    return parse_host(environ["OLLAMA_HOST"]).url if environ.get("OLLAMA_HOST") else "127.0.0.1:11434"


def default_output_dir(environ: Mapping[str, str]) -> Path:
    from ..paths import data_dir

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return data_dir(environ) / "benchmarks" / f"{stamp}-llm"


def _our_server_log(url: str, environ: Mapping[str, str]) -> Path | None:
    """The log `ollama-ipex serve` wrote for this port, when the server is on this machine."""
    from ..ollama.serve import default_log_path, parse_host

    address = parse_host(url)
    if address.connect_host not in ("127.0.0.1", "localhost", "::1"):
        return None
    path = default_log_path(address, environ)
    return path if path.exists() else None


def summary_text(report: Any) -> str:
    run = report.runs[0]
    lines = [f"{run.device_name} ({run.backend}; {run.device.get('processor', 'placement unknown')}), "
             f"{report.config.get('model')} via {report.config.get('api')}"]
    for m in run.measurements:
        op = m.spec.op
        if m.stats is None:
            lines.append(f"  {op:<12} {m.status.value}: {m.reason}")
            continue
        if m.items:  # per-token: show tokens/s from both sources
            counters = m.extra.get("tokens_per_s_counters")
            wall = m.extra.get("tokens_per_s_wall")
            spread = m.stats.iqr_s / m.stats.median_s * 100 if m.stats.median_s else 0.0
            lines.append(f"  {op:<12} {1 / m.stats.median_s:9.1f} tok/s (IQR {spread:.0f}%, n={m.stats.n}); "
                         f"counters {_fmt(counters)}, wall clock {_fmt(wall)} tok/s")
        else:
            lines.append(f"  {op:<12} {m.stats.median_s * 1e3:9.1f} ms median (IQR {m.stats.iqr_s * 1e3:.1f} ms, "
                         f"n={m.stats.n})")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
