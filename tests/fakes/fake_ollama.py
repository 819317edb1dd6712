#!/usr/bin/env python3
"""Test double of the `ollama` binary (Ollama cannot be installed on our machines). Standard library only.

It stands in for the real program where ipex-integration touches it, with the real interface:
- `ollama --version` asks the server at OLLAMA_HOST for its version, as cmd.versionHandler does, and prints
  "ollama version is X", plus "Warning: client version is Y" when they differ or no server answers
  ("Warning: could not connect to a running Ollama instance").
- `ollama serve` binds OLLAMA_HOST (parsed like envconfig.Host; default 127.0.0.1:11434), logs in slog's text
  format to stderr (`Listening on ...`, `inference compute` per device), and only then serves, as the real
  server does (it binds first and discovers GPUs before answering). It answers GET /api/version, /api/tags,
  /api/ps, POST /api/show, /api/generate and /api/chat (streamed NDJSON with chunked encoding, the final
  object carrying total_duration, load_duration, prompt_eval_count, prompt_eval_duration, eval_count,
  eval_duration in ns, done, done_reason), the empty-prompt load / keep_alive=0 unload requests, and the
  OpenAI-compatible GET /v1/models and POST /v1/chat/completions (SSE, `stream_options.include_usage`).
  Unknown models get 404 {"error": "model \"x\" not found, try pulling it first"} like the real server.
  SIGINT/SIGTERM stop it gracefully with exit code 0, as the real one. A taken port: "Error: listen tcp
  HOST:PORT: bind: address already in use", exit 1.
- `ollama list|ps|run MODEL [PROMPT]`: the client commands, against OLLAMA_HOST.

Which device it "runs" on follows the real selection variables: GPUs are declared per library with
FAKE_OLLAMA_CUDA_GPUS / FAKE_OLLAMA_VULKAN_GPUS / FAKE_OLLAMA_SYCL_GPUS (comma-separated names, in that
library's enumeration order) and filtered by CUDA_VISIBLE_DEVICES, OLLAMA_VULKAN + GGML_VK_VISIBLE_DEVICES
(Vulkan is opt-in before 0.30, as in 0.12.x, and on unless OLLAMA_VULKAN is false from 0.30; an NVIDIA card that
CUDA_VISIBLE_DEVICES hides is still taken through Vulkan, as in ollama/ollama#17609 and #17780), ONEAPI_DEVICE_SELECTOR + OLLAMA_NUM_GPU (SYCL, for an "ipexllm" version).
Models go to the first visible device; /api/ps then reports size_vram = size, on the CPU size_vram = 0.

Knobs (environment):
  FAKE_OLLAMA_VERSION          version it reports (default 0.12.6; "0.5.4-ipexllm-20250331" for ipex-llm)
  FAKE_OLLAMA_MODELS           comma-separated installed models (default llama3.2:latest,qwen2.5:0.5b)
  FAKE_OLLAMA_TOKENS_PER_S     generation rate (default 50); tokens leave on a fixed schedule, one per chunk
  FAKE_OLLAMA_PROMPT_TOKENS_PER_S  prompt-evaluation rate (default 2000); a prompt token is a word
  FAKE_OLLAMA_LOAD_S           seconds to load a model that is not loaded (default 0.2)
  FAKE_OLLAMA_DEFAULT_PREDICT  tokens generated when num_predict is not given (default 16)
  FAKE_OLLAMA_DEVICE_MEMORY_GIB  total memory each GPU reports at start (default 16; available = total - 0.5)
  FAKE_OLLAMA_HOST_MEMORY_GIB    total memory the CPU "device" reports where no GPU is visible (default 31.3)
  FAKE_OLLAMA_USAGE_SKEW=N     the OpenAI API's `usage` reports N completion tokens more than were sent
  FAKE_OLLAMA_ENV_FILE         append {"argv", "env", "pid"} as one JSON line per invocation
  FAKE_OLLAMA_CRASH=N          `serve` logs an error and exits N at start
  FAKE_OLLAMA_NEVER_READY=1    `serve` binds but never answers
  FAKE_OLLAMA_READY_DELAY=S    `serve` binds, "discovers GPUs" for S seconds, then answers
  FAKE_OLLAMA_SIGNAL_EXIT=N    exit code after SIGINT/SIGTERM (default 0, as the real server)
  FAKE_OLLAMA_DIE_AFTER=S      `serve` exits on its own after S seconds of serving (code FAKE_OLLAMA_DIE_CODE, 1)
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import http.server
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

VERSION = os.environ.get("FAKE_OLLAMA_VERSION", "0.12.6")
WORDS = ("the", "sky", "is", "blue", "because", "of", "rayleigh", "scattering", "light", "waves")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def _now_rfc3339() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log(level: str, msg: str, source: str = "routes.go:1475", **fields: object) -> None:
    """One slog text line, as Ollama writes them to stderr."""
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    parts = [f"time={now}", f"level={level}", f"source={source}", f"msg={json.dumps(msg)}"]
    for key, value in fields.items():
        text = str(value)
        parts.append(f"{key}={json.dumps(text) if (' ' in text or not text) else text}")
    sys.stderr.write(" ".join(parts) + "\n")
    sys.stderr.flush()


def record_invocation() -> None:
    path = os.environ.get("FAKE_OLLAMA_ENV_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"argv": sys.argv[1:], "env": dict(os.environ), "pid": os.getpid()}) + "\n")


# --------------------------------------------------------------------------------------------- host


def parse_host(value: str | None) -> tuple[str, str, int]:
    """(scheme, host, port) as Ollama's envconfig.Host reads OLLAMA_HOST."""
    raw = (value or "").strip().strip("\"'").strip()
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = "http", raw
    default_port = {"http": 80, "https": 443}.get(scheme, 11434) if sep else 11434
    rest = rest.rstrip("/")
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
    elif rest.count(":") == 1:
        host, _, port = rest.partition(":")
    else:
        host, port = rest, ""
    return scheme, host or "127.0.0.1", int(port) if port else default_port


