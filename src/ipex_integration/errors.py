"""The library's exceptions and the one exit-code table every command uses.

Each exception carries a one-line message and, where we know one, a hint (the fix). The CLI's error boundary
(`cli/common.run_cli`) turns them, and every `OSError` or parse failure, into `prog: error: ...` plus the code
below. `docs/exit-codes.md` is the user-facing copy of this table.
"""

from __future__ import annotations

import signal

# The exit-code table. Launchers (comfyui-*, ollama-ipex serve, ipex up) return their child's code instead.
EXIT_OK = 0  # done; for checks: the answer is "yes" (compare: no regression)
EXIT_NEGATIVE = 1  # the command ran and the answer is "no" (compare: regression found; status: not usable)
EXIT_USAGE = 2  # bad input: a flag, a value, a file given as input that cannot be used
EXIT_REFUSED = 3  # refused to lose or overwrite something the user has (use --force, or remove it first)
EXIT_FAILED = 4  # could not do it: a write failed, a child failed, a server did not answer, compare could not compare
EXIT_SIGNAL_BASE = 128  # interrupted by signal N: 128 + N (SIGINT 130, SIGTERM 143, SIGHUP 129), as a shell reports


def signal_exit_code(signum: int) -> int:
    return EXIT_SIGNAL_BASE + int(signum)


class Interrupted(BaseException):
    """SIGTERM or SIGHUP arrived (SIGINT arrives as KeyboardInterrupt). A BaseException so that every `finally`
    and context manager on the way out runs (temp files removed, children stopped), as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def exit_code(self) -> int:
        return signal_exit_code(self.signum)


class IpexError(Exception):
    """Base class: an error the CLI shows as one line (plus an optional hint), never as a traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(IpexError):
    """A configuration or registry file is missing, corrupt, or holds a bad value."""


class ProbeError(IpexError):
    """Probing hardware or a Python environment failed (timeout, crash, unreadable answer)."""


class SelectionError(IpexError):
    """A device request cannot be met on this machine (names what is available and the fix)."""


class UsageError(IpexError):
    """Bad command-line input: unknown choice, malformed value."""


class RefusedError(IpexError):
    """We will not do this because it would lose or overwrite something the user has."""

    exit_code = EXIT_REFUSED


class FailedError(IpexError):
    """We tried and could not: a write failed, a child failed, a server did not answer."""

    exit_code = EXIT_FAILED


class EnvironmentSetupError(IpexError):
    """Creating or verifying a backend environment failed."""
