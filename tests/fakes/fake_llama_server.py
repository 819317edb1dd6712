#!/usr/bin/env python3
"""Test double of llama.cpp's `llama-server` (only for what our code touches). Standard library only.

- `--version`: prints `version: N (commit)` and `built with ...` to stderr, as llama.cpp does, preceded by a
  `load_backend: loaded X backend from DIR/libggml-x.so` line per name in FAKE_LLAMA_LOADED (comma-separated,
  e.g. "CUDA,Vulkan"), as builds with dynamically loaded backends do.
- otherwise: serves --host/--port (default 127.0.0.1:8080): GET /health answers 503 {"error": ...loading}
  for FAKE_LLAMA_LOADING_S seconds, then 200 {"status": "ok"}; GET /v1/models lists the --model path.
  SIGTERM/SIGINT stop it with exit 0. FAKE_LLAMA_ENV_FILE: one JSON line {"argv", "env", "pid"} per run.
  FAKE_LLAMA_CRASH=N: logs an error and exits N at start.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import sys
import threading
import time


def arg(argv: list[str], name: str, default: str) -> str:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else default


def main(argv: list[str]) -> int:
    record = os.environ.get("FAKE_LLAMA_ENV_FILE")
    if record:
        with open(record, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"argv": argv, "env": dict(os.environ), "pid": os.getpid()}) + "\n")
    here = os.path.dirname(os.path.abspath(__file__))
    if "--version" in argv:
        for name in filter(None, os.environ.get("FAKE_LLAMA_LOADED", "").split(",")):
            sys.stderr.write(f"load_backend: loaded {name} backend from {here}/libggml-{name.lower()}.so\n")
        sys.stderr.write(f"version: {os.environ.get('FAKE_LLAMA_BUILD', '6123')} (1a2b3c4d)\n"
                         "built with cc (Debian 14.2.0) 14.2.0 for x86_64-linux-gnu\n")
        return 0
    if os.environ.get("FAKE_LLAMA_CRASH"):
        sys.stderr.write("error: failed to load model (FAKE_LLAMA_CRASH)\n")
        return int(os.environ["FAKE_LLAMA_CRASH"])
    host, port, model = arg(argv, "--host", "127.0.0.1"), int(arg(argv, "--port", "8080")), arg(argv, "--model", "")
    ready_at = time.monotonic() + float(os.environ.get("FAKE_LLAMA_LOADING_S", "0"))

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/health":
                loading = time.monotonic() < ready_at
                self._json(503 if loading else 200, {"error": {"code": 503, "message": "Loading model"}}
                           if loading else {"status": "ok"})
            elif self.path == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": model, "object": "model"}]})
            else:
                self._json(404, {"error": {"code": 404, "message": "File Not Found"}})

        def _json(self, status: int, data: object) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    sys.stderr.write(f"main: server is listening on http://{host}:{port}\n")
    sys.stderr.flush()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
