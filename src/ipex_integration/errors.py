"""The library's exceptions. Each carries a one-line message and, where we know one, a hint (the fix)."""

from __future__ import annotations


class IpexError(Exception):
    """Base class: an error the CLI shows as one line (plus an optional hint), never as a traceback."""

    exit_code = 2

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


class EnvironmentSetupError(IpexError):
    """Creating or verifying a backend environment failed."""
