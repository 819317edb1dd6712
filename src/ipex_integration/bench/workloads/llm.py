"""LLM serving benchmark: measure a running Ollama (or any OpenAI-compatible server) through its HTTP API.

Unlike the torch workloads this one does not run in a backend environment: the server does the work, and we
time it from outside. Per request we take
- our wall clock: time to first token (first streamed chunk with text), the interval from the first to the
  last token (generation rate = (tokens - 1) / interval: the first token's latency belongs to the prompt), and
  the whole request;
- the server's own counters (Ollama: prompt_eval_count / prompt_eval_duration, eval_count / eval_duration,
  load_duration, all in ns; an OpenAI server reports token counts only).
Cold loads are measured separately: unload the model (keep_alive 0), then one short request, whose
load_duration is the load time. Each trial's prompt starts with a different word so that Ollama's prompt
cache, which reuses a matching prefix, cannot skip the prompt evaluation.

Rates are stored as seconds per token (the `samples_s` of a Measurement, with items = 1), so the report's
median, IQR and it/s columns read as per-token latency and tokens/s, in the same JSON/CSV/HTML format as the
other workloads.
"""

from __future__ import annotations

import datetime as _dt
import random
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ...errors import UsageError
from ...ollama.logs import backend_of, inference_devices
from ..model import BenchReport, BenchSpec, DeviceRun, Measurement, Stats, Status

NAME = "llm"
APIS = ("ollama", "openai")
ENDPOINTS = ("generate", "chat")
LOAD_PROMPT = "Hi"
_VOCAB = ("time", "river", "light", "stone", "number", "garden", "window", "market", "signal", "forest",
          "engine", "paper", "silver", "orbit", "harbor", "pattern", "winter", "bridge", "cloud", "letter")


@dataclass(frozen=True)
class LlmConfig:
    model: str
    url: str
    api: str = "ollama"
    endpoint: str = "generate"  # Ollama only: /api/generate or /api/chat
    trials: int = 5
    warmup: int = 1
    load_trials: int = 1  # cold loads (Ollama only); 0 skips them, and the unloading they need
    prompt_tokens: int = 512  # prompt length in words (about one token each); the server's count is reported
    max_tokens: int = 128
    seed: int = 0
    timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if self.api not in APIS:
            raise UsageError(f"unknown API {self.api!r}; choose one of: {', '.join(APIS)}")
        if self.endpoint not in ENDPOINTS:
            raise UsageError(f"unknown endpoint {self.endpoint!r}; choose one of: {', '.join(ENDPOINTS)}")
        for name, value, low in (("--trials", self.trials, 1), ("--warmup", self.warmup, 0),
                                 ("--load-trials", self.load_trials, 0), ("--prompt-tokens", self.prompt_tokens, 1),
                                 ("--max-tokens", self.max_tokens, 2)):
            if value < low:
                raise UsageError(f"{name} must be at least {low}, got {value}")

    def to_dict(self) -> dict:
        return {"workload": NAME, **asdict(self)}


# --------------------------------------------------------------------------------------------- arithmetic


@dataclass(frozen=True)
class Trial:
    """One timed request, with the rates derived from it. Times in seconds; None where not measurable."""

    ttft_s: float | None
    total_s: float
    prompt_tokens: int | None
    eval_tokens: int | None
    load_s: float | None  # server counter
    prompt_eval_s: float | None  # server counter
    eval_s: float | None  # server counter
    stream_s: float | None  # our clock, first to last token

    @property
    def prompt_tps_counters(self) -> float | None:
        return _rate(self.prompt_tokens, self.prompt_eval_s)

    @property
    def eval_tps_counters(self) -> float | None:
        return _rate(self.eval_tokens, self.eval_s)

    @property
    def eval_tps_wall(self) -> float | None:
        """(tokens - 1) / (last token - first token): one streamed chunk per token, the first one's latency
        excluded (it is part of the time to first token)."""
        if self.eval_tokens is None or self.eval_tokens < 2:
            return None
        return _rate(self.eval_tokens - 1, self.stream_s)

    @property
    def prompt_tps_wall(self) -> float | None:
        """Prompt tokens / time to first token: an upper bound on prompt time, so a lower bound on the rate
        (it includes the request, the first token's decode and any load)."""
        return _rate(self.prompt_tokens, self.ttft_s)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(prompt_tps_counters=self.prompt_tps_counters, eval_tps_counters=self.eval_tps_counters,
                    eval_tps_wall=self.eval_tps_wall, prompt_tps_wall=self.prompt_tps_wall)
        return data


