"""A llama.cpp server (`llama-server`, or llama-cpp-python's `python -m llama_cpp.server`) under the
supervisor: the port checked first, its own process group, output to a log file, ready when it answers.

Ready means: GET /health answers 200 (llama-server answers 503 while it loads the model) or, for servers
without /health (llama-cpp-python loads the model before it binds), GET /v1/models answers 200.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ..paths import cache_dir
from ..proc import Child, ensure_port_free
from . import LlamaError

READY_TIMEOUT_S = 120.0  # a large model read from a slow disk; the tiny test model loads in well under 1 s
READY_POLL_S = 0.1
PROBE_TIMEOUT_S = 2.0
READY_PATHS = ("/health", "/v1/models")
# Loopback requests must not go through the user's http_proxy.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class LlamaServeSpec:
    """Everything needed to start one server: nothing is started by making it."""

    kind: str  # "llama-server" | "llama-cpp-python"
    argv: tuple[str, ...]
    env: Mapping[str, str]  # the child's complete environment
    host: str
    port: int
    log_path: str
    model: str
    reasons: tuple[str, ...] = ()
    set_env: Mapping[str, str] = field(default_factory=dict)  # what we set over the inherited environment

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "argv": list(self.argv), "url": self.url, "log": self.log_path,
                "model": self.model, "env": dict(sorted(self.set_env.items())), "reasons": list(self.reasons)}

    def to_text(self) -> str:
        lines = [f"engine:      {self.kind}", f"model:       {self.model}", f"url:         {self.url}"]
        lines += [f"set:         {k}={v}" for k, v in sorted(self.set_env.items())]
        lines += [f"because:     {r}" for r in self.reasons]
        lines += [f"log:         {self.log_path}", f"command:     {' '.join(self.argv)}"]
        return "\n".join(lines)


def default_log_path(port: int, environ: Mapping[str, str] | None = None) -> Path:
    return cache_dir(environ) / "llama" / f"server-{port}.log"


def probe_ready(url: str, *, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """The path that answered 200 (READY_PATHS in order), or None while nothing (or a loading server) does."""
    for path in READY_PATHS:
        try:
            with _NO_PROXY.open(url.rstrip("/") + path, timeout=timeout) as response:
                if response.status == 200:
                    response.read()
                    return path
        except urllib.error.HTTPError as exc:
            if exc.code == 503:
                return None  # llama-server: loading the model
            continue  # 404: no such endpoint on this server; try the next one
        except (OSError, ValueError):
            return None
    return None


def served_models(url: str, *, timeout: float = PROBE_TIMEOUT_S) -> list[str]:
    """The model ids GET /v1/models lists ([] when it does not answer)."""
    try:
        with _NO_PROXY.open(url.rstrip("/") + "/v1/models", timeout=timeout) as response:
            data = json.loads(response.read().decode("utf-8", "replace"))
    except (OSError, ValueError):
        return []
    return [str(m.get("id")) for m in data.get("data", []) if isinstance(m, dict)]


class LlamaServer(Child):
    """One llama.cpp server child; `wait_ready` polls until it answers."""

    def __init__(self, spec: LlamaServeSpec, *, sink: Callable[[str], None] | None = None,
                 popen: Callable[..., Any] = subprocess.Popen, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(spec.kind, spec.argv, env=spec.env, log_path=spec.log_path, sink=sink, error=LlamaError,
                         missing_hint="install llama.cpp (llama-server) or llama-cpp-python[server]", popen=popen)
        self.spec = spec
        self._clock = clock
        self._sleep = sleep

    def start(self, *, check_port: bool = True) -> LlamaServer:
        if check_port:
            ensure_port_free(self.spec.host, self.spec.port, server=self.spec.kind, error=LlamaError)
        super().start()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_S, *,
                   cancelled: Callable[[], bool] = lambda: False) -> str | None:
        """The path that answered, or None as soon as `cancelled()` (as ollama's ServerProcess, so `ipex up`
        can supervise either); LlamaError (the child stopped) when it exits first or is not ready in time."""
        return self.wait_until(
            lambda: probe_ready(self.spec.url), timeout=timeout, interval=READY_POLL_S, cancelled=cancelled,
            exited=lambda code: self._start_error(f"{self.spec.kind} exited with code {code} while starting"),
            silent=lambda: self._start_error(f"{self.spec.kind} did not answer GET {self.spec.url}/health or "
                                             f"/v1/models within {timeout:g} s (stopped it)"),
            clock=self._clock, sleep=self._sleep)

    def _start_error(self, message: str) -> LlamaError:
        tail = self.tail()
        if tail:
            message += f": {tail[-1].strip()[:200]}"
            hint = f"its last log lines (full log: {self.spec.log_path}):\n" + "\n".join(f"    {t}" for t in tail)
        else:
            hint = f"full log: {self.spec.log_path}"
        return LlamaError(message, hint=hint)
