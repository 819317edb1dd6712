"""`ollama-ipex serve --engine llama-server --model FILE.gguf [GPU flags] [--llama-server PATH]
[--host HOST:PORT] [--timeout S] [--dry-run [--json]]`: llama.cpp's server on the GPU you choose, with the
variables its build needs. The library side is in llama/ (binary, env, launch)."""

from __future__ import annotations

import json
from typing import Mapping, Sequence, TextIO

from ..errors import UsageError
from ..hardware.model import HardwareReport
from ..llama.engine import EngineFlags
from .common import EXIT_OK

PROG = "ollama-ipex"
USAGE = ("usage: ollama-ipex serve --engine llama-server --model FILE.gguf [GPU selection flags] "
         "[--llama-server PATH] [--host HOST:PORT] [--timeout S] [--dry-run [--json]]\n")


def split_host(value: str | None) -> tuple[str, int]:
    """"HOST:PORT", "HOST", ":PORT", "[::1]:PORT" -> (host, port); llama-server's defaults 127.0.0.1:8080."""
    from ..llama.env import DEFAULT_PORT

    text = (value or "").strip()
    if text.startswith("["):
        host, _, tail = text[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    try:
        number = int(port) if port else DEFAULT_PORT
    except ValueError:
        raise UsageError(f"invalid port in --host {value!r}", hint="e.g. --host 127.0.0.1:8080") from None
    if not 0 < number <= 65535:
        raise UsageError(f"port {number} in --host {value!r} is out of range (1-65535)")
    return host or "127.0.0.1", number


def llama_serve_main(argv: Sequence[str], engine: EngineFlags, *, environ: Mapping[str, str],
                     hardware: HardwareReport | None, out: TextIO, err: TextIO) -> int:
    from ..llama.launch import prepare_llama_launch, serve_llama
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
    host, port = split_host(flags.host)
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
