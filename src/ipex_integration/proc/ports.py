"""The one port check: is something already listening where a server we start would?"""

from __future__ import annotations

import errno
import socket
from typing import Callable

from ..errors import FailedError, IpexError


def ensure_port_free(
    host: str,
    port: int,
    *,
    server: str = "the server",
    error: type[IpexError] = FailedError,
    occupant: Callable[[], str | None] | None = None,
    hint: str | None = None,
) -> None:
    """`error` when `port` is taken at `host` (a comma-separated list: each) or `host` is not ours.

    `occupant()` may name what listens there (e.g. "an Ollama server (version 0.11.4)"). Port 0 is always free
    (the OS picks one). Other bind failures (a privileged port, ...) are the server's to report."""
    if port == 0:
        return
    for one in (h.strip().strip("[]") for h in host.split(",")):
        if not one:
            continue
        family = socket.AF_INET6 if ":" in one else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As servers do: a port in TIME_WAIT is free; only a listener makes bind fail.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((one, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    who = occupant() if occupant is not None else None
                    what = f"{who} already listens there" if who else "something else listens there"
                    raise error(
                        f"port {port} on {one} is already in use: {what}, so {server} could not start",
                        hint=hint or f"pass another port, or stop what listens there (ss -ltnp 'sport = :{port}')",
                    ) from None
                if exc.errno == errno.EADDRNOTAVAIL:
                    raise error(
                        f"cannot listen on {one}: no such address on this machine",
                        hint="use an address of this machine (127.0.0.1 for local use only)",
                    ) from None
