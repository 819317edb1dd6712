"""The serving sweep (`ipex-benchmark llm --concurrency ...`): percentiles and token checks on known numbers,
then against the fake server's OpenAI API (concurrent, streamed and not), including a server that miscounts."""

from __future__ import annotations

import json

import pytest

from ipex_integration.bench.model import BenchSpec, Status
from ipex_integration.bench.report.writer import load_report
from ipex_integration.bench.workloads.llm_serving import (
    LevelResult, RequestResult, ServingConfig, TokenCountMismatch, check_tokens, level_measurements,
    percentile, run_serving_benchmark,
)
from ipex_integration.cli.common import run_cli
from ipex_integration.errors import UsageError
from ipex_integration.ollama.client import Completion, OpenAIClient

from .helpers import parse_llm_args as parse


def completion(**overrides) -> Completion:
    values = dict(text="a b c d", t_first=0.1, t_last=0.4, t_done=0.45, chunks=4, done_reason="length",
                  prompt_eval_count=10, eval_count=4, chunk_times=(0.1, 0.2, 0.3, 0.4), usage_sent=True)
    values.update(overrides)
    return Completion(**values)


def test_percentiles_interpolate_like_numpy():
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([3.0], 99) == 3.0


def test_streamed_chunks_must_equal_the_servers_usage():
    result = check_tokens(completion(), stream=True, max_tokens=4)
    assert result.checked_against == "usage" and result.output_tokens == 4
    assert result.itl_s == pytest.approx([0.1, 0.1, 0.1])
    assert result.tpot_s == pytest.approx((0.45 - 0.1) / 3)
    with pytest.raises(TokenCountMismatch, match="the stream carried 4 tokens, the server's usage says 5"):
        check_tokens(completion(eval_count=5), stream=True, max_tokens=8)


def test_without_usage_a_length_stop_is_checked_against_max_tokens():
    result = check_tokens(completion(usage_sent=False, eval_count=None), stream=True, max_tokens=4)
    assert result.checked_against == "max_tokens" and result.usage_completion is None and result.output_tokens == 4
    with pytest.raises(TokenCountMismatch, match="stopped for length at max_tokens 6, but the stream carried 4"):
        check_tokens(completion(usage_sent=False), stream=True, max_tokens=6)
    early = check_tokens(completion(usage_sent=False, done_reason="stop"), stream=True, max_tokens=6)
    assert early.checked_against == "unchecked"


def test_non_streamed_usage_must_match_a_length_stop():
    assert check_tokens(completion(), stream=False, max_tokens=4).checked_against == "max_tokens"
    with pytest.raises(TokenCountMismatch, match="usage says 4"):
        check_tokens(completion(), stream=False, max_tokens=5)
    with pytest.raises(TokenCountMismatch, match="without usage"):
        check_tokens(completion(usage_sent=False), stream=False, max_tokens=4)


def spec(op: str) -> BenchSpec:
    return BenchSpec("llm_serving", op, "-", "m prompt 10 gen 4", "stream c2")


def request(e2e: float, ttft: float) -> RequestResult:
    return RequestResult(stream=True, e2e_s=e2e, ttft_s=ttft, chunk_times=(ttft, ttft + 0.1), client_tokens=2,
                         usage_prompt=10, usage_completion=2, finish_reason="length", checked_against="usage")


def test_level_measurements_rates_over_the_levels_wall_time():
    level = LevelResult("stream", 2, duration_s=2.0, results=[request(1.0, 0.2), request(1.5, 0.4)])
    by_op = {m.spec.op: m for m in level_measurements(level, spec)}
    assert by_op["ttft"].extra["p50_s"] == pytest.approx(0.3) and by_op["ttft"].stats.n == 2
    assert by_op["e2el"].extra["p99_s"] == pytest.approx(1.0 + 0.5 * 0.99)
    assert by_op["itl"].samples_s == pytest.approx([0.1, 0.1])
    assert by_op["output_throughput"].extra["rate"] == pytest.approx(4 / 2.0)  # 2 x 2 tokens in 2 s
    assert by_op["output_throughput"].its == pytest.approx(2.0)  # the report's it/s column is the rate
    assert by_op["prompt_throughput"].extra["rate"] == pytest.approx(20 / 2.0)
    assert by_op["request_throughput"].extra["rate"] == pytest.approx(1.0)
    assert by_op["ttft"].extra["token_check"] == "usage"


def test_a_mismatch_fails_the_whole_level_with_the_reason():
    level = LevelResult("stream", 2, 1.0, results=[request(1.0, 0.2)], mismatches=["the stream carried 2 tokens, "
                                                                                  "the server's usage says 3"])
    ms = level_measurements(level, spec)
    assert {m.status for m in ms} == {Status.FAILED}
    assert all(m.stats is None and not m.samples_s for m in ms)
    assert "1 of 2 requests: token counts disagree: the stream carried 2" in ms[0].reason