def client_url() -> str:
    scheme, host, port = parse_host(os.environ.get("OLLAMA_HOST"))
    host = "127.0.0.1" if host == "0.0.0.0" else host
    return f"{scheme}://{host}:{port}"


# --------------------------------------------------------------------------------------------- devices


def _names(var: str) -> list[str]:
    return [n.strip() for n in os.environ.get(var, "").split(",") if n.strip()]


def _filter(names: list[str], selector: str | None) -> list[tuple[int, str]]:
    """CUDA_VISIBLE_DEVICES / GGML_VK_VISIBLE_DEVICES semantics: unset = all; ids up to the first invalid one."""
    if selector is None:
        return list(enumerate(names))
    out = []
    for token in (t.strip() for t in selector.split(",")):
        if not token.isdigit():
            break
        index = int(token)
        if index < len(names):
            out.append((index, names[index]))
    return out


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("-")[0].split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def _vulkan_enabled(value: str | None) -> bool:
    """OLLAMA_VULKAN: opt-in in 0.12.11-0.29; from 0.30 on by default, off only when set false."""
    if value is None or not value.strip():
        return _version_tuple(VERSION) >= (0, 30)
    return value.strip().lower() in ("1", "true", "yes", "on")


def visible_devices() -> list[dict]:
    env = os.environ
    devices = [{"library": "CUDA", "id": i, "description": n}
               for i, n in _filter(_names("FAKE_OLLAMA_CUDA_GPUS"), env.get("CUDA_VISIBLE_DEVICES"))]
    if _vulkan_enabled(env.get("OLLAMA_VULKAN")):
        seen = {d["description"] for d in devices}  # Ollama drops a GPU it already has through CUDA
        devices += [{"library": "Vulkan", "id": i, "description": n}
                    for i, n in _filter(_names("FAKE_OLLAMA_VULKAN_GPUS"), env.get("GGML_VK_VISIBLE_DEVICES"))
                    if n not in seen]
    if "ipexllm" in VERSION and env.get("OLLAMA_NUM_GPU", "999") != "0":
        selector = env.get("ONEAPI_DEVICE_SELECTOR")
        names = _names("FAKE_OLLAMA_SYCL_GPUS")
        if selector is None:
            chosen = list(enumerate(names))
        else:
            chosen = [(int(p.split(":")[1]), names[int(p.split(":")[1])]) for p in selector.split(";")
                      if p.startswith("level_zero:") and p.split(":")[1].isdigit() and int(p.split(":")[1]) < len(names)]
        devices += [{"library": "SYCL", "id": i, "description": n} for i, n in chosen]
    return devices


