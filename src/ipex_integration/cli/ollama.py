"""`ollama-ipex`: Ollama on the GPU you choose.

    ollama-ipex serve [GPU flags] [--ollama-bin PATH] [--host 127.0.0.1:11434] [--timeout S] [--dry-run [--json]]
    ollama-ipex COMMAND ...      any other ollama command (run, list, ps, pull, ...), run by the same ollama with
                                 the same environment (OLLAMA_HOST included)

Our flags are taken out of the command line wherever they appear; everything else goes to ollama unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence, TextIO

from ..argv import take_flags
from ..errors import UsageError
from ..hardware.model import HardwareReport
from ..plan.flags import split_device_flags
from ..plan.vocabulary import VENDOR_NAME, priority_text
from .common import EXIT_OK, EXIT_USAGE, run_cli
from .types import positive_seconds

PROG = "ollama-ipex"
USAGE = f"""\
usage: ollama-ipex serve [GPU selection flags] [--ollama-bin PATH] [--host HOST:PORT] [--timeout S]
                         [--dry-run [--json]]
       ollama-ipex COMMAND [ARGS ...]      (run, list, ps, pull, ...: ollama's own commands)

Serve Ollama on the GPU you choose: NVIDIA through CUDA, Intel through Vulkan (upstream builds) or SYCL
(ipex-llm's build), or the CPU. Default: {priority_text(VENDOR_NAME)}.
  --help-gpu        the GPU selection flags (--cpu, --cuda, --force-intel-xpu, --cuda-device N, --intel-device N,
                    --igpu, --fallback) and variables
  --ollama-bin PATH the ollama binary (default: [ollama] bin in config.toml, else `ollama` on PATH)
  --engine E        ollama (default; $IPEX_LLM_ENGINE) or llama-server: llama.cpp's server, with
                    --model FILE.gguf [--llama-server PATH] (default: $LLAMA_SERVER, else PATH)
  --host HOST:PORT  where the server listens (default: $OLLAMA_HOST, else 127.0.0.1:11434)
  --timeout S       seconds to wait for the server to answer (default 60)
  --dry-run         print the build, device, variables and command; start nothing (--json: as JSON)
Variables you set yourself are kept (`--dry-run` lists them).
"""


@dataclass(frozen=True)
class OllamaFlags:
    ollama_bin: str | None = None
    host: str | None = None
    timeout: float | None = None


def split_ollama_flags(argv: Sequence[str]) -> tuple[OllamaFlags, list[str]]:
    """Take --ollama-bin, --host and --timeout (`--x V` or `--x=V`) out of argv, up to a bare `--`."""
    names = {"--ollama-bin": "ollama_bin", "--host": "host", "--timeout": "timeout"}
    taken, rest = take_flags(argv, valued={name: "a value" for name in names})
    values = {names[flag.name]: flag.value for flag in taken}  # the last one given wins
    timeout = None
    if "timeout" in values:
        try:
            timeout = positive_seconds(values["timeout"])  # the check every --timeout gets
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"--timeout: {exc}") from None
    if values.get("ollama_bin") == "" or values.get("host") == "":
        raise UsageError("--ollama-bin and --host must not be empty")
    return OllamaFlags(values.get("ollama_bin"), values.get("host"), timeout), rest


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_cli(lambda: ollama_main(argv), debug="--debug" in argv, prog=PROG)


def ollama_main(
    argv: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    hardware: HardwareReport | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    exec_fn: Callable[[str, list[str], dict[str, str]], object] = os.execve,
) -> int:
    """The command. `hardware` and `exec_fn` are test seams (fake GPUs; not replacing the test process)."""
    from ..ollama.launch import prepare_launch
    from ..ollama.serve import serve

    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    err = err or sys.stderr
    argv = [a for a in argv if a != "--debug"]
    from ..llama.engine import split_engine_flags

    engine, argv = split_engine_flags(argv, dict(environ))
    if engine.is_llama:  # llama.cpp's server instead of ollama (cli/llama_serve.py)
        from .llama_serve import llama_serve_main

        return llama_serve_main(argv, engine, environ=environ, hardware=hardware, out=out, err=err)
    flags, rest = split_ollama_flags(argv)
    device_flags, rest = split_device_flags(rest)
    if device_flags.help_gpu:
        from ..plan.helpgpu import HELP_GPU

        out.write(HELP_GPU.rstrip("\n") + "\n")
        return EXIT_OK
    if not rest or rest[0] in ("-h", "--help", "help") or (rest[0] == "serve" and any(a in ("-h", "--help") for a in rest)):
        out.write(USAGE)
        return EXIT_OK if rest else EXIT_USAGE
    if device_flags.json and not device_flags.dry_run:
        raise UsageError("--json only goes with --dry-run", hint=f"{PROG} serve --dry-run --json")
    request = device_flags.to_request(environ)
    launch = prepare_launch(request, environ=environ, ollama_bin=flags.ollama_bin, host=flags.host, hardware=hardware)

    if rest[0] != "serve":  # a client command: the same ollama, the same variables
        if device_flags.dry_run:
            raise UsageError("--dry-run goes with `serve`", hint=f"{PROG} serve --dry-run")
        env = launch.server.child_env(environ)
        exec_fn(launch.build.path, [launch.build.path, *rest], env)
        return EXIT_OK  # only reached when exec_fn returns (tests)
    if len(rest) > 1:
        raise UsageError(f"unexpected arguments after serve: {' '.join(rest[1:])}", hint=USAGE.splitlines()[0])
    if device_flags.dry_run:
        if device_flags.json:
            out.write(json.dumps(launch.to_dict(), indent=2, default=str) + "\n")
        else:
            out.write(launch.to_text() + "\n")
        return EXIT_OK

    for warning in launch.server.warnings:
        err.write(f"{PROG}: warning: {warning}\n")

    def ready(version: str) -> None:
        err.write(f"{PROG}: ollama {version} ready at {launch.spec.address.url} on {launch.server.where}\n")
        err.flush()

    def sink(line: str) -> None:
        err.write(line + "\n")
        err.flush()

    kwargs = {} if flags.timeout is None else {"timeout": flags.timeout}
    return serve(launch.spec, on_ready=ready, sink=sink, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
