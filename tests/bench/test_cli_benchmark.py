"""`ipex-benchmark`: bad input is one line and exit 2; a real tiny run on the CPU; `compare` for real files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ipex_integration.bench.model import BenchReport, BenchSpec, DeviceRun, Measurement, Stats, Status
from ipex_integration.bench.report.writer import ResultsWriter
from ipex_integration.cli import benchmark


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = benchmark.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--suite", "huge"], "unknown suite 'huge'; choose from: quick, standard, full"),
        (["--dtype", "fp8"], "unknown dtype 'fp8'; choose from: fp32, tf32, fp16, bf16"),
        (["--only", "tensor,matmull"], "unknown workload or op 'matmull'; workloads: tensor, conv, sd; ops: matmul"),
        (["--device", "tpu"], "--device 'tpu': expected auto, cpu, cuda, cuda:N, xpu or xpu:N"),
        (["--devices", "cuda,tpu"], "unknown device 'tpu'; choose from: cuda, xpu, cpu"),
        (["--size", "0"], "--size values must be positive, got 0"),
        (["--size", "big"], "--size expects whole numbers, got 'big'"),
        (["--budget", "0"], "argument --budget: must be > 0 seconds"),
        (["--sd-model", "sd3"], "unknown SD model 'sd3'; choose from: tiny, sd15, sdxl"),
        (["--format", "json,pdf"], "unknown format 'pdf'; choose from: json, csv, html, png"),
        (["--device", "cuda", "--cpu"], "--device cuda conflicts with --cpu"),
        (["--devices", "all", "--cuda-device", "1"], "--devices picks the devices itself; drop --cuda-device"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, message):
    code, out, err = run_cli(capsys, *argv, "--output", str(tmp_path))
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[0].startswith("ipex-benchmark: error: ") and message in lines[0]
    assert "Traceback" not in err and out == ""


def test_run_for_real_on_every_available_backend(capsys, tmp_path):
    # This machine has no GPU: the real probe and policy leave the CPU, and say why CUDA and XPU are out;
    # the worker runs in the current interpreter with the real CPU torch.
    out_dir = tmp_path / "results"
    code, out, err = run_cli(
        capsys, "--devices", "all", "--only", "matmul,copy_d2d", "--size", "64", "--dtype", "fp32",
        "--warmup", "0", "--budget", "0.003", "--output", str(out_dir), "--format", "json,csv", "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["complete"] is True and report["command"][:2] == ["ipex-benchmark", "run"]
    assert [r["backend"] for r in report["runs"]] == ["cpu"]
    keys = [m["key"] for m in report["runs"][0]["measurements"]]
    assert keys == ["tensor/matmul/fp32/64x64x64", "tensor/copy_d2d/-/64MiB"]
    assert {m["status"] for m in report["runs"][0]["measurements"]} == {"ok"}
    skipped = report["config"]["skipped_devices"]
    assert [s.split(":")[0] for s in skipped] == ["cuda", "xpu"]
    assert "not benchmarked: cuda" in err
    assert (out_dir / "results.json").is_file() and (out_dir / "results.csv").is_file()
    assert not (out_dir / "results.html").exists()
    # recorded in the history (issue 14), with the results file it wrote; --no-history records nothing
    from ipex_integration.bench.history import History, default_path

    assert "history: run #1" in err
    with History(default_path()) as history:
        (run,) = history.runs()
        assert run.results_path == str(out_dir / "results.json") and run.devices[0].backend == "cpu"
        assert history.load_run(run.id).runs[0].measurements[0].spec.op == "matmul"
    code, _, err = run_cli(
        capsys, "--device", "cpu", "--only", "matmul", "--size", "64", "--dtype", "fp32", "--warmup", "0",
        "--budget", "0.003", "--output", str(tmp_path / "again"), "--format", "json", "--json", "--no-history",
    )
    assert code == 0 and "history:" not in err
    with History(default_path()) as history:
        assert len(history.runs()) == 1

    # The same command again keeps the first run's files and numbers the new one.
    first = (out_dir / "results.json").read_bytes()
    code, out, err = run_cli(
        capsys, "--devices", "cpu", "--only", "matmul", "--size", "64", "--dtype", "fp32",
        "--warmup", "0", "--budget", "0.003", "--output", str(out_dir), "--format", "json,csv",
    )
    assert code == 0, err
    assert (out_dir / "results.json").read_bytes() == first
    assert (out_dir / "results-2.json").is_file() and (out_dir / "results-2.csv").is_file()
    assert "results-2.json" in out


@pytest.mark.parametrize(
    ("argv", "backend", "source"),
    [
        (["--device", "cpu"], "cpu", "--device cpu"),
        (["--device", "xpu", "--intel-device", "1"], "xpu", "--device xpu"),
        (["--cuda-device", "1"], "cuda", "--cuda-device 1"),
        (["--device", "auto"], None, "default"),
        (["--device", "cuda:1"], "cuda", "--device cuda:1"),
    ],
)
def test_device_flags_become_the_request(monkeypatch, argv, backend, source):
    seen = []

    def resolve_plan(request, *, environ=None):
        seen.append(request)
        return "plan"

    monkeypatch.setattr("ipex_integration.plan.resolve.resolve_plan", resolve_plan)
    args = benchmark.build_parser().parse_args(["run", *argv])
    assert benchmark.plans_from_args(args, {}) == (["plan"], [])
    request = seen[0]
    assert (request.backend.value if request.backend else None) == backend and request.source == source


def _report(gflops_per_s: float) -> BenchReport:
    spec = BenchSpec("tensor", "matmul", "bf16", "8192x8192x8192")
    flops = 2.0 * 8192**3
    t = flops / (gflops_per_s * 1e9)
    m = Measurement(spec, Status.OK, samples_s=[t] * 5, stats=Stats.from_samples([t] * 5), flops=flops)
    run = DeviceRun("cuda", "NVIDIA H100 80GB HBM3", measurements=[m])
    return BenchReport("2026-01-01T00:00:00+00:00", ["ipex-benchmark"], {"suite": "quick"}, {}, [run])


def test_compare_exits_1_on_a_regression_beyond_the_threshold(capsys, tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    ResultsWriter(old).save(_report(750_000))
    ResultsWriter(new).save(_report(600_000))  # 20% slower
    code, out, _ = run_cli(capsys, "compare", str(old), str(new), "--fail-above", "10%", "--json")
    assert code == 1 and json.loads(out)["regressions"] == 1
    code, _, _ = run_cli(capsys, "compare", str(old), str(new), "--fail-above", "25%")
    assert code == 0


def test_compare_of_a_corrupt_file_says_so(capsys, tmp_path):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    ResultsWriter(good).save(_report(1))
    bad.write_text('{"schema": "ipex-integration/benchmark", "schema_')
    code, _, err = run_cli(capsys, "compare", str(good), str(bad))
    assert code == 4 and "is not valid JSON" in err.splitlines()[0]


def test_console_script_help_runs_without_torch_import():
    # The CLI's own process must not import torch: check in a fresh interpreter.
    code = (
        "import sys; from ipex_integration.cli import benchmark; "
        "benchmark.build_parser(); import ipex_integration.bench.runner as r; r.system_info(); "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
