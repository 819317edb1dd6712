"""`ipex up`: ComfyUI and an LLM server (Ollama, or llama.cpp's llama-server) together, each on its own GPU
when two are present.

    ipex up [--dry-run [--json]] [--comfyui-device SPEC] [--ollama-device SPEC] [--results FILE]
            [--comfyui DIR] [--port N] [--listen ADDR] [--disable-ipex]
            [--engine ollama|llama-server] [--ollama-bin PATH] [--llama-server PATH] [--model FILE.gguf]
            [--host HOST:PORT] [--timeout S] [-- COMFYUI FLAGS ...]

Default placement: ComfyUI on the fastest GPU by the newest benchmark results, else on the NVIDIA GPU; the LLM
server on the other (up/placement.py). Each gets its own DevicePlan. Both stop on Ctrl-C / SIGTERM, or when one
of them exits (named in the last line).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Mapping, Sequence, TextIO

from ..hardware.model import HardwareReport
from ..plan.model import DevicePlan
from ..plan.vocabulary import where_text
from . import types
from ..llama.engine import add_engine_arguments
from .common import EXIT_OK, ArgumentParser, run_cli, warn_if_exposed

PROG = "ipex up"
DESCRIPTION = ("Start ComfyUI and Ollama (or llama.cpp's llama-server: --engine llama-server --model FILE.gguf) "
               "together, each on its own GPU when two are present: ComfyUI on the fastest by the newest benchmark "
               "results (else the NVIDIA GPU), the LLM server on the other. Both stop on Ctrl-C or SIGTERM, or "
               "when one of them exits. --dry-run shows the placement.")
Resolver = Callable[..., DevicePlan]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..plan.vocabulary import SPEC_HELP

    place = parser.add_argument_group("placement")
    place.add_argument("--comfyui-device", metavar="SPEC", type=types.nonempty, help=f"ComfyUI's device: {SPEC_HELP} (default: placed for you)")
    place.add_argument("--ollama-device", metavar="SPEC", type=types.nonempty,
                       help=f"the LLM server's device (Ollama's or llama-server's): {SPEC_HELP} (default: placed for you)")
    place.add_argument("--results", metavar="FILE", type=types.nonempty,
                       help="benchmark results deciding the fastest GPU (default: the newest under the data dir)")
    place.add_argument("--dry-run", action="store_true", help="show the placement, plans and commands; start nothing")
    place.add_argument("--json", action="store_true", help="with --dry-run: print it as JSON")
    comfy = parser.add_argument_group("ComfyUI")
    comfy.add_argument("--comfyui", metavar="DIR", type=types.nonempty, help="the checkout (default: $COMFYUI_PATH, else the registered one)")
    comfy.add_argument("--port", type=types.port, metavar="N", help="ComfyUI's port (default: ComfyUI's, 8188)")
    comfy.add_argument("--listen", metavar="ADDR", type=types.listen, help="ComfyUI's address (default 127.0.0.1)")
    comfy.add_argument("--disable-ipex", action="store_true", help="never import intel_extension_for_pytorch")
    llm = parser.add_argument_group("LLM server (Ollama, or llama.cpp's llama-server)")
    add_engine_arguments(llm)
    llm.add_argument("--ollama-bin", metavar="PATH", type=types.nonempty, help="the ollama binary (default: config, else PATH)")
    llm.add_argument("--host", metavar="HOST:PORT", type=types.nonempty,
                     help="the LLM server's address (default: Ollama $OLLAMA_HOST, else 127.0.0.1:11434; "
                          "llama-server 127.0.0.1:8080)")
    llm.add_argument("--timeout", type=types.positive_seconds, default=60.0, metavar="S",
                     help="seconds to wait for the LLM server to answer (default 60)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("comfyui_args", nargs=argparse.REMAINDER, metavar="-- COMFYUI FLAGS",
                        help="flags passed to ComfyUI unchanged")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("up", help="start ComfyUI and Ollama (or llama-server) together, each on its own GPU",
                                   description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(func=cmd_up)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_cli(lambda: up_main(argv), debug="--debug" in argv, prog=PROG)


def up_main(argv: Sequence[str], **seams: Any) -> int:
    """`ipex up` on its own (tests): parse argv, then cmd_up with the given seams."""
    parser = ArgumentParser(prog=PROG, description=DESCRIPTION)
    add_arguments(parser)
    return cmd_up(parser.parse_args(list(argv)), **seams)


def cmd_up(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    hardware: HardwareReport | None = None,
    resolve: Resolver | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Start ComfyUI and the LLM server; stop both on Ctrl-C, SIGTERM, or when one exits. `--dry-run` shows
    the placement. The keyword arguments are test seams (fake GPUs; a resolver with fake environments)."""
    from ..errors import UsageError
    from ..llama.engine import engine_flags
    from ..ollama.launch import probe
    from ..paths import cache_dir
    from ..up.prepare import prepare_up

    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    err = err or sys.stderr
    if args.json and not args.dry_run:
        raise UsageError("--json only goes with --dry-run", hint="ipex up --dry-run --json")
    engine = engine_flags(args.engine, llama_server=args.llama_server, model=args.model, environ=environ)
    hardware = probe() if hardware is None else hardware
    up = prepare_up(hardware=hardware, environ=environ, comfyui_argv=_comfyui_argv(args),
                    comfyui_device=args.comfyui_device, ollama_device=args.ollama_device, results=args.results,
                    comfyui=args.comfyui, disable_ipex=args.disable_ipex, ollama_bin=args.ollama_bin,
                    host=args.host, engine=engine, resolve=resolve)
    for notice in up.notices:
        err.write(f"{PROG}: warning: {notice}\n")
    placement, launch = up.placement, up.llm
    comfy_plan, comfy_spec = up.comfyui.plan, up.comfyui.spec

    warn_if_exposed(PROG, comfy_spec.listen)
    if engine.is_llama:
        warn_if_exposed(PROG, launch.spec.host)  # Ollama's launch warns for its own address
    if args.dry_run:
        if args.json:
            out.write(json.dumps(up.to_dict(), indent=2, default=str) + "\n")
        else:
            out.write(dry_run_text(up) + "\n")
        return EXIT_OK

    from ..up.supervisor import run_up

    for warning in (*placement.warnings, *comfy_plan.warnings, *up.llm_warnings):
        err.write(f"{PROG}: warning: {warning}\n")
    err.write(f"{PROG}: ComfyUI on {_where(comfy_plan)}, {up.llm_name} on {up.llm_where}\n")
    err.flush()
    width = max(len("comfyui"), len(engine.engine))

    def prefixed(name: str) -> Callable[[str], None]:
        def sink(line: str) -> None:
            out.write(f"{name:<{width}} | {line}\n")
            out.flush()
        return sink

    result = run_up(launch.spec, comfy_spec, comfyui_log=cache_dir(environ) / "up" / f"comfyui-{comfy_spec.port}.log",
                    ready_timeout=args.timeout, say=lambda text: (err.write(f"{PROG}: {text}\n"), err.flush()),
                    llm_sink=prefixed(engine.engine), comfyui_sink=prefixed("comfyui"))
    err.write(f"{PROG}: {result.message}\n")
    return result.exit_code


