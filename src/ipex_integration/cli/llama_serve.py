"""`ollama-ipex serve --engine llama-server --model FILE.gguf [GPU flags] [--llama-server PATH]
[--host HOST:PORT] [--timeout S] [--dry-run [--json]]`: llama.cpp's server on the GPU you choose, with the
variables its build needs. The library side is in llama/ (binary, env, launch)."""

from __future__ import annotations

import json
from typing import Mapping, Sequence, TextIO

from ..errors import UsageError
from ..hardware.model import HardwareReport
from ..llama.engine import EngineFlags
from .common import EXIT_OK, warn_if_exposed

PROG = "ollama-ipex"
USAGE = ("usage: ollama-ipex serve --engine llama-server --model FILE.gguf [GPU selection flags] "
         "[--llama-server PATH] [--host HOST:PORT] [--timeout S] [--dry-run [--json]]\n")


def llama_serve_main(argv: Sequence[str], engine: EngineFlags, *, environ: Mapping[str, str],
                     hardware: HardwareReport | None, out: TextIO, err: TextIO) -> int:
    from ..llama.env import DEFAULT_PORT
    from ..llama.launch import prepare_llama_launch, serve_llama
    from ..net import split_host_port
    from ..plan.flags import split_device_flags
    from .ollama import split_ollama_flags

    flags, rest = split_ollama_flags(argv)
    device_flags, rest = split_device_flags(rest)
    if flags.ollama_bin is not None:
        raise UsageError("--ollama-bin goes with --engine ollama", hint="use --llama-server PATH")
    if rest != ["serve"]:
        if rest and rest[0] in ("-h", "--help", "help"):
            out.write(USAGE)
            return EXIT_OK
        raise UsageError(f"--engine llama-server only serves; got: {' '.join(rest) or 'no command'}", hint=USAGE.strip())
    if device_flags.json and not device_flags.dry_run:
        raise UsageError("--json only goes with --dry-run", hint=f"{PROG} serve --engine llama-server --dry-run --json")
    host, port = split_host_port(flags.host, default_port=DEFAULT_PORT)
    warn_if_exposed(PROG, host)
    launch = prepare_llama_launch(device_flags.to_request(environ), model=engine.model, environ=environ,
                                  binary=engine.llama_server, host=host, port=port, hardware=hardware)
    if device_flags.dry_run:
        out.write((json.dumps(launch.to_dict(), indent=2, default=str) if device_flags.json else launch.to_text()) + "\n")
        return EXIT_OK
    for warning in launch.server.warnings:
        err.write(f"{PROG}: warning: {warning}\n")

    def ready(path: str) -> None:
        err.write(f"{PROG}: llama-server ready at {launch.spec.url} on {launch.where} (GET {path} answered)\n")
        err.flush()

    def sink(line: str) -> None:
        err.write(line + "\n")
        err.flush()

    kwargs = {} if flags.timeout is None else {"timeout": flags.timeout}
    return serve_llama(launch.spec, on_ready=ready, sink=sink, **kwargs)
