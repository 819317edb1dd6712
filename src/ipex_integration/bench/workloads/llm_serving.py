"""LLM serving benchmark: many requests at a fixed concurrency through the OpenAI-compatible API, reported as
the field reports serving (vLLM's `bench serve`, llama-bench, llama-benchy).

For each mode (streamed, non-streamed) and each concurrency C, N requests go out through C workers, each
sending its next request as soon as its last one finished (closed loop, no arrival rate). Per level:
- TTFT (time to first token; streamed only), ITL (gaps between streamed tokens, all requests pooled), TPOT
  ((end - first token) / (tokens - 1) per request) and E2EL (end-to-end latency per request), each with
  median, p95 and p99;
- output and prompt tokens/s and requests/s: totals over the level's wall time.

Token counts are checked, not trusted: a streamed reply's chunks with text (one per token) must equal the
server's `usage.completion_tokens`; where the server sends no usage in streams (llama-cpp-python 0.3) and the
reply stopped for length, the chunks must equal max_tokens; a non-streamed reply that stopped for length must
report max_tokens in its usage. A mismatch fails the level (status FAILED with the reason), never a number.
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ...errors import UsageError
from ..model import BenchReport, BenchSpec, DeviceRun, Measurement, Stats, Status
from .llm import make_prompt, server_report

NAME = "llm_serving"
MODES = ("stream", "nostream")
DEFAULT_CONCURRENCY = (1, 4, 16)
PERCENTILES = (50, 95, 99)
MAX_CONCURRENCY = 256  # threads of ours, one per open request


class TokenCountMismatch(Exception):
    """The client's token count and the server's differ for one request."""


@dataclass(frozen=True)
class ServingConfig:
    model: str
    url: str
    concurrency: tuple[int, ...] = DEFAULT_CONCURRENCY
    modes: tuple[str, ...] = MODES
    requests: int = 16  # per (mode, concurrency) level
    warmup: int = 1
    prompt_tokens: int = 128
    max_tokens: int = 64
    seed: int = 0
    timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if not self.concurrency:
            raise UsageError("--concurrency needs at least one level, e.g. 1,4,16")
        for c in self.concurrency:
            if not 1 <= c <= MAX_CONCURRENCY:
                raise UsageError(f"--concurrency levels must be 1..{MAX_CONCURRENCY}, got {c}")
        for mode in self.modes:
            if mode not in MODES:
                raise UsageError(f"unknown mode {mode!r}; choose from: {', '.join(MODES)}")
        if not self.modes:
            raise UsageError("no mode chosen (stream, nostream)")
        for name, value, low in (("--requests", self.requests, 1), ("--warmup", self.warmup, 0),
                                 ("--prompt-tokens", self.prompt_tokens, 1), ("--max-tokens", self.max_tokens, 2)):
            if value < low:
                raise UsageError(f"{name} must be at least {low}, got {value}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(workload=NAME, api="openai", concurrency=list(self.concurrency), modes=list(self.modes))
        return data


# --------------------------------------------------------------------------------------------- one request


@dataclass(frozen=True)
class RequestResult:
    """One request, timed on our side (seconds from sending it); token counts from both sides."""

    stream: bool
    e2e_s: float
    ttft_s: float | None
    chunk_times: tuple[float, ...]
    client_tokens: int | None  # streamed chunks with text; None for a non-streamed reply
    usage_prompt: int | None
    usage_completion: int | None
    finish_reason: str | None
    checked_against: str  # "usage", "max_tokens", "unchecked"

    @property
    def output_tokens(self) -> int | None:
        return self.usage_completion if self.usage_completion is not None else self.client_tokens

    @property
    def itl_s(self) -> list[float]:
        t = self.chunk_times
        return [b - a for a, b in zip(t, t[1:])]

    @property
    def tpot_s(self) -> float | None:
        n = self.output_tokens
        if not self.stream or self.ttft_s is None or not n or n < 2:
            return None
        return (self.e2e_s - self.ttft_s) / (n - 1)


def check_tokens(completion: Any, *, stream: bool, max_tokens: int) -> RequestResult:
    """The RequestResult of one ollama.client.Completion; TokenCountMismatch when the counts disagree."""
    usage_c = completion.eval_count if completion.usage_sent else None
    usage_p = completion.prompt_eval_count if completion.usage_sent else None
    reason = completion.done_reason
    client = completion.chunks if stream else None
    checked = "unchecked"
    if stream and usage_c is not None:
        checked = "usage"
        if client != usage_c:
            raise TokenCountMismatch(f"the stream carried {client} tokens, the server's usage says {usage_c}")
    elif reason == "length":
        checked = "max_tokens"
        got = client if usage_c is None else usage_c
        if got is None:
            raise TokenCountMismatch("a non-streamed reply without usage: its tokens cannot be counted")
        if got != max_tokens:
            source = "the stream carried" if usage_c is None else "the server's usage says"
            raise TokenCountMismatch(f"the reply stopped for length at max_tokens {max_tokens}, but {source} {got}")
    elif usage_c is not None and usage_c > max_tokens:
        checked = "max_tokens"
        raise TokenCountMismatch(f"usage says {usage_c} completion tokens, more than max_tokens {max_tokens}")
    return RequestResult(stream=stream, e2e_s=completion.t_done, ttft_s=completion.t_first if stream else None,
                         chunk_times=tuple(completion.chunk_times) if stream else (), client_tokens=client,
                         usage_prompt=usage_p, usage_completion=usage_c, finish_reason=reason,
                         checked_against=checked)


# --------------------------------------------------------------------------------------------- a level


@dataclass
class LevelResult:
    mode: str
    concurrency: int
    duration_s: float
    results: list[RequestResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)


def run_level(client: Any, config: ServingConfig, *, mode: str, concurrency: int, first_trial: int,
              clock: Callable[[], float] = time.perf_counter) -> LevelResult:
    """`config.requests` requests through `concurrency` workers; errors and mismatches are collected."""
    stream = mode == "stream"
    prompts = [make_prompt(config.prompt_tokens, seed=config.seed, trial=first_trial + i)
               for i in range(config.requests)]
    lock = threading.Lock()
    level = LevelResult(mode, concurrency, 0.0)

    def one(prompt: str) -> None:
        try:
            completion = client.chat(config.model, [{"role": "user", "content": prompt}],
                                     max_tokens=config.max_tokens, seed=config.seed, temperature=0.0, stream=stream)
            result = check_tokens(completion, stream=stream, max_tokens=config.max_tokens)
        except TokenCountMismatch as exc:
            with lock:
                level.mismatches.append(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the level reports it; the other requests go on
            with lock:
                level.errors.append(f"{type(exc).__name__}: {exc}")
            return
        with lock:
            level.results.append(result)

    start = clock()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="llm-serving")
    try:
        futures = [pool.submit(one, p) for p in prompts]
        for f in futures:
            f.result()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    level.duration_s = clock() - start
    return level


# --------------------------------------------------------------------------------------------- arithmetic


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, as vLLM's bench reports)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def percentiles(values: Sequence[float]) -> dict[str, float]:
    return {f"p{q}_s": percentile(values, q) for q in PERCENTILES}


def level_measurements(level: LevelResult, spec: Callable[[str], BenchSpec]) -> list[Measurement]:
    ops = ("ttft", "itl", "tpot", "e2el", "output_throughput", "prompt_throughput", "request_throughput")
    if level.mismatches or level.errors:
        what = level.mismatches or level.errors
        kind = "token counts disagree" if level.mismatches else "requests failed"
        reason = f"{len(what)} of {len(level.results) + len(level.mismatches) + len(level.errors)} requests: " \
                 f"{kind}: {what[0]}"
        return [Measurement(spec(op), Status.FAILED, reason=reason,
                            extra={"mismatches": level.mismatches, "errors": level.errors}) for op in ops]
    rs = level.results
    checked = sorted({r.checked_against for r in rs})
    common = {"concurrency": level.concurrency, "mode": level.mode, "requests": len(rs),
              "token_check": ",".join(checked)}
    out: list[Measurement] = []
    stream = level.mode == "stream"
    not_streamed = "non-streamed: the first token arrives with the last"
    out.append(_latency(spec("ttft"), [r.ttft_s for r in rs if r.ttft_s is not None], common,
                        None if stream else not_streamed))
    out.append(_latency(spec("itl"), [gap for r in rs for gap in r.itl_s], common,
                        None if stream else not_streamed))
    out.append(_latency(spec("tpot"), [t for r in rs if (t := r.tpot_s) is not None], common,
                        None if stream else not_streamed))
    out.append(_latency(spec("e2el"), [r.e2e_s for r in rs], common, None))
    output = [r.output_tokens for r in rs]
    prompt = [r.usage_prompt for r in rs]
    out.append(_throughput(spec("output_throughput"), level.duration_s,
                           sum(output) if all(n is not None for n in output) else None, "tok/s", common,
                           "the server reported no completion tokens"))
    out.append(_throughput(spec("prompt_throughput"), level.duration_s,
                           sum(prompt) if all(n is not None for n in prompt) else None, "tok/s", common,
                           "the server sent no usage with prompt_tokens (streamed replies of llama-cpp-python "
                           "0.3 carry none)"))
    out.append(_throughput(spec("request_throughput"), level.duration_s, len(rs), "req/s", common, "no request"))
    return out


def _latency(spec: BenchSpec, samples: Sequence[float], common: dict, skipped: str | None) -> Measurement:
    if skipped is not None:
        return Measurement(spec, Status.SKIPPED, reason=skipped, extra=dict(common))
    if not samples:
        return Measurement(spec, Status.SKIPPED, reason="no samples (replies of one token?)", extra=dict(common))
    return Measurement(spec, Status.OK, samples_s=list(samples), stats=Stats.from_samples(samples),
                       extra={**common, **percentiles(samples), "unit": "s"})


def _throughput(spec: BenchSpec, duration_s: float, count: int | None, unit: str, common: dict,
                missing: str) -> Measurement:
    """A rate over the level: stored as seconds per item (items = 1), so the report's it/s column is the rate."""
    if not count or duration_s <= 0:
        return Measurement(spec, Status.SKIPPED, reason=missing, extra=dict(common))
    per_item = duration_s / count
    return Measurement(spec, Status.OK, samples_s=[per_item], stats=Stats.from_samples([per_item]), items=1.0,
                       extra={**common, "unit": unit, "rate": count / duration_s, "count": count,
                              "duration_s": duration_s})


