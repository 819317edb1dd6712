"""`ipex-benchmark llm`: the arithmetic (exact, on synthetic timings), then against the fake server, whose
token rates are configured, and the report files in the shared format."""

from __future__ import annotations

import json

import pytest

from ipex_integration.bench.model import BenchSpec, Status
from ipex_integration.bench.report.writer import load_report
from ipex_integration.bench.workloads.llm import LlmConfig, Trial, make_prompt, measurements, run_llm_benchmark, trial_from
from ipex_integration.cli.common import run_cli
from ipex_integration.errors import UsageError
from ipex_integration.ollama.client import Completion, OllamaClient, OpenAIClient

from .helpers import parse_llm_args as parse

SYSTEM = {"cpu": "test"}


def completion(**overrides) -> Completion:
    """A request whose numbers are known: 500 prompt tokens in 0.25 s, 101 tokens in 2.02 s, first token at
    0.40 s and the last one 2.0 s later (100 intervals)."""
    values = dict(text="x", t_first=0.40, t_last=2.40, t_done=2.45, chunks=101, done_reason="length",
                  total_duration_ns=2_700_000_000, load_duration_ns=5_000_000, prompt_eval_count=500,
                  prompt_eval_duration_ns=250_000_000, eval_count=101, eval_duration_ns=2_020_000_000)
    values.update(overrides)
    return Completion(**values)


def test_rates_from_counters_and_from_the_clock():
    trial = trial_from(completion())
    assert trial.prompt_tps_counters == pytest.approx(2000.0)  # 500 / 0.25 s
    assert trial.eval_tps_counters == pytest.approx(50.0)  # 101 / 2.02 s
    assert trial.eval_tps_wall == pytest.approx(50.0)  # (101 - 1) / (2.40 - 0.40)
    assert trial.prompt_tps_wall == pytest.approx(1250.0)  # 500 / 0.40 s (includes the first decode)
    assert trial.load_s == pytest.approx(0.005) and trial.ttft_s == 0.40 and trial.total_s == 2.45


def test_missing_counters_give_none_not_zero_division():
    trial = trial_from(completion(prompt_eval_duration_ns=None, eval_duration_ns=0, load_duration_ns=None,
                                  eval_count=None, chunks=1, t_last=0.40))
    assert trial.prompt_tps_counters is None and trial.eval_tps_counters is None and trial.load_s is None
    assert trial.eval_tokens == 1 and trial.eval_tps_wall is None


def spec(op: str) -> BenchSpec:
    return BenchSpec("llm", op, "Q4_K_M", "m prompt 512 gen 128", "ollama-generate")


def test_measurements_store_seconds_per_token_and_both_rates():
    trials = [trial_from(completion(eval_duration_ns=d)) for d in (2_020_000_000, 1_010_000_000, 4_040_000_000)]
    loads = [Trial(ttft_s=1.0, total_s=1.2, prompt_tokens=2, eval_tokens=2, load_s=0.9, prompt_eval_s=0.01,
                   eval_s=0.02, stream_s=0.01)]
    by_op = {m.spec.op: m for m in measurements(spec, loads, trials)}
    assert list(by_op) == ["load", "ttft", "prompt_eval", "eval", "request"]
    ev = by_op["eval"]
    assert ev.status is Status.OK and ev.items == 1.0
    assert sorted(ev.samples_s) == pytest.approx([1 / 100, 1 / 50, 1 / 25])
    assert ev.its == pytest.approx(50.0)  # median rate, as tokens/s in the report's rate column
    assert ev.extra["tokens_per_s_counters"] == pytest.approx(50.0)
    assert ev.extra["tokens_per_s_wall"] == pytest.approx(50.0)
    assert ev.extra["source"] == "server counters" and ev.extra["unit"] == "tok/s"
    assert by_op["load"].stats.median_s == 0.9 and by_op["load"].extra["source"] == "load_duration"
    assert by_op["ttft"].stats.median_s == pytest.approx(0.40)
    assert by_op["request"].stats.n == 3


def test_no_cold_loads_is_a_skip_with_a_reason():
    m = measurements(spec, [], [trial_from(completion())])[0]
    assert m.status is Status.SKIPPED and "no cold loads" in m.reason


def test_prompts_differ_per_trial_at_the_start():
    a, b = make_prompt(100, seed=0, trial=0), make_prompt(100, seed=0, trial=1)
    assert len(a.split()) == 100 and a.split()[0] != b.split()[0]
    assert make_prompt(100, seed=0, trial=0) == a  # reproducible


