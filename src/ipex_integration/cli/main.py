"""`ipex`: the umbrella command. Each command group lives in its own module with `register(subparsers)`;
the handler it sets as `func` takes the parsed args and returns an exit code."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .. import __version__
from . import common

# One module per command group; each defines register(subparsers).
COMMAND_MODULES = ("devices", "status", "env", "comfyui", "nodes", "service", "up")


def build_parser() -> argparse.ArgumentParser:
    parser = common.ArgumentParser(
        prog="ipex",
        description="Run AI workloads on the GPU you choose (NVIDIA CUDA, Intel XPU or CPU), and measure them.",
    )
    parser.add_argument("--version", action="version", version=f"ipex-integration {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("--help-gpu", action="store_true", help="explain GPU selection flags and variables")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    import importlib

    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return common.run_cli(lambda: _run(argv), debug=common.wants_debug(argv))


def _run(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # inside the error boundary: a bad flag is one line and exit 2
    if args.help_gpu:
        from ..plan.helpgpu import HELP_GPU

        print(HELP_GPU)
        return common.EXIT_OK
    if not getattr(args, "func", None):
        parser.print_help()
        return common.EXIT_USAGE
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
