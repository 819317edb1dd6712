"""What every command shares: mapping library errors to one-line messages and exit codes."""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any, Callable, Sequence

from ..errors import IpexError

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and the answer is "no" (status not usable, regression found, ...)
EXIT_USAGE = 2  # bad input
EXIT_INTERRUPTED = 130


def run_cli(body: Callable[[], int], *, debug: bool = False, prog: str = "ipex") -> int:
    """Run a command body; turn our errors into `prog: error: ...` plus an optional hint line."""
    try:
        return body()
    except IpexError as exc:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"{prog}: hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


def wants_debug(argv: Sequence[str]) -> bool:
    return "--debug" in argv


def add_probe_arguments(parser: Any, *, json_help: str) -> None:
    """What every command that probes the machine takes: --json, --probe-timeout and the GPU selection flags."""
    from ..plan.flags import add_device_arguments

    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument("--probe-timeout", type=float, default=30.0, metavar="S",
                        help="seconds to wait for each environment's probe (default 30)")
    add_device_arguments(parser)


# Tables printed into a pipe or a log file: rich would assume 80 columns and cut every cell to "…".
PIPE_WIDTH = 160


def make_console(*, stderr: bool = False):
    """A rich Console; wide enough for our tables when the output is not a terminal."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else PIPE_WIDTH)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")
