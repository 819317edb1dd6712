"""Start `ollama serve` with a plan's environment, wait until it answers, forward signals, reap it.

The child runs under the supervisor (`proc.Child`): its own process group and the parent-death signal; a
terminal's Ctrl-C reaches only us, and we forward it (and SIGTERM, SIGHUP) once to the child's group. Its output
(Ollama logs to stderr) is pumped to our stderr (or prefixed by `ipex up`) and a log file, and its tail is kept
for error messages. Ready means GET /api/version answers: Ollama binds its port before discovering GPUs, which can
take seconds, and serves requests only after that.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import UsageError
from ..net import check_host
from ..paths import cache_dir
from ..proc import Child, SignalRelay, ensure_port_free, forward_signals
from . import OllamaError, OllamaStartError
from .binary import OllamaBuild
from .env import DEFAULT_HOST, OllamaEnv

READY_TIMEOUT_S = 60.0  # GPU discovery alone may take 30 s on a GPU waking from idle (Ollama's own bootstrap timeout)
READY_POLL_S = 0.1
PROBE_TIMEOUT_S = 2.0
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# Loopback requests must not go through the user's http_proxy.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --------------------------------------------------------------------------------------------- addresses


@dataclass(frozen=True)
class HostAddress:
    """OLLAMA_HOST read the way Ollama reads it (envconfig.Host): scheme://host:port, defaults
    http, 127.0.0.1, 11434 (80/443 when only a scheme is given)."""

    scheme: str
    host: str
    port: int

    @property
    def connect_host(self) -> str:
        """Where a client on this machine reaches a server bound to `host` (0.0.0.0 means every address)."""
        if self.host in ("0.0.0.0", ""):
            return "127.0.0.1"
        if self.host == "::":
            return "::1"
        return self.host

    @property
    def url(self) -> str:
        host = self.connect_host
        return f"{self.scheme}://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def text(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_host(value: str | None) -> HostAddress:
    raw = (value or "").strip().strip("\"'").strip()
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = "http", raw
    default_port = _DEFAULT_PORTS.get(scheme, "11434") if sep else "11434"
    rest = rest.rstrip("/")
    host, port = _split_host_port(rest)
    if port is None:
        port = default_port
    if not host:
        host = "127.0.0.1"
    try:
        host = check_host(host)
    except UsageError as exc:
        raise UsageError(f"bad host in {_shown(value)}: {exc.message}", hint=f"e.g. --host {DEFAULT_HOST}") from None
    try:
        number = int(port)
    except ValueError:
        raise UsageError(f"invalid port in host {_shown(value)}", hint=f"e.g. --host {DEFAULT_HOST}") from None
    if not 0 < number <= 65535:
        raise UsageError(f"port {number} in host {_shown(value)} is out of range (1-65535)", hint=f"e.g. --host {DEFAULT_HOST}")
    return HostAddress(scheme, host, number)


def _shown(value: str | None) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _split_host_port(text: str) -> tuple[str, str | None]:
    if text.startswith("["):
        if "]" not in text:
            raise UsageError(f"unclosed [ in host {_shown(text)}", hint="e.g. --host [::1]:11434")
        host, _, tail = text[1:].partition("]")
        return host, tail[1:] if tail.startswith(":") else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, None  # a bare host, or a bare IPv6 address


def check_port_free(address: HostAddress) -> None:
    """OllamaError when something already listens where the server would (named, when it is an Ollama)."""
    def occupant() -> str | None:
        running = server_version(address.url, timeout=1.0)
        return f"an Ollama server (version {running})" if running else None

    ensure_port_free(address.host, address.port, server="Ollama", error=OllamaError, occupant=occupant,
                     hint=f"stop it (ss -ltnp 'sport = :{address.port}') or pass --host {address.host}:{address.port + 1}")


def server_version(url: str, *, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """GET {url}/api/version -> the version string, or None when nothing (or not Ollama) answers."""
    try:
        with _NO_PROXY.open(f"{url.rstrip('/')}/api/version", timeout=timeout) as response:
            data = json.loads(response.read().decode("utf-8", "replace"))
    except (OSError, ValueError, urllib.error.URLError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return str(version) if version is not None else None


# --------------------------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class ServeSpec:
    argv: tuple[str, ...]
    env: Mapping[str, str]  # the child's complete environment
    address: HostAddress
    log_path: str

    def to_dict(self) -> dict:
        return {"argv": list(self.argv), "url": self.address.url, "log": self.log_path}


def default_log_path(address: HostAddress, environ: Mapping[str, str] | None = None) -> Path:
    """Where the server's log goes: one file per port, so `ipex status` can read what it reported."""
    return cache_dir(environ) / "ollama" / f"serve-{address.port}.log"