def test_non_streamed_levels_skip_the_streaming_metrics():
    level = LevelResult("nostream", 1, 1.0, results=[RequestResult(False, 0.5, None, (), None, 10, 4, "length",
                                                                   "max_tokens")])
    by_op = {m.spec.op: m for m in level_measurements(level, spec)}
    assert by_op["ttft"].status is Status.SKIPPED and "non-streamed" in by_op["ttft"].reason
    assert by_op["e2el"].status is Status.OK and by_op["output_throughput"].extra["rate"] == pytest.approx(4.0)


@pytest.mark.parametrize("kwargs", [dict(concurrency=()), dict(concurrency=(0,)), dict(modes=("fast",)),
                                    dict(requests=0), dict(max_tokens=1)])
def test_bad_config_is_a_usage_error(kwargs):
    with pytest.raises(UsageError):
        ServingConfig(model="m", url="u", **kwargs)


def test_lists_are_checked_when_parsed(capsys):
    """--concurrency and --mode go through cli/types' shared validators (each item checked as it is parsed)."""
    args = parse(["llm", "--model", "m", "--concurrency", "1, 4,16", "--mode", "stream"])
    assert args.concurrency == (1, 4, 16) and args.mode == ("stream",)
    assert parse(["llm", "--model", "m"]).mode == ("stream", "nostream")  # the default, parsed too
    for flag, value, message in (("--concurrency", "1,x", "'1,x': expected a whole number, got 'x'"),
                                 ("--concurrency", "0", "must be from 1 to 256, got 0"),
                                 ("--concurrency", ",", "expected a comma-separated list, got ','"),
                                 ("--mode", "stream,fast", "'fast' is not one of: stream, nostream")):
        with pytest.raises(SystemExit) as exited:
            parse(["llm", "--model", "m", flag, value])
        assert exited.value.code == 2 and message in capsys.readouterr().err


def test_sweep_against_the_fake_server(fake_server):
    url = fake_server(FAKE_OLLAMA_TOKENS_PER_S="1000", FAKE_OLLAMA_PROMPT_TOKENS_PER_S="100000")
    config = ServingConfig(model="llama3.2", url=url, concurrency=(1, 4), requests=4, prompt_tokens=8, max_tokens=5)
    report = run_serving_benchmark(config, OpenAIClient(url, timeout=30), system={})
    by_key = {(m.spec.variant, m.spec.op): m for m in report.runs[0].measurements}
    assert {v for v, _ in by_key} == {"stream c1", "stream c4", "nostream c1", "nostream c4"}
    assert all(m.status is not Status.FAILED for m in by_key.values())
    assert by_key[("stream c4", "e2el")].stats.n == 4 and by_key[("stream c4", "ttft")].extra["token_check"] == "usage"
    assert by_key[("stream c1", "output_throughput")].extra["count"] == 4 * 5  # tokens, as usage reported them
    # 5 tokens at 1000 tok/s: the gaps between chunks are the fake's schedule, about 1 ms
    assert 0.0005 < by_key[("stream c1", "itl")].stats.median_s < 0.02
    assert by_key[("nostream c1", "ttft")].status is Status.SKIPPED
    assert report.config["model"] == "llama3.2:latest" and report.config["concurrency"] == [1, 4]


def test_cli_sweep_writes_the_shared_report(fake_server, tmp_path, capsys):
    url = fake_server(FAKE_OLLAMA_TOKENS_PER_S="1000")
    args = parse(["llm", "--model", "qwen2.5:0.5b", "--url", url, "--concurrency", "1,2", "--requests", "2",
                  "--mode", "stream", "--prompt-tokens", "4", "--max-tokens", "3", "--output", str(tmp_path)])
    assert run_cli(lambda: args.func(args)) == 0
    out = capsys.readouterr().out
    assert "stream c1" in out and "TTFT p50" in out and "req/s" in out
    report = load_report(tmp_path / "results.json")
    assert report.config["workload"] == "llm_serving" and report.config["modes"] == ["stream"]
    csv = (tmp_path / "results.csv").read_text()
    assert ",llm_serving,ttft," in csv and "stream c2" in csv


def test_cli_a_miscounting_server_exits_failed_with_no_numbers(fake_server, tmp_path, capsys):
    url = fake_server(FAKE_OLLAMA_TOKENS_PER_S="1000", FAKE_OLLAMA_USAGE_SKEW="1")
    args = parse(["llm", "--model", "llama3.2", "--url", url, "--concurrency", "2", "--requests", "2",
                  "--warmup", "0", "--prompt-tokens", "4", "--max-tokens", "3", "--output", str(tmp_path), "--json"])
    assert run_cli(lambda: args.func(args)) == 4
    data = json.loads(capsys.readouterr().out)
    ms = data["runs"][0]["measurements"]
    assert ms and all(m["status"] == "failed" and m["stats"] is None for m in ms)
    stream = [m for m in ms if m["spec"]["variant"] == "stream c2"]
    assert "the stream carried 3 tokens, the server's usage says 4" in stream[0]["reason"]
    nostream = [m for m in ms if m["spec"]["variant"] == "nostream c2"]
    assert "stopped for length at max_tokens 3, but the server's usage says 4" in nostream[0]["reason"]
