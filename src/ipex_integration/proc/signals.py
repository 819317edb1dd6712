"""Forward SIGINT/SIGTERM/SIGHUP to our children while a launcher runs.

Handlers can only be set from the main thread; elsewhere (a library caller's thread) nothing is installed and
the caller handles its own signals. The previous handlers (e.g. the CLI boundary's, which turns SIGTERM into
`errors.Interrupted`) come back on exit.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Callable, Iterator

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def forward_signals(handler: Callable[[int], None]) -> Iterator[bool]:
    """Call `handler(signum)` for each forwarded signal while inside; yields whether handlers were installed."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous: dict[int, Any] = {}
    try:
        for signum in FORWARDED_SIGNALS:
            previous[signum] = signal.signal(signum, lambda n, _frame: handler(n))
        yield True
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class SignalRelay:
    """The `forward_signals` handler for one child (anything with `proc` and `send_signal`, e.g. a `Child`) that
    may not have started yet: a signal that arrives before the child exists is held, and `started()` delivers
    it right after the start. `received` lists every signal forwarded (the user's, not our own stop's)."""

    def __init__(self, child: Any) -> None:
        self.child = child
        self.received: list[int] = []
        self._pending: list[int] = []

    def __call__(self, signum: int) -> None:
        self.received.append(signum)
        if self.child.proc is None:
            self._pending.append(signum)
        else:
            self.child.send_signal(signum)

    def started(self) -> None:
        while self._pending:
            self.child.send_signal(self._pending.pop(0))