# --------------------------------------------------------------------------------------------- models


def full_name(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


def installed_models() -> list[str]:
    names = os.environ.get("FAKE_OLLAMA_MODELS", "llama3.2:latest,qwen2.5:0.5b")
    return [full_name(n.strip()) for n in names.split(",") if n.strip()]


def model_size(name: str) -> int:
    return 1_000_000_000 + int(hashlib.sha256(name.encode()).hexdigest()[:6], 16)


def model_details() -> dict:
    return {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
            "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}


def not_found(name: str) -> str:
    return f"model {json.dumps(name)} not found, try pulling it first"


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loaded: dict[str, float] = {}  # name -> expiry (epoch seconds)
        self.devices = visible_devices()

    @property
    def device(self) -> dict | None:
        return self.devices[0] if self.devices else None


def keep_alive_seconds(value: object) -> float:
    if value is None:
        return 300.0
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix):
            try:
                return float(text[: -len(suffix)]) * units[suffix]
            except ValueError:
                return 300.0
    try:
        return float(text)
    except ValueError:
        return 300.0


# --------------------------------------------------------------------------------------------- HTTP


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-ollama"
    state: State

    def log_message(self, *_args) -> None:  # the real server logs requests through gin; tests need no noise
        pass

    # -- plumbing --
    def _json(self, status: int, data: object) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            return {"__invalid__": True}
        return data if isinstance(data, dict) else {"__invalid__": True}

    # -- routes --
    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/":
            body = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path == "/api/version":
            self._json(200, {"version": VERSION})
        elif path == "/api/tags":
            self._json(200, {"models": [self._tag(n) for n in installed_models()]})
        elif path == "/api/ps":
            self._json(200, {"models": self._running()})
        elif path == "/v1/models":
            self._json(200, {"object": "list", "data": [
                {"id": n, "object": "model", "created": 1700000000, "owned_by": "library"} for n in installed_models()]})
        else:
            self._json(404, {"error": "404 page not found"})

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        body = self._body()
        if body.get("__invalid__"):
            self._json(400, {"error": "invalid character in request body"})
            return
        if path == "/api/show":
            name = full_name(str(body.get("model") or body.get("name") or ""))
            if name not in installed_models():
                self._json(404, {"error": not_found(body.get("model") or body.get("name") or "")})
                return
            self._json(200, {"modelfile": f"FROM {name}\n", "parameters": "", "template": "{{ .Prompt }}",
                             "details": model_details(), "capabilities": ["completion"],
                             "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
                             "modified_at": "2025-05-04T17:37:44.706015396-07:00"})
        elif path in ("/api/generate", "/api/chat"):
            self._generate(body, chat=path == "/api/chat")
        elif path == "/v1/chat/completions":
            self._openai_chat(body)
        else:
            self._json(404, {"error": "404 page not found"})

    def _tag(self, name: str) -> dict:
        return {"name": name, "model": name, "modified_at": "2025-05-04T17:37:44.706015396-07:00",
                "size": model_size(name), "digest": hashlib.sha256(name.encode()).hexdigest(),
                "details": model_details()}

    def _running(self) -> list[dict]:
        now = time.time()
        out = []
        with self.state.lock:
            for name, expiry in list(self.state.loaded.items()):
                if expiry < now:
                    del self.state.loaded[name]
                    continue
                size = model_size(name)
                out.append({"name": name, "model": name, "size": size,
                            "digest": hashlib.sha256(name.encode()).hexdigest(), "details": model_details(),
                            "expires_at": _dt.datetime.fromtimestamp(expiry, _dt.timezone.utc).isoformat(),
                            "size_vram": size if self.state.device else 0, "context_length": 4096})
        return out

    # -- generation --
    def _load(self, name: str) -> int:
        """Load the model if needed; the load_duration in ns."""
        start = time.perf_counter()
        with self.state.lock:
            loaded = name in self.state.loaded and self.state.loaded[name] >= time.time()
        if not loaded:
            time.sleep(_env_float("FAKE_OLLAMA_LOAD_S", 0.2))
            device = self.state.device
            where = f"{device['library']}{device['id']} ({device['description']})" if device else "CPU"
            log("INFO", f"loaded {name} on {where}", source="server.go:1090",
                **({"offloaded": "29/29 layers to GPU"} if device else {"offloaded": "0/29 layers to GPU"}))
        return int((time.perf_counter() - start) * 1e9)

    def _keep(self, name: str, keep_alive: object) -> None:
        with self.state.lock:
            seconds = keep_alive_seconds(keep_alive)
            if seconds == 0:
                self.state.loaded.pop(name, None)
            else:
                self.state.loaded[name] = time.time() + (seconds if seconds > 0 else 10 ** 9)

    def _generate(self, body: dict, *, chat: bool) -> None:
        raw_name = str(body.get("model") or "")
        name = full_name(raw_name)
        if not raw_name:
            self._json(400, {"error": "model is required"})
            return
        if name not in installed_models():
            self._json(404, {"error": not_found(raw_name)})
            return
        if chat:
            messages = body.get("messages") or []
            prompt = " ".join(str(m.get("content") or "") for m in messages if isinstance(m, dict))
            empty = not messages
        else:
            prompt = str(body.get("prompt") or "")
            empty = prompt == ""
        keep_alive = body.get("keep_alive")
        base = {"model": name, "created_at": _now_rfc3339()}
        if empty:  # the documented load / unload requests
            if keep_alive_seconds(keep_alive) == 0:
                self._keep(name, 0)
                reason = "unload"
            else:
                self._load(name)
                self._keep(name, keep_alive)
                reason = "load"
            done = {**base, "done": True, "done_reason": reason}
            done.update({"message": {"role": "assistant", "content": ""}} if chat else {"response": ""})
            self._json(200, done)
            return
        options = body.get("options") or {}
        predict = int(options.get("num_predict") or -1)
        if predict < 0:
            predict = int(_env_float("FAKE_OLLAMA_DEFAULT_PREDICT", 16))
        stream = body.get("stream", True) is not False
        kind = ("chat" if chat else "generate") if stream else None
        result = self._run(name, prompt, predict, keep_alive, ndjson=kind)
        if not stream:
            text = "".join(result["tokens"])
            payload = {**base, "done": True, "done_reason": result["reason"], **result["metrics"]}
            payload.update({"message": {"role": "assistant", "content": text}} if chat else
                           {"response": text, "context": list(range(result["metrics"]["prompt_eval_count"]))})
            self._json(200, payload)

    def _run(self, name: str, prompt: str, predict: int, keep_alive: object, *, ndjson: str | None = None,
             emit=None) -> dict:
        """Load, evaluate the prompt, generate `predict` tokens on schedule. `ndjson` "generate" / "chat"
        streams that endpoint's chunks to this request; `emit(token)` is called per token otherwise."""
        chat = ndjson == "chat"
        streaming = ndjson is not None
        t0 = time.perf_counter()
        load_ns = self._load(name)
        prompt_tokens = max(1, len(prompt.split()))
        prompt_start = time.perf_counter()
        time.sleep(prompt_tokens / _env_float("FAKE_OLLAMA_PROMPT_TOKENS_PER_S", 2000.0))
        prompt_ns = int((time.perf_counter() - prompt_start) * 1e9)
        rate = _env_float("FAKE_OLLAMA_TOKENS_PER_S", 50.0)
        if streaming:
            self._start_chunked("application/x-ndjson")
        tokens: list[str] = []
        eval_start = time.perf_counter()
        for k in range(1, predict + 1):
            delay = eval_start + k / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            token = WORDS[(k - 1) % len(WORDS)] + " "
            tokens.append(token)
            if emit is not None:
                emit(token)
            elif streaming:
                part = {"model": name, "created_at": _now_rfc3339(), "done": False}
                part.update({"message": {"role": "assistant", "content": token}} if chat else {"response": token})
                self._chunk((json.dumps(part) + "\n").encode())
        eval_ns = int((time.perf_counter() - eval_start) * 1e9)
        self._keep(name, keep_alive)
        metrics = {"total_duration": int((time.perf_counter() - t0) * 1e9), "load_duration": load_ns,
                   "prompt_eval_count": prompt_tokens, "prompt_eval_duration": prompt_ns,
                   "eval_count": len(tokens), "eval_duration": eval_ns}
        result = {"tokens": tokens, "reason": "length", "metrics": metrics}
        if streaming:
            final = {"model": name, "created_at": _now_rfc3339(), "done": True, "done_reason": "length", **metrics}
            final.update({"message": {"role": "assistant", "content": ""}} if chat else
                         {"response": "", "context": list(range(prompt_tokens + len(tokens)))})
            self._chunk((json.dumps(final) + "\n").encode())
            self._end_chunked()
        return result

    def _openai_chat(self, body: dict) -> None:
        raw_name = str(body.get("model") or "")
        name = full_name(raw_name)
        if name not in installed_models():
            self._json(404, {"error": {"message": not_found(raw_name), "type": "not_found_error",
                                       "param": None, "code": None}})
            return
        messages = body.get("messages") or []
        prompt = " ".join(str(m.get("content") or "") for m in messages if isinstance(m, dict))
        predict = int(body.get("max_completion_tokens") or body.get("max_tokens") or
                      _env_float("FAKE_OLLAMA_DEFAULT_PREDICT", 16))
        stream = bool(body.get("stream"))
        usage_wanted = bool((body.get("stream_options") or {}).get("include_usage"))
        ident = f"chatcmpl-{int(time.time() * 1000) % 1000}"
        created = int(time.time())
        head = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": name,
                "system_fingerprint": "fp_ollama"}
        if stream:
            self._start_chunked("text/event-stream")

            def emit(token: str) -> None:
                chunk = {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": token},
                                              "finish_reason": None}]}
                self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
        else:
            def emit(token: str) -> None:
                pass
        result = self._run(name, prompt, predict, body.get("keep_alive"), emit=emit)
        m = result["metrics"]
        skew = int(_env_float("FAKE_OLLAMA_USAGE_SKEW", 0))  # a server that miscounts its own tokens
        usage = {"prompt_tokens": m["prompt_eval_count"], "completion_tokens": m["eval_count"] + skew,
                 "total_tokens": m["prompt_eval_count"] + m["eval_count"] + skew}
        if not stream:
            self._json(200, {"id": ident, "object": "chat.completion", "created": created, "model": name,
                             "system_fingerprint": "fp_ollama",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(result["tokens"])},
                                          "finish_reason": result["reason"]}], "usage": usage})
            return
        finish = {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                       "finish_reason": result["reason"]}]}
        self._chunk(f"data: {json.dumps(finish)}\n\n".encode())
        if usage_wanted:
            self._chunk(f"data: {json.dumps({**head, 'choices': [], 'usage': usage})}\n\n".encode())
        self._chunk(b"data: [DONE]\n\n")
        self._end_chunked()


