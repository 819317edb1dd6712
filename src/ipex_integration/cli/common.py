"""What every command shares: mapping library errors to one-line messages and exit codes."""

from __future__ import annotations

import argparse
import errno
import json
import signal
import sys
import threading
import tomllib
import traceback
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from ..errors import (  # noqa: F401  (re-exported: commands write common.EXIT_*)
    EXIT_FAILED,
    EXIT_NEGATIVE,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    Interrupted,
    IpexError,
    UsageError,
    signal_exit_code,
)

EXIT_INTERRUPTED = signal_exit_code(signal.SIGINT)  # 130

# Error text is cut here: a message echoing a 5,000-character value, or a child's whole output, helps nobody.
MAX_MESSAGE = 300
MAX_LINES = 4

# What to do about the OSErrors a command meets on the user's files.
OS_HINTS = {
    errno.EACCES: "check the permissions of that path, or choose another one",
    errno.EPERM: "check the permissions of that path, or choose another one",
    errno.EROFS: "the file system is read-only: choose a path on a writable one",
    errno.ENOSPC: "the disk is full: free some space, or choose a path on another disk",
    errno.EDQUOT: "your disk quota is used up: free some space, or choose another path",
    errno.ENOTDIR: "a part of that path is a file, not a folder: choose another path",
    errno.EISDIR: "that path is a folder: give a file path",
    errno.ENAMETOOLONG: "shorten the path or file name",
    errno.EEXIST: "it already exists: remove it or choose another name",
    errno.ENOENT: "check that the path exists",
    errno.ELOOP: "the path has a symbolic link loop",
    errno.EMFILE: "too many open files: raise `ulimit -n` or close other programs",
    errno.EIO: "an I/O error: check the disk (dmesg)",
}


def clean_text(text: object, *, limit: int = MAX_MESSAGE, lines: int = MAX_LINES) -> str:
    """One message fit for a terminal: no control characters (a NUL or an escape sequence from a child's
    output), at most `lines` lines and `limit` characters, joined with " | "."""
    raw = str(text)
    kept = []
    for line in raw.splitlines() or [""]:
        line = "".join(ch if ch.isprintable() else ("  " if ch == "\t" else "?") for ch in line).strip()
        if line:
            kept.append(line)
    cut = len(kept) > lines
    out = " | ".join(kept[:lines])
    if len(out) > limit:
        out, cut = out[: limit - 1].rstrip(), True
    return out + (" ..." if cut else "")


def describe_os_error(exc: OSError) -> tuple[str, str | None]:
    """(message, hint) for an OSError: what failed, on which file, and what to do."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    names = [n for n in (exc.filename, getattr(exc, "filename2", None)) if n is not None]
    where = " -> ".join(str(n) for n in names)
    message = f"{where}: {reason}" if where else reason
    return message, OS_HINTS.get(exc.errno) if exc.errno is not None else None


def _error_text(exc: BaseException) -> tuple[str, str | None, int]:
    """(message, hint, exit code) for what escaped a command body."""
    if isinstance(exc, IpexError):
        return exc.message, exc.hint, exc.exit_code
    if isinstance(exc, UnicodeDecodeError):
        return (f"cannot read a file as UTF-8 text ({exc.reason} at byte {exc.start})",
                "the file is not text or was saved in another encoding: fix or remove it", EXIT_FAILED)
    if isinstance(exc, json.JSONDecodeError):
        return (f"invalid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}",
                "the file was cut short or edited by hand: fix or remove it", EXIT_FAILED)
    if isinstance(exc, tomllib.TOMLDecodeError):
        return f"invalid TOML: {exc}", "the file was edited by hand: fix or remove it", EXIT_FAILED
    if isinstance(exc, RecursionError):
        return "a file is nested too deeply to read", "it is not one we wrote: fix or remove it", EXIT_FAILED
    if isinstance(exc, OSError):
        message, hint = describe_os_error(exc)
        return message, hint, EXIT_FAILED
    raise TypeError(exc)  # not ours to describe


def _raise_interrupted(signum: int, _frame: Any) -> None:
    raise Interrupted(signum)


@contextmanager
def signals_as_exceptions(signums: Sequence[int] = (signal.SIGTERM, signal.SIGHUP)) -> Iterator[None]:
    """While the body runs, SIGTERM and SIGHUP raise Interrupted (as SIGINT raises KeyboardInterrupt), so every
    `finally` runs. Only the main thread can install handlers; elsewhere (a test thread) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in signums:
        try:
            previous[signum] = signal.signal(signum, _raise_interrupted)
        except (ValueError, OSError):  # not available here
            pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _say(prog: str, kind: str, text: str) -> None:
    print(f"{prog}: {kind}: {clean_text(text)}", file=sys.stderr)


def run_cli(body: Callable[[], int], *, debug: bool = False, prog: str = "ipex") -> int:
    """The one error boundary of every command: run `body`, and turn what it raises into `prog: error: ...`
    (plus an optional `prog: hint: ...`) and the exit code of errors.py's table. `debug` adds the traceback."""
    try:
        with signals_as_exceptions():
            return body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Interrupted as exc:
        print(f"{prog}: interrupted by {exc.name}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `ipex devices | head -1`: the reader has what it wanted
        return EXIT_OK
    except (IpexError, OSError, UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError,
            RecursionError) as exc:
        if debug:
            traceback.print_exc()
        message, hint, code = _error_text(exc)
        _say(prog, "error", message)
        if hint:
            _say(prog, "hint", hint)
        return code


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are UsageErrors: parsed inside `run_cli`, a bad flag or value is one
    `prog: error: ...` line and a hint, exit 2, like every other usage error (no usage dump).
    Subparsers made from it are of this class too."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message, hint=f"see `{self.prog} --help`")


def warn_if_exposed(prog: str, listen: str) -> None:
    """Check a server's listen address (UsageError when it is none) and warn when it goes beyond loopback."""
    from ..net import check_listen, exposure_warning

    check_listen(listen)
    warning = exposure_warning(listen)
    if warning:
        _say(prog, "warning", warning)


def wants_debug(argv: Sequence[str]) -> bool:
    return "--debug" in argv


def add_probe_arguments(parser: Any, *, json_help: str) -> None:
    """What every command that probes the machine takes: --json, --probe-timeout and the GPU selection flags."""
    from ..plan.flags import add_device_arguments
    from .types import positive_seconds

    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument("--probe-timeout", type=positive_seconds, default=30.0, metavar="S",
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