def _rate(count: int | None, seconds: float | None) -> float | None:
    if not count or not seconds or seconds <= 0:
        return None
    return count / seconds


def _ns(value: int | None) -> float | None:
    return value / 1e9 if value else None


def trial_from(completion: Any) -> Trial:
    """A Trial from an ollama.client.Completion."""
    tokens = completion.eval_count if completion.eval_count is not None else (completion.chunks or None)
    stream = None
    if completion.t_first is not None and completion.t_last is not None:
        stream = completion.t_last - completion.t_first
    return Trial(
        ttft_s=completion.t_first,
        total_s=completion.t_done,
        prompt_tokens=completion.prompt_eval_count,
        eval_tokens=tokens,
        load_s=_ns(completion.load_duration_ns),
        prompt_eval_s=_ns(completion.prompt_eval_duration_ns),
        eval_s=_ns(completion.eval_duration_ns),
        stream_s=stream,
    )


def _median(values: Sequence[float | None]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


def make_prompt(words: int, *, seed: int, trial: int) -> str:
    """`words` common English words; the first one differs per trial (see the module docstring)."""
    rng = random.Random(seed * 1_000_003 + trial)
    head = f"Request-{trial}-{rng.randrange(10**6)}:"  # one word
    body = [rng.choice(_VOCAB) for _ in range(max(words - 2, 0))]
    return " ".join([head, *body, "Continue."])


# --------------------------------------------------------------------------------------------- running


Progress = Callable[[str], None]


def run_llm_benchmark(
    config: LlmConfig,
    client: Any,
    *,
    command: Sequence[str] = (),
    system: Mapping[str, Any] | None = None,
    server_log: str | Path | None = None,
    progress: Progress | None = None,
) -> BenchReport:
    """Measure and return a BenchReport with one DeviceRun (the server's device, as far as it tells)."""
    say = progress or (lambda _text: None)
    model = client.resolve_model(config.model)  # model missing: OllamaError listing the server's models
    spec = _SpecMaker(config, model, _model_quantization(client, model))
    loads: list[Trial] = []
    if config.api == "ollama" and config.load_trials:
        for i in range(config.load_trials):
            say(f"cold load {i + 1}/{config.load_trials}: unloading {model}")
            client.unload(model)
            loads.append(trial_from(_request(client, config, model, LOAD_PROMPT, max_tokens=2)))
    for i in range(config.warmup):
        say(f"warm-up {i + 1}/{config.warmup}")
        _request(client, config, model, make_prompt(config.prompt_tokens, seed=config.seed, trial=-1 - i))
    trials: list[Trial] = []
    for i in range(config.trials):
        say(f"trial {i + 1}/{config.trials}")
        trials.append(trial_from(_request(client, config, model,
                                          make_prompt(config.prompt_tokens, seed=config.seed, trial=i))))
    run = DeviceRun(**_server_device(client, model, server_log), measurements=measurements(spec, loads, trials))
    run.software = {"api": config.api, "model": model, **_software(client)}
    return server_report(config.to_dict(), command, system, run)


def server_report(config: dict, command: Sequence[str], system: Mapping[str, Any] | None, run: DeviceRun) -> BenchReport:
    """The results file of one measured server (both LLM workloads): this host, now, complete."""
    return BenchReport(
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        command=list(command),
        config=config,
        system=dict(system) if system is not None else _system_info(),
        runs=[run],
        complete=True,
    )


def _request(client: Any, config: LlmConfig, model: str, prompt: str, *, max_tokens: int | None = None) -> Any:
    n = max_tokens or config.max_tokens
    if config.api == "openai":
        return client.chat(model, [{"role": "user", "content": prompt}], max_tokens=n, seed=config.seed,
                           temperature=0.0)
    options = {"num_predict": n, "temperature": 0, "seed": config.seed}
    if config.endpoint == "chat":
        return client.chat(model, [{"role": "user", "content": prompt}], options=options)
    return client.generate(model, prompt, options=options)


@dataclass
class _SpecMaker:
    config: LlmConfig
    model: str
    quantization: str | None

    def __call__(self, op: str) -> BenchSpec:
        c = self.config
        variant = c.api if c.api == "openai" else f"ollama-{c.endpoint}"
        return BenchSpec(workload=NAME, op=op, dtype=self.quantization or "-",
                         shape=f"{self.model} prompt {c.prompt_tokens} gen {c.max_tokens}", variant=variant)


def measurements(spec: Callable[[str], BenchSpec], loads: Sequence[Trial], trials: Sequence[Trial]) -> list[Measurement]:
    """The report's measurements: load, ttft, prompt_eval, eval, request. Per-token rates as s/token."""
    out = [_load_measurement(spec("load"), loads)]
    out.append(_timed(spec("ttft"), [t.ttft_s for t in trials], "no streamed token arrived",
                      extra={"prompt_tokens": _median([t.prompt_tokens for t in trials]), "source": "wall clock"}))
    out.append(_per_token(spec("prompt_eval"), trials, counters=lambda t: t.prompt_tps_counters,
                          wall=lambda t: t.prompt_tps_wall, tokens=lambda t: t.prompt_tokens))
    out.append(_per_token(spec("eval"), trials, counters=lambda t: t.eval_tps_counters,
                          wall=lambda t: t.eval_tps_wall, tokens=lambda t: t.eval_tokens))
    out.append(_timed(spec("request"), [t.total_s for t in trials], "no request finished",
                      extra={"eval_tokens": _median([t.eval_tokens for t in trials]), "source": "wall clock"}))
    return out


def _timed(spec: BenchSpec, samples: Sequence[float | None], missing: str, extra: dict) -> Measurement:
    clean = [s for s in samples if s is not None]
    if not clean:
        return Measurement(spec, Status.SKIPPED, reason=missing)
    return Measurement(spec, Status.OK, samples_s=clean, stats=Stats.from_samples(clean), extra=extra)


def _load_measurement(spec: BenchSpec, loads: Sequence[Trial]) -> Measurement:
    if not loads:
        return Measurement(spec, Status.SKIPPED, reason="no cold loads measured (--load-trials 0, or an OpenAI API)")
    samples = [t.load_s for t in loads if t.load_s is not None]
    if not samples:
        return Measurement(spec, Status.SKIPPED, reason="the server reported no load_duration")
    return Measurement(spec, Status.OK, samples_s=samples, stats=Stats.from_samples(samples),
                       extra={"source": "load_duration", "wall_s": [t.total_s for t in loads]})


def _per_token(spec: BenchSpec, trials: Sequence[Trial], *, counters, wall, tokens) -> Measurement:
    """Seconds per token from the server's counters where it gives them, else from our clock."""
    by_counters = [counters(t) for t in trials]
    by_wall = [wall(t) for t in trials]
    source = "server counters" if all(r is not None for r in by_counters) else "wall clock"
    rates = [r for r in (by_counters if source == "server counters" else by_wall) if r]
    extra = {
        "unit": "tok/s",
        "source": source,
        "tokens": _median([tokens(t) for t in trials]),
        "tokens_per_s_counters": _median(by_counters),
        "tokens_per_s_wall": _median(by_wall),
        "per_trial_tokens_per_s_counters": by_counters,
        "per_trial_tokens_per_s_wall": by_wall,
    }
    if not rates:
        return Measurement(spec, Status.SKIPPED, reason="neither the server nor the stream gave a token rate",
                           extra=extra)
    samples = [1.0 / r for r in rates]
    return Measurement(spec, Status.OK, samples_s=samples, stats=Stats.from_samples(samples), items=1.0, extra=extra)


# --------------------------------------------------------------------------------------------- the server


def _model_quantization(client: Any, model: str) -> str | None:
    try:
        for info in client.models():
            if info.name == model:
                return info.quantization
    except Exception:  # noqa: BLE001 - a label only
        pass
    return None


def _software(client: Any) -> dict:
    try:
        return {"server_version": client.version()} if hasattr(client, "version") else {}
    except Exception:  # noqa: BLE001
        return {}


def _server_device(client: Any, model: str, server_log: str | Path | None) -> dict:
    """What the server says about where the model runs: /api/ps (Ollama) and the `inference compute` lines of
    the log `ollama-ipex serve` wrote, when the server is ours."""
    device: dict[str, Any] = {"url": client.url, "api": client.api}
    backend, name = "unknown", f"{client.api} server at {client.url}"
    if server_log is not None:
        found = inference_devices(server_log)
        if found:
            library, description = found[0]
            device["library"] = library
            backend = backend_of(library, description)
            name = description if backend != "cpu" else "CPU"
    running = getattr(client, "running", None)
    if running is not None:
        try:
            loaded = [m for m in running() if m.name == model]
        except Exception:  # noqa: BLE001
            loaded = []
        if loaded:
            device.update(processor=loaded[0].processor, size=loaded[0].size, size_vram=loaded[0].size_vram)
            if loaded[0].size_vram == 0:
                backend, name = "cpu", "CPU"
    return {"backend": backend, "device_name": name, "device": device}


def _system_info() -> dict:
    from ..runner import system_info

    return system_info()


