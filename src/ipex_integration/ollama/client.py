"""A small client for a running Ollama (through the official `ollama` package) and for OpenAI-compatible
servers (/v1/models, streamed /v1/chat/completions), timing each streamed chunk on our side.

Everything is returned as plain dataclasses; errors are OllamaError with the fix (a server that does not
answer, a model it does not have: the message lists the models it has).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from . import OllamaError
from .serve import parse_host, server_version

DEFAULT_TIMEOUT_S = 600.0  # a cold load of a large model on a slow disk takes minutes
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def normalize_url(url: str | None) -> str:
    """"127.0.0.1:11434", "http://host", "" -> a base URL, the way OLLAMA_HOST is read."""
    return parse_host(url).url


def _is_loopback(url: str) -> bool:
    return parse_host(url).connect_host in _LOOPBACK


@dataclass(frozen=True)
class ModelInfo:
    name: str
    size: int | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    family: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RunningModel:
    name: str
    size: int
    size_vram: int
    context_length: int | None = None

    @property
    def gpu_share(self) -> float:
        """Fraction of the model in GPU memory (Ollama's `ollama ps` shows it as "100% GPU", "48%/52% CPU/GPU")."""
        return self.size_vram / self.size if self.size else 0.0

    @property
    def processor(self) -> str:
        share = self.gpu_share
        if share >= 0.995:
            return "100% GPU"
        if share <= 0.005:
            return "100% CPU"
        return f"{100 - share * 100:.0f}%/{share * 100:.0f}% CPU/GPU"


@dataclass(frozen=True)
class Completion:
    """One streamed request, timed on our side (seconds from sending it) and counted on the server's.

    Ollama's counters are in nanoseconds (None where the server sent none; an OpenAI server sends only
    token counts). `chunks` counts streamed pieces that carried text."""

    text: str
    t_first: float | None  # first chunk with text
    t_last: float | None  # last chunk with text
    t_done: float  # the end of the stream
    chunks: int
    done_reason: str | None = None
    total_duration_ns: int | None = None
    load_duration_ns: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration_ns: int | None = None
    eval_count: int | None = None
    eval_duration_ns: int | None = None
    chunk_times: tuple[float, ...] = ()  # each text chunk's arrival (OpenAI client), for inter-token latency
    usage_sent: bool | None = None  # OpenAI client: whether the server sent `usage` (None: not asked)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Timing:
    clock: Callable[[], float]
    start: float = 0.0
    first: float | None = None
    last: float | None = None
    chunks: int = 0
    pieces: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def begin(self) -> None:
        self.start = self.clock()

    def piece(self, text: str | None) -> None:
        if not text:
            return
        now = self.clock() - self.start
        self.first = now if self.first is None else self.first
        self.last = now
        self.chunks += 1
        self.pieces.append(text)
        self.times.append(now)

    def elapsed(self) -> float:
        return self.clock() - self.start


class OllamaClient:
    """The Ollama API at `url` (default 127.0.0.1:11434)."""

    api = "ollama"

    def __init__(self, url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        import ollama

        self.url = normalize_url(url)
        self.clock = clock
        self._ollama = ollama
        # Loopback requests must not go through the user's http_proxy.
        self._client = ollama.Client(host=self.url, timeout=timeout, trust_env=not _is_loopback(self.url))

    # -- server --
    def version(self) -> str:
        version = server_version(self.url)
        if version is None:
            raise self._unreachable()
        return version

    def models(self) -> list[ModelInfo]:
        listing = self._call(self._client.list)
        return [ModelInfo(m.model or "", m.size, m.details.parameter_size if m.details else None,
                          m.details.quantization_level if m.details else None,
                          m.details.family if m.details else None) for m in listing.models]

    def running(self) -> list[RunningModel]:
        listing = self._call(self._client.ps)
        return [RunningModel(m.model or m.name or "", int(m.size or 0), int(m.size_vram or 0),
                             getattr(m, "context_length", None)) for m in listing.models]

    def resolve_model(self, name: str) -> str:
        """The server's name for `name` ("llama3.2" -> "llama3.2:latest"); OllamaError listing its models."""
        return match_model(name, [m.name for m in self.models()], self.url)

    # -- models in memory --
    def load(self, model: str, keep_alive: str | float | None = None) -> None:
        """The documented load request: an empty prompt."""
        self._call(lambda: self._client.generate(model=model, keep_alive=keep_alive), model=model)

    def unload(self, model: str) -> None:
        """The documented unload request: an empty prompt with keep_alive 0."""
        self._call(lambda: self._client.generate(model=model, keep_alive=0), model=model)

    # -- generation --
    def generate(self, model: str, prompt: str, *, options: Mapping[str, Any] | None = None,
                 keep_alive: str | float | None = None) -> Completion:
        timing = _Timing(self.clock)

        def request() -> Iterable[Any]:
            return self._client.generate(model=model, prompt=prompt, stream=True, options=dict(options or {}),
                                         keep_alive=keep_alive)

        return self._stream(request, timing, model, lambda part: (part.response or part.thinking))

    def chat(self, model: str, messages: Sequence[Mapping[str, str]], *, options: Mapping[str, Any] | None = None,
             keep_alive: str | float | None = None) -> Completion:
        timing = _Timing(self.clock)

        def request() -> Iterable[Any]:
            return self._client.chat(model=model, messages=[dict(m) for m in messages], stream=True,
                                     options=dict(options or {}), keep_alive=keep_alive)

        return self._stream(request, timing, model,
                            lambda part: (part.message.content or part.message.thinking) if part.message else None)

    def _stream(self, request: Callable[[], Iterable[Any]], timing: _Timing, model: str,
                text_of: Callable[[Any], str | None]) -> Completion:
        final: Any = None
        timing.begin()
        try:
            for part in request():
                timing.piece(text_of(part))
                if part.done:
                    final = part
        except Exception as exc:  # noqa: BLE001 - mapped to our errors below
            raise self._mapped(exc, model) from None
        t_done = timing.elapsed()
        if final is None:
            raise OllamaError(f"the stream from {self.url} ended without a final (done) message")
        return Completion(
            text="".join(timing.pieces), t_first=timing.first, t_last=timing.last, t_done=t_done,
            chunks=timing.chunks, done_reason=final.done_reason, total_duration_ns=final.total_duration,
            load_duration_ns=final.load_duration, prompt_eval_count=final.prompt_eval_count,
            prompt_eval_duration_ns=final.prompt_eval_duration, eval_count=final.eval_count,
            eval_duration_ns=final.eval_duration,
        )

    # -- errors --
    def _call(self, fn: Callable[[], Any], *, model: str | None = None) -> Any:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001
            raise self._mapped(exc, model) from None

    def _mapped(self, exc: Exception, model: str | None) -> Exception:
        import httpx

        if isinstance(exc, OllamaError):
            return exc
        if isinstance(exc, self._ollama.ResponseError):
            if exc.status_code == 404 and model is not None:
                return self._missing_model(model)
            return OllamaError(f"{self.url} answered {exc.status_code}: {exc.error}")
        if isinstance(exc, (ConnectionError, httpx.ConnectError)):
            return self._unreachable()
        if isinstance(exc, httpx.TimeoutException):
            return OllamaError(f"{self.url} did not answer in time ({type(exc).__name__})",
                               hint="a cold model load can take minutes: raise --timeout")
        if isinstance(exc, httpx.HTTPError):
            return OllamaError(f"talking to {self.url} failed: {type(exc).__name__}: {exc}")
        return exc

    def _missing_model(self, model: str) -> OllamaError:
        try:
            names = [m.name for m in self.models()]
        except OllamaError:
            names = []
        return missing_model_error(model, names, self.url)

    def _unreachable(self) -> OllamaError:
        return OllamaError(f"no Ollama server answers at {self.url}",
                           hint="start one with `ollama-ipex serve`, or pass --url of a running server")


class OpenAIClient:
    """Any OpenAI-compatible server (Ollama's /v1, llama.cpp's server, vLLM, ...): models and streamed chat."""

    api = "openai"

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT_S, api_key: str | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        base = normalize_url(url)
        self.url = base
        self.base = base if base.rstrip("/").endswith("/v1") else base.rstrip("/") + "/v1"
        self.timeout = timeout
        self.clock = clock
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self._opener = _NO_PROXY if _is_loopback(base) else urllib.request.build_opener()

    def models(self) -> list[ModelInfo]:
        data = json.loads(self._open("GET", "/models", None, timeout=30).read().decode("utf-8", "replace"))
        return [ModelInfo(str(m.get("id"))) for m in data.get("data", []) if isinstance(m, dict)]

    def resolve_model(self, name: str) -> str:
        return match_model(name, [m.name for m in self.models()], self.url)

    def chat(self, model: str, messages: Sequence[Mapping[str, str]], *, max_tokens: int | None = None,
             seed: int | None = None, temperature: float | None = None, stream: bool = True) -> Completion:
        """One chat completion, streamed (asking for `usage` in the last chunk) or not."""
        body: dict[str, Any] = {"model": model, "messages": [dict(m) for m in messages], "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        for key, value in (("max_tokens", max_tokens), ("seed", seed), ("temperature", temperature)):
            if value is not None:
                body[key] = value
        timing = _Timing(self.clock)
        usage: dict = {}
        reason = None
        timing.begin()
        response = self._open("POST", "/chat/completions", body, timeout=self.timeout, model=model)
        try:
            if not stream:
                data = json.loads(response.read().decode("utf-8", "replace"))
                usage = data.get("usage") or {}
                for choice in data.get("choices") or []:
                    message = choice.get("message") or {}
                    timing.piece(message.get("content") or message.get("reasoning_content"))
                    reason = choice.get("finish_reason") or reason
            for data in (_sse_data(response) if stream else ()):
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    timing.piece(delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning"))
                    reason = choice.get("finish_reason") or reason
        except (OSError, ValueError) as exc:
            raise OllamaError(f"reading the {'stream' if stream else 'answer'} from {self.base} failed: {exc}") from None
        finally:
            response.close()
        return Completion(text="".join(timing.pieces), t_first=timing.first, t_last=timing.last,
                          t_done=timing.elapsed(), chunks=timing.chunks, done_reason=reason,
                          prompt_eval_count=usage.get("prompt_tokens"), eval_count=usage.get("completion_tokens"),
                          chunk_times=tuple(timing.times), usage_sent=bool(usage))

    def _open(self, method: str, path: str, body: dict | None, *, timeout: float, model: str | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=self.headers)
        try:
            return self._opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            detail = _error_text(exc)
            if exc.code == 404 and model is not None:
                try:
                    names = [m.name for m in self.models()]
                except OllamaError:
                    names = []
                raise missing_model_error(model, names, self.url) from None
            raise OllamaError(f"{self.base}{path} answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OllamaError(f"no server answers at {self.base} ({reason})",
                              hint="start the server, or pass --url of a running one") from None


def _sse_data(response) -> Iterator[str]:
    """The `data:` payloads of a server-sent event stream, as they arrive."""
    for raw in response:
        line = raw.decode("utf-8", "replace").strip()
        if line.startswith("data:"):
            yield line[5:].strip()


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(exc.read().decode("utf-8", "replace"))
    except (ValueError, OSError):
        return exc.reason if isinstance(exc.reason, str) else str(exc.code)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error or data)


def match_model(name: str, available: Sequence[str], url: str) -> str:
    """`name` as the server spells it (a missing tag means :latest, as in Ollama), or the missing-model error."""
    wanted = [name] if ":" in name else [name, f"{name}:latest"]
    for candidate in wanted:
        if candidate in available:
            return candidate
    raise missing_model_error(name, available, url)


def missing_model_error(name: str, available: Sequence[str], url: str) -> OllamaError:
    have = ", ".join(available) if available else "none"
    return OllamaError(f"model {name!r} is not on the server at {url}; it has: {have}",
                       hint=f"pull it first: ollama-ipex pull {name}")