def _comfyui_argv(args: argparse.Namespace) -> list[str]:
    extra = list(args.comfyui_args or [])
    if extra and extra[0] == "--":
        extra = extra[1:]
    argv: list[str] = []
    if args.listen:
        argv += ["--listen", args.listen]
    if args.port is not None:
        argv += ["--port", str(args.port)]
    return argv + extra


def _where(plan: DevicePlan) -> str:
    return where_text(plan.backend, plan.device_index, plan.device_name)


def dry_run_text(up: Any) -> str:
    """The placement, then each program's plan and command (up: up/prepare.PreparedUp)."""
    checkout, comfy_plan, comfy_spec = up.comfyui.checkout, up.comfyui.plan, up.comfyui.spec
    lines = [f"placement:   {r}" for r in up.placement.reasons]
    lines += [f"warning:     {w}" for w in up.placement.warnings]
    lines += ["", f"[ComfyUI] on {_where(comfy_plan)}",
              f"comfyui:     {checkout.path} (version {checkout.label})"]
    lines += comfy_plan.to_text().splitlines()
    lines += [f"listen:      {comfy_spec.listen} port {comfy_spec.port}", f"command:     {comfy_spec.command}"]
    lines += ["", f"[{up.llm_name}] on {up.llm_where}"]
    lines += up.llm.to_text().splitlines()
    return "\n".join(lines)