# --------------------------------------------------------------------------------------------- the run


def run_serving_benchmark(
    config: ServingConfig,
    client: Any,
    *,
    command: Sequence[str] = (),
    system: Mapping[str, Any] | None = None,
    device: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> BenchReport:
    """Every (mode, concurrency) level, in the order given; one DeviceRun holding all their measurements.
    `device`: backend / device_name / device of the server where the caller knows them (our own server)."""
    say = progress or (lambda _text: None)
    model = client.resolve_model(config.model)
    for i in range(config.warmup):
        say(f"warm-up {i + 1}/{config.warmup}")
        client.chat(model, [{"role": "user", "content": make_prompt(config.prompt_tokens, seed=config.seed,
                                                                    trial=-1 - i)}],
                    max_tokens=config.max_tokens, seed=config.seed, temperature=0.0, stream=True)
    config_model = ServingConfig(**{**asdict(config), "model": model})
    measurements: list[Measurement] = []
    trial = 0
    for mode in config.modes:
        for c in config.concurrency:
            say(f"{mode}, concurrency {c}: {config.requests} requests")
            level = run_level(client, config_model, mode=mode, concurrency=c, first_trial=trial)
            trial += config.requests

            def spec(op: str, mode: str = mode, c: int = c) -> BenchSpec:
                return BenchSpec(workload=NAME, op=op, dtype="-",
                                 shape=f"{model} prompt {config.prompt_tokens} gen {config.max_tokens}",
                                 variant=f"{mode} c{c}")

            measurements += level_measurements(level, spec)
    where = dict(device or {})
    run = DeviceRun(backend=where.pop("backend", "unknown"),
                    device_name=where.pop("device_name", f"openai server at {client.url}"),
                    device={"url": client.url, "api": "openai", **where.pop("device", {})},
                    measurements=measurements)
    run.software = {"api": "openai", "model": model, **where}
    return server_report(config_model.to_dict(), command, system, run)


def summary_lines(report: BenchReport) -> list[str]:
    """One line per level: the numbers vLLM's bench serve prints first."""
    run = report.runs[0]
    by_level: dict[str, dict[str, Measurement]] = {}
    for m in run.measurements:
        by_level.setdefault(m.spec.variant, {})[m.spec.op] = m
    lines = [f"{run.device_name} ({run.backend}), {report.config.get('model')} via the OpenAI API"]
    for variant, ops in by_level.items():
        failed = [m for m in ops.values() if m.status is Status.FAILED]
        if failed:
            lines.append(f"  {variant:<14} FAILED: {failed[0].reason}")
            continue
        parts = []
        for op, label in (("ttft", "TTFT"), ("itl", "ITL"), ("e2el", "E2EL")):
            m = ops.get(op)
            if m is not None and m.stats is not None:
                parts.append(f"{label} p50 {m.extra['p50_s'] * 1e3:.1f} / p99 {m.extra['p99_s'] * 1e3:.1f} ms")
        for op, label in (("output_throughput", "out tok/s"), ("request_throughput", "req/s")):
            m = ops.get(op)
            if m is not None and m.stats is not None:
                parts.append(f"{label} {m.extra['rate']:.1f}")
        lines.append(f"  {variant:<14} " + "; ".join(parts))
    return lines


def _system_info() -> dict:
    from ..runner import system_info

    return system_info()
