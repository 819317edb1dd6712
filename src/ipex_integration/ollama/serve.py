"""Start `ollama serve` with a plan's environment, wait until it answers, forward signals, reap it.

The child gets its own process group: a terminal's Ctrl-C reaches only us, and we forward it (and SIGTERM,
SIGHUP) once to the child's group. Its output (Ollama logs to stderr) goes through a pump thread that passes
each line on (to our stderr, or prefixed by `ipex up`), appends it to a log file and keeps the last lines for
error messages. Ready means GET /api/version answers: Ollama binds its port before discovering GPUs, which can
take seconds, and serves requests only after that.
"""

from __future__ import annotations

import collections
import errno
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Mapping

from ..errors import UsageError
from ..net import check_host
from ..paths import cache_dir
from . import OllamaError, OllamaStartError
from .binary import OllamaBuild
from .env import DEFAULT_HOST, OllamaEnv

READY_TIMEOUT_S = 60.0  # GPU discovery alone may take 30 s on a GPU waking from idle (Ollama's own bootstrap timeout)
READY_POLL_S = 0.1
PROBE_TIMEOUT_S = 2.0
STOP_GRACE_S = 10.0  # Ollama unloads its runners on SIGTERM; after this it is killed
TAIL_LINES = 40
HINT_TAIL_LINES = 8
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
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


def ensure_port_free(address: HostAddress) -> None:
    """OllamaError when something already listens where the server would (named, when it is an Ollama)."""
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is free for a server
        try:
            probe.bind((address.host, address.port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                running = server_version(address.url, timeout=1.0)
                what = f"an Ollama server (version {running}) already listens there" if running else "something else listens there"
                raise OllamaError(
                    f"port {address.port} on {address.host} is already in use: {what}",
                    hint=f"stop it (ss -ltnp 'sport = :{address.port}') or pass --host {address.host}:{address.port + 1}",
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise OllamaError(f"cannot listen on {address.host}: no such address on this machine",
                                  hint=f"use --host {DEFAULT_HOST} for local use only") from None
            # Anything else (a privileged port, ...) is Ollama's to report.


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


def exit_code(returncode: int) -> int:
    """A child killed by signal N exits as a shell reports it: 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


class LogPump:
    """Reads a child's output line by line: passes each on, appends it to a log file, keeps the tail."""

    def __init__(self, stream: IO[bytes], log_path: str, sink: Callable[[str], None] | None) -> None:
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._stream = stream
        self._sink = sink
        self._log = open(log_path, "w", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by run()
        self._thread = threading.Thread(target=self.run, name="ollama-log", daemon=True)
        self._thread.start()

    def run(self) -> None:
        try:
            for raw in iter(self._stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self.tail.append(line)
                self._log.write(line + "\n")
                self._log.flush()
                if self._sink is not None:
                    try:
                        self._sink(line)
                    except (OSError, ValueError):
                        self._sink = None  # our stderr went away; keep logging to the file
        finally:
            self._log.close()

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)


class ServerProcess:
    """One `ollama serve` child: start, readiness, signals, stop, exit code."""

    def __init__(self, spec: ServeSpec, *, sink: Callable[[str], None] | None = None,
                 popen: Callable[..., Any] = subprocess.Popen, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.spec = spec
        self.sink = sink
        self._popen = popen
        self._clock = clock
        self._sleep = sleep
        self.proc: Any = None
        self.pump: LogPump | None = None
        self.signals_sent: list[int] = []

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        try:
            prepare_dirs(self.spec)
            Path(self.spec.log_path).touch()
        except OSError as exc:
            raise OllamaError(f"cannot write ollama's log {self.spec.log_path}: {exc.strerror or exc}",
                              hint="set IPEX_INTEGRATION_HOME to a writable folder") from None
        try:
            self.proc = self._popen(list(self.spec.argv), env=dict(self.spec.env), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=0)
        except FileNotFoundError:
            raise OllamaError(f"cannot run {self.spec.argv[0]}: no such file") from None
        except PermissionError:
            raise OllamaError(f"cannot run {self.spec.argv[0]}: permission denied",
                              hint=f"chmod +x {self.spec.argv[0]}") from None
        self.pump = LogPump(self.proc.stdout, self.spec.log_path, self.sink)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S, *,
                   cancelled: Callable[[], bool] = lambda: False) -> str | None:
        """Poll GET /api/version until it answers; return the version, or None as soon as `cancelled()`.
        OllamaStartError (the child stopped) when it exits first or does not answer in time."""
        deadline = self._clock() + timeout
        while True:
            if cancelled():
                return None
            code = self.proc.poll()
            if code is not None:
                raise self._start_error(f"ollama serve exited with code {exit_code(code)} while starting",
                                        returncode=exit_code(code))
            version = server_version(self.spec.address.url, timeout=min(PROBE_TIMEOUT_S, max(timeout, 0.1)))
            if version is not None:
                return version
            if self._clock() >= deadline:
                self.stop()
                raise self._start_error(
                    f"ollama serve did not answer GET {self.spec.address.url}/api/version within {timeout:g} s "
                    "(stopped it)")
            self._sleep(READY_POLL_S)

    def send_signal(self, signum: int) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signals_sent.append(signum)
        try:
            os.killpg(self.proc.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass  # already gone; wait() reaps it

    def stop(self, grace: float = STOP_GRACE_S) -> int | None:
        """SIGTERM, then SIGKILL after `grace` seconds; the exit code (None if it was never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.send_signal(signal.SIGKILL)
        return self.wait()

    def wait(self) -> int:
        code = exit_code(self.proc.wait())
        if self.pump is not None:
            self.pump.join()
        return code

    def poll(self) -> int | None:
        code = self.proc.poll() if self.proc is not None else None
        return None if code is None else exit_code(code)

    def tail(self, n: int = HINT_TAIL_LINES) -> tuple[str, ...]:
        if self.pump is None:
            return ()
        if self.proc is not None and self.proc.poll() is not None:
            self.pump.join(2.0)  # let the pump read what the child wrote just before exiting
        lines = [line for line in self.pump.tail if line.strip()]
        return tuple(lines[-n:])

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
        ensure_port_free(spec.address)
    server = ServerProcess(spec, sink=sink, popen=popen)
    pending: list[int] = []
    forwarded: list[int] = []  # signals from the user (our own stop() sends some too)

    def forward(signum, _frame) -> None:
        forwarded.append(signum)
        if server.proc is None:
            pending.append(signum)  # before the child exists: delivered right after it starts
        else:
            server.send_signal(signum)

    previous = install_handlers(forward)
    try:
        server.start()
        for signum in pending:
            server.send_signal(signum)
        try:
            version = server.wait_ready(timeout)
        except OllamaStartError:
            if forwarded and server.poll() is not None:
                return server.wait()  # stopped by the user while starting: its exit code, not an error
            raise
        if on_ready is not None:
            on_ready(version)
        return server.wait()
    except BaseException:
        if server.proc is not None and server.poll() is None:
            server.stop()
        raise
    finally:
        restore_handlers(previous)


def install_handlers(handler: Callable[[int, Any], None]) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}  # handlers can only be set from the main thread; a library caller handles its own
    return {signum: signal.signal(signum, handler) for signum in FORWARDED_SIGNALS}


def restore_handlers(previous: Mapping[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