@pytest.mark.parametrize(("field", "value"), [("trials", 0), ("max_tokens", 1), ("api", "grpc"), ("endpoint", "x")])
def test_bad_config_is_a_usage_error(field, value):
    with pytest.raises(UsageError):
        LlmConfig(model="m", url="u", **{field: value})


# --- against the fake server --------------------------------------------------------------------------------


def test_rates_match_the_fakes_configured_rates(fake_server):
    url = fake_server(FAKE_OLLAMA_TOKENS_PER_S="100", FAKE_OLLAMA_PROMPT_TOKENS_PER_S="2000", FAKE_OLLAMA_LOAD_S="0.3")
    config = LlmConfig(model="llama3.2", url=url, trials=3, warmup=1, load_trials=1, prompt_tokens=200, max_tokens=25)
    report = run_llm_benchmark(config, OllamaClient(url), system=SYSTEM)
    run = report.runs[0]
    m = {x.spec.op: x for x in run.measurements}
    assert all(x.status is Status.OK for x in m.values())
    assert m["eval"].spec.key == "llm/eval/Q4_K_M/llama3.2:latest prompt 200 gen 25/ollama-generate"
    assert m["eval"].extra["tokens_per_s_counters"] == pytest.approx(100, rel=0.1)
    assert m["eval"].extra["tokens_per_s_wall"] == pytest.approx(100, rel=0.25)
    assert m["eval"].its == pytest.approx(100, rel=0.1)
    assert m["eval"].extra["tokens"] == 25
    assert m["prompt_eval"].extra["tokens"] == 200  # a word is a token for the fake
    assert m["prompt_eval"].extra["tokens_per_s_counters"] == pytest.approx(2000, rel=0.15)
    assert m["load"].stats.median_s == pytest.approx(0.3, abs=0.1)
    # first token = prompt (0.1 s) + one decode step (0.01 s) + the request itself; no load (warm)
    assert 0.10 <= m["ttft"].stats.median_s < 0.5
    assert run.backend == "cpu" and run.device["processor"] == "100% CPU"
    assert run.software["server_version"] == "0.12.6"


def test_openai_api_has_no_counters_and_no_load(fake_server):
    url = fake_server(FAKE_OLLAMA_TOKENS_PER_S="100")
    config = LlmConfig(model="llama3.2", url=url, api="openai", trials=2, warmup=0, prompt_tokens=20, max_tokens=10)
    report = run_llm_benchmark(config, OpenAIClient(url), system=SYSTEM)
    m = {x.spec.op: x for x in report.runs[0].measurements}
    assert m["load"].status is Status.SKIPPED
    assert m["eval"].extra["source"] == "wall clock" and m["eval"].extra["tokens_per_s_counters"] is None
    assert m["eval"].its == pytest.approx(100, rel=0.25)
    assert m["eval"].spec.variant == "openai"


def test_cli_writes_reports_in_the_shared_format(fake_server, tmp_path, capsys):
    url = fake_server(FAKE_OLLAMA_TOKENS_PER_S="400")
    args = parse(["llm", "--model", "qwen2.5:0.5b", "--url", url, "--trials", "2", "--prompt-tokens", "20",
                  "--max-tokens", "8", "--output", str(tmp_path / "out")])
    assert run_cli(lambda: args.func(args)) == 0
    out = capsys.readouterr().out
    assert "eval" in out and "tok/s" in out and "results.json" in out
    report = load_report(tmp_path / "out" / "results.json")
    assert report.config["workload"] == "llm" and report.config["model"] == "qwen2.5:0.5b"
    assert report.command == ["ipex-benchmark", "llm", "--model", "qwen2.5:0.5b", "--url", url, "--trials", "2",
                              "--prompt-tokens", "20", "--max-tokens", "8", "--output", str(tmp_path / "out")]
    csv = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert csv[0].startswith("device,backend,device_name,key,workload,op")
    assert sum(",llm,eval," in line for line in csv) == 1
    assert "llm" in (tmp_path / "out" / "results.html").read_text()


