"""Addresses the servers we start listen on: one check of a host name or IP address, one check of a port,
and one warning for binding beyond this machine (ComfyUI and Ollama ask for no password)."""

from __future__ import annotations

import ipaddress
import re

from .errors import UsageError

# A DNS name (RFC 1123 labels), e.g. "localhost", "gpu-box.lan".
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
MAX_HOST = 253


def is_loopback(host: str) -> bool:
    """True when every address in `host` ("127.0.0.1", "::1", "localhost", a comma list) stays on this machine.
    "" and "0.0.0.0" / "::" mean every interface: not loopback."""
    parts = [h.strip().strip("[]") for h in str(host).split(",")]
    if not parts or not all(parts):
        return False
    for part in parts:
        if part.lower() == "localhost":
            continue
        try:
            if not ipaddress.ip_address(part).is_loopback:
                return False
        except ValueError:
            return False  # a host name other than localhost may resolve to anything
    return True


def exposure_warning(host: str) -> str | None:
    """The one warning for a server reachable from other machines, or None for loopback."""
    if is_loopback(host):
        return None
    shown = host or "every interface"
    return (f"listening on {shown}: reachable from other machines, and neither ComfyUI nor Ollama asks for a "
            "password")


def check_host(text: str, *, what: str = "host") -> str:
    """`text` as an IP address (IPv6 with or without brackets) or a DNS name; UsageError otherwise."""
    raw = str(text).strip()
    bare = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    if not bare:
        raise UsageError(f"empty {what}", hint="e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)")
    try:
        ipaddress.ip_address(bare)
        return bare
    except ValueError:
        pass
    name = bare[:-1] if bare.endswith(".") else bare
    if len(name) > MAX_HOST or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise UsageError(f"not an IP address or host name: {raw!r}",
                         hint="e.g. 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or a host name")
    return bare


def check_listen(text: str) -> str:
    """A listen address as ComfyUI takes it: one address or a comma-separated list."""
    parts = str(text).split(",")
    return ",".join(check_host(p, what="listen address") for p in parts)


def check_url(text: str, *, what: str = "server URL") -> str:
    """A server's base URL (`http://host:port`, `host:port` or `host`); UsageError unless scheme, host and port
    are all well formed. Returned as given (the clients add a missing scheme themselves)."""
    from urllib.parse import urlsplit

    raw = str(text).strip()
    parts = urlsplit(raw if "://" in raw else f"http://{raw}")
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"{what} must be http:// or https://, got {raw!r}")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"{what} has a bad port: {raw!r}", hint="e.g. http://127.0.0.1:11434") from None
    check_host(parts.hostname or "", what=f"{what} host")
    if port is not None:
        check_port(port, what=f"{what} port")
    return raw


def split_host_port(text: str | None, *, default_host: str = "127.0.0.1", default_port: int,
                    what: str = "--host") -> tuple[str, int]:
    """"HOST:PORT", "HOST", ":PORT", "[::1]:PORT" or "::1" -> (host, port), each checked; a missing part takes
    its default. For servers that take one address (llama-server); Ollama's OLLAMA_HOST, with its scheme and
    its own defaults, is read by ollama.serve.parse_host."""
    raw = (text or "").strip()
    if raw.startswith("["):
        if "]" not in raw:
            raise UsageError(f"unclosed [ in {what} {raw!r}", hint=f"e.g. {what} [::1]:{default_port}")
        host, _, tail = raw[1:].partition("]")
        if tail and not tail.startswith(":"):
            raise UsageError(f"{what} {raw!r}: expected [HOST]:PORT", hint=f"e.g. {what} [::1]:{default_port}")
        port = tail[1:]
    elif raw.count(":") == 1:
        host, _, port = raw.partition(":")
    else:
        host, port = raw, ""  # a bare host, or a bare IPv6 address
    if port.strip():
        try:
            number = check_port(port, what=f"port in {what} {raw!r}")
        except UsageError as exc:
            raise UsageError(exc.message, hint=f"e.g. {what} {default_host}:{default_port}") from None
    else:
        number = default_port
    return (check_host(host, what=f"host in {what}") if host.strip() else default_host), number


def check_port(value: int | str, *, what: str = "port") -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise UsageError(f"{what} must be a number from 1 to 65535, got {value!r}") from None
    if not 0 < number <= 65535:
        raise UsageError(f"{what} {number} is out of range (1-65535)")
    return number