def build_serve_spec(
    build: OllamaBuild,
    ollama_env: OllamaEnv,
    *,
    base_env: Mapping[str, str],
    log_path: str | os.PathLike[str] | None = None,
) -> ServeSpec:
    env = ollama_env.child_env(base_env)
    address = parse_host(env.get("OLLAMA_HOST"))
    log = Path(log_path) if log_path is not None else default_log_path(address, base_env)
    return ServeSpec(argv=(build.path, "serve"), env=env, address=address, log_path=str(log))


def prepare_dirs_or_fail(spec: ServeSpec) -> None:
    try:
        prepare_dirs(spec)
    except OSError as exc:
        raise OllamaError(f"cannot write ollama's log {spec.log_path}: {exc.strerror or exc}",
                          hint="set IPEX_INTEGRATION_HOME to a writable folder") from None


def prepare_dirs(spec: ServeSpec) -> None:
    """Create the log folder and a SYCL kernel cache folder of ours (SYCL silently skips a missing one)."""
    Path(spec.log_path).parent.mkdir(parents=True, exist_ok=True)
    sycl = spec.env.get("SYCL_CACHE_DIR")
    if sycl:
        try:
            Path(sycl).mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # the user's folder: env.py already warned when it is not writable


# --------------------------------------------------------------------------------------------- the process


class ServerProcess(Child):
    """One `ollama serve` child under the supervisor, plus what is Ollama's own: readiness and start errors."""

    def __init__(self, spec: ServeSpec, *, sink: Callable[[str], None] | None = None,
                 popen: Callable[..., Any] = subprocess.Popen, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__("ollama serve", spec.argv, env=spec.env, log_path=spec.log_path, sink=sink,
                         error=OllamaError, popen=popen)
        self.spec = spec
        self._clock = clock
        self._sleep = sleep

    def start(self) -> ServerProcess:
        prepare_dirs_or_fail(self.spec)
        super().start()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_S, *,
                   cancelled: Callable[[], bool] = lambda: False) -> str | None:
        """Poll GET /api/version until it answers; return the version, or None as soon as `cancelled()`.
        OllamaStartError (the child stopped) when it exits first or does not answer in time."""
        url = self.spec.address.url
        return self.wait_until(
            lambda: server_version(url, timeout=min(PROBE_TIMEOUT_S, max(timeout, 0.1))), timeout=timeout,
            interval=READY_POLL_S, cancelled=cancelled,
            exited=lambda code: self._start_error(f"ollama serve exited with code {code} while starting",
                                                  returncode=code),
            silent=lambda: self._start_error(f"ollama serve did not answer GET {url}/api/version within {timeout:g} s "
                                             "(stopped it)"),
            clock=self._clock, sleep=self._sleep)

    def _start_error(self, message: str, *, returncode: int | None = None) -> OllamaStartError:
        tail = self.tail()
        last = tail[-1].strip() if tail else ""
        if last:
            message += f": {last[:200]}"
        hint = f"full log: {self.spec.log_path}"
        if tail:
            hint = f"ollama's last log lines (full log: {self.spec.log_path}):\n" + "\n".join(f"    {t}" for t in tail)
        return OllamaStartError(message, hint, log_tail=tail, log_path=self.spec.log_path, returncode=returncode)


# --------------------------------------------------------------------------------------------- foreground


def serve(
    spec: ServeSpec,
    *,
    timeout: float = READY_TIMEOUT_S,
    on_ready: Callable[[str], None] | None = None,
    sink: Callable[[str], None] | None = None,
    check_port: bool = True,
    popen: Callable[..., Any] = subprocess.Popen,
) -> int:
    """Run `ollama serve` in the foreground: start, wait until ready, then until it exits; its exit code."""
    if check_port:
        check_port_free(spec.address)
    server = ServerProcess(spec, sink=sink, popen=popen)
    relay = SignalRelay(server)
    with forward_signals(relay):
        try:
            server.start()
            relay.started()
            try:
                version = server.wait_ready(timeout)
            except OllamaStartError:
                if relay.received and server.poll() is not None:
                    return server.wait()  # stopped by the user while starting: its exit code, not an error
                raise
            if on_ready is not None:
                on_ready(version)
            return server.wait()
        except BaseException:
            server.stop()
            raise