def test_cli_json_output(fake_server, tmp_path, capsys):
    url = fake_server(FAKE_OLLAMA_TOKENS_PER_S="400")
    args = parse(["llm", "--model", "llama3.2", "--url", url, "--trials", "1", "--load-trials", "0",
                  "--prompt-tokens", "5", "--max-tokens", "4", "--output", str(tmp_path), "--json",
                  "--format", "json"])
    assert run_cli(lambda: args.func(args)) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "ipex-integration/benchmark" and data["runs"][0]["measurements"][3]["key"].startswith("llm/eval/")
    assert not (tmp_path / "results.csv").exists()


def test_model_not_present_is_one_line_listing_the_models(fake_server, tmp_path, capsys):
    url = fake_server(FAKE_OLLAMA_MODELS="llama3.2:latest,qwen2.5:0.5b")
    args = parse(["llm", "--model", "mistral", "--url", url, "--output", str(tmp_path)])
    assert run_cli(lambda: args.func(args), prog="ipex-benchmark") == 4  # could not: the server lacks the model (docs/exit-codes.md)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"ipex-benchmark: error: model 'mistral' is not on the server at {url}; "
                      "it has: llama3.2:latest, qwen2.5:0.5b")
    assert err[1] == "ipex-benchmark: hint: pull it first: ollama-ipex pull mistral"
    assert not (tmp_path / "results.json").exists()


def test_a_second_run_into_one_folder_is_numbered_and_force_replaces(fake_server, tmp_path, capsys):
    url = fake_server(FAKE_OLLAMA_TOKENS_PER_S="400")
    argv = ["llm", "--model", "qwen2.5:0.5b", "--url", url, "--trials", "1", "--prompt-tokens", "20",
            "--max-tokens", "8", "--output", str(tmp_path), "--format", "json,csv"]
    earlier = tmp_path / "results.json"
    earlier.write_text('{"an": "earlier run"}\n')
    args = parse(argv)
    assert run_cli(lambda: args.func(args)) == 0
    assert "results-2.json" in capsys.readouterr().out
    assert earlier.read_text() == '{"an": "earlier run"}\n'  # kept, not overwritten
    assert load_report(tmp_path / "results-2.json").config["workload"] == "llm"
    assert (tmp_path / "results-2.csv").is_file() and not (tmp_path / "results.csv").exists()
    args = parse([*argv, "--force"])
    assert run_cli(lambda: args.func(args)) == 0
    assert load_report(earlier).config["workload"] == "llm"


def test_a_failed_measurement_exits_failed_on_both_paths():
    """Both paths of `ipex-benchmark llm` (trials and the serving sweep) end in one exit rule: a failed request or
    a token-count mismatch is EXIT_FAILED (4, docs/exit-codes.md), changed from 1 for the trials path."""
    from ipex_integration.bench.model import BenchReport, BenchSpec, DeviceRun, Measurement, Status
    from ipex_integration.cli.benchmark_llm import _exit_code
    from ipex_integration.errors import EXIT_FAILED, EXIT_OK

    def report(status):
        run = DeviceRun("cpu", "server", measurements=[Measurement(BenchSpec("llm", "eval", "-", "-"), status)])
        return BenchReport(created="2026-01-01T00:00:00+00:00", command=[], config={}, system={}, runs=[run])

    assert _exit_code(report(Status.FAILED)) == EXIT_FAILED == 4
    assert _exit_code(report(Status.OK)) == EXIT_OK


def test_llm_runs_are_recorded_in_the_history_unless_no_history(fake_server, tmp_path, capsys):
    from ipex_integration.bench.history import History, default_path

    url = fake_server(FAKE_OLLAMA_TOKENS_PER_S="400")
    argv = ["llm", "--model", "qwen2.5:0.5b", "--url", url, "--trials", "1", "--load-trials", "0",
            "--prompt-tokens", "5", "--max-tokens", "4", "--format", "json"]
    args = parse([*argv, "--output", str(tmp_path / "a")])
    assert run_cli(lambda: args.func(args)) == 0
    assert "history: run #1" in capsys.readouterr().err
    with History(default_path()) as history:
        (run,) = history.runs()
        assert run.results_path == str(tmp_path / "a" / "results.json") and run.measurements >= 4
        assert history.load_run(run.id).config["workload"] == "llm"
    args = parse([*argv, "--output", str(tmp_path / "b"), "--no-history"])
    assert run_cli(lambda: args.func(args)) == 0
    assert "history" not in capsys.readouterr().err
    with History(default_path()) as history:
        assert len(history.runs()) == 1