# --------------------------------------------------------------------------------------------- commands


def cmd_version() -> int:
    server = None
    try:
        with _NO_PROXY.open(client_url() + "/api/version", timeout=5) as response:
            server = json.loads(response.read()).get("version")
    except (OSError, ValueError, urllib.error.URLError):
        print("Warning: could not connect to a running Ollama instance")
    if server:
        print(f"ollama version is {server}")
    if server != VERSION:
        print(f"Warning: client version is {VERSION}")
    return 0


def cmd_serve() -> int:
    scheme, host, port = parse_host(os.environ.get("OLLAMA_HOST"))
    log("INFO", "server config", source="routes.go:1331",
        env="map[" + " ".join(f"{k}:{os.environ.get(k, '')}" for k in (
            "CUDA_VISIBLE_DEVICES", "GGML_VK_VISIBLE_DEVICES", "OLLAMA_HOST", "OLLAMA_VULKAN")) + "]")
    crash = os.environ.get("FAKE_OLLAMA_CRASH")
    if crash:
        sys.stderr.write("Error: unable to initialize the GPU runtime (FAKE_OLLAMA_CRASH)\n")
        return int(crash)
    state = State()
    handler = type("BoundHandler", (Handler,), {"state": state})
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("Server", (http.server.ThreadingHTTPServer,), {"address_family": family})
    try:
        server = server_class((host, port), handler, bind_and_activate=False)
        server.daemon_threads = True
        server.server_bind()
        server.server_activate()
    except OSError as exc:
        what = "bind: address already in use" if exc.errno == 98 else exc.strerror
        sys.stderr.write(f"Error: listen tcp {host}:{port}: {what}\n")
        return 1
    log("INFO", f"Listening on {host}:{port} (version {VERSION})")

    stop = threading.Event()
    got: list[int] = []

    def on_signal(signum, _frame) -> None:
        got.append(signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    if os.environ.get("FAKE_OLLAMA_NEVER_READY") == "1":
        log("INFO", "discovering available GPUs...", source="runner.go:67")
        while not stop.wait(0.2):
            pass
        return _shutdown(server, got, serving=False)
    log("INFO", "discovering available GPUs...", source="runner.go:67")
    delay = _env_float("FAKE_OLLAMA_READY_DELAY", 0.0)
    if stop.wait(delay) if delay > 0 else False:
        return _shutdown(server, got, serving=False)
    gpu_gib = _env_float("FAKE_OLLAMA_DEVICE_MEMORY_GIB", 16.0)
    host_gib = _env_float("FAKE_OLLAMA_HOST_MEMORY_GIB", 31.3)
    for device in state.devices:
        log("INFO", "inference compute", source="types.go:42", id=device["id"], library=device["library"],
            name=f"{device['library']}{device['id']}", description=device["description"], type="discrete",
            total=f"{gpu_gib:.1f} GiB", available=f"{max(gpu_gib - 0.5, 0.0):.1f} GiB")
    if not state.devices:
        log("INFO", "inference compute", source="types.go:60", id="cpu", library="cpu", compute="",
            name="cpu", description="cpu", total=f"{host_gib:.1f} GiB", available=f"{host_gib * 0.97:.1f} GiB")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    die_after = os.environ.get("FAKE_OLLAMA_DIE_AFTER")
    deadline = time.monotonic() + float(die_after) if die_after else None
    while not stop.wait(0.1):
        if deadline is not None and time.monotonic() >= deadline:
            log("ERROR", "fatal: runner process terminated (FAKE_OLLAMA_DIE_AFTER)")
            server.shutdown()
            server.server_close()
            return int(os.environ.get("FAKE_OLLAMA_DIE_CODE", "1"))
    return _shutdown(server, got, serving=True)


def _shutdown(server, got: list[int], *, serving: bool) -> int:
    name = signal.Signals(got[0]).name if got else "none"
    log("INFO", "shutting down", signal=name)
    if serving:
        server.shutdown()
    server.server_close()
    return int(os.environ.get("FAKE_OLLAMA_SIGNAL_EXIT", "0"))


def _client_get(path: str) -> dict:
    with _NO_PROXY.open(client_url() + path, timeout=10) as response:
        return json.loads(response.read())


def cmd_client(args: list[str]) -> int:
    command = args[0]
    try:
        if command == "list":
            print(f"{'NAME':<24}{'ID':<16}{'SIZE':<10}MODIFIED")
            for m in _client_get("/api/tags")["models"]:
                print(f"{m['name']:<24}{m['digest'][:12]:<16}{m['size'] / 1e9:.1f} GB  2 days ago")
            return 0
        if command == "ps":
            print(f"{'NAME':<24}{'ID':<16}{'SIZE':<10}PROCESSOR")
            for m in _client_get("/api/ps")["models"]:
                where = "100% GPU" if m["size_vram"] else "100% CPU"
                print(f"{m['name']:<24}{m['digest'][:12]:<16}{m['size'] / 1e9:.1f} GB  {where}")
            return 0
        if command == "run":
            if len(args) < 2:
                print('Error: accepts at least 1 arg(s), received 0', file=sys.stderr)
                return 1
            prompt = " ".join(args[2:]) or "hello"
            request = urllib.request.Request(client_url() + "/api/generate", method="POST",
                                             data=json.dumps({"model": args[1], "prompt": prompt}).encode(),
                                             headers={"Content-Type": "application/json"})
            try:
                with _NO_PROXY.open(request, timeout=60) as response:
                    for line in response:
                        part = json.loads(line)
                        sys.stdout.write(part.get("response", ""))
                        sys.stdout.flush()
            except urllib.error.HTTPError as exc:
                print(f"Error: {json.loads(exc.read()).get('error')}", file=sys.stderr)
                return 1
            print()
            return 0
    except (urllib.error.URLError, ConnectionError):
        print("Error: could not connect to ollama server, run 'ollama serve' to start it", file=sys.stderr)
        return 1
    print(f'Error: unknown command "{command}" for "ollama"', file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    record_invocation()
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("Large language model runner\n\nUsage:\n  ollama [flags]\n  ollama [command]")
        return 0
    if argv[0] in ("-v", "--version"):
        return cmd_version()
    if argv[0] == "serve":
        return cmd_serve()
    return cmd_client(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
