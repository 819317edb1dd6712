"""The worker for real (a child interpreter with the real CPU torch) and the parent-side runner: progress
events, the results file after every measurement, a worker that dies, an interrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ipex_integration.bench import runner
from ipex_integration.bench.model import BenchReport, DeviceRun, Status
from ipex_integration.bench.report.writer import load_report
from ipex_integration.bench.worker import PROTOCOL_PREFIX
from ipex_integration.bench.workload import SuiteConfig
from ipex_integration.errors import SelectionError
from ipex_integration.plan.model import DevicePlan, DeviceRequest
from ipex_integration.runtime.model import Backend

# Two tiny ops plus a dtype the CPU cannot run: a few seconds, mostly the child's `import torch`.
TINY = SuiteConfig(only=(), ops=("matmul", "add"), dtypes=("fp32", "tf32"), sizes=(64,), warmup_s=0.0, budget_s=0.003)


def cpu_plan(python: str = sys.executable, **env) -> DevicePlan:
    return DevicePlan(Backend.CPU, None, None, "current", python, env=env, reasons=("test",))


def test_worker_streams_progress_and_writes_the_device_run(tmp_path):
    out = tmp_path / "run.json"
    payload = {"device": "cpu", "backend": "cpu", "suite": TINY.to_dict()}
    env = runner.worker_env(cpu_plan(), os.environ, runner._package_shim(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "ipex_integration.bench.worker", "--config", json.dumps(payload), "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line[len(PROTOCOL_PREFIX):]) for line in done.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["device", "plan"] and kinds[-1] == "done"
    specs = events[1]["specs"]
    assert [(s["op"], s["dtype"]) for s in specs] == [("matmul", "fp32"), ("matmul", "tf32"), ("add", "fp32")]
    assert kinds.count("started") == kinds.count("finished") == 3
    assert events[0]["run"]["software"]["torch_version"].startswith("2.")
    saved = json.loads(out.read_text())
    statuses = [m["status"] for m in saved["measurements"]]
    assert statuses == ["ok", "skipped", "ok"]
    assert saved["device"]["backend"] == "cpu" and saved["measurements"][0]["stats"]["n"] >= 5
    assert saved["measurements"][0]["extra"]["host_rss_lifetime_peak_bytes"] > 10 * 2**20  # a Python with torch loaded


def test_worker_reports_a_bad_config_as_an_error_event(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "ipex_integration.bench.worker", "--config", "{not json", "--out", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    event = json.loads(done.stdout.strip()[len(PROTOCOL_PREFIX):])
    assert event["event"] == "error"


class Recorder(runner.RunObserver):
    def __init__(self, stop_after: int | None = None) -> None:
        self.events: list[tuple] = []
        self.stop_after = stop_after

    def device_started(self, plan, run, specs):
        self.events.append(("device", run.device_name, len(specs)))

    def spec_finished(self, plan, measurement):
        self.events.append(("finished", measurement.spec.key))
        if self.stop_after is not None and len([e for e in self.events if e[0] == "finished"]) >= self.stop_after:
            raise KeyboardInterrupt

    def note(self, text):
        self.events.append(("note", text))


def test_run_benchmark_on_cpu_saves_after_each_measurement(tmp_path):
    results = tmp_path / "out" / "results.json"
    snapshots: list[dict] = []

    def save(report: BenchReport):
        snapshots.append(report.to_dict())
        from ipex_integration.bench.report.writer import ResultsWriter

        ResultsWriter(results).save(report)

    recorder = Recorder()
    report = runner.run_benchmark(
        [cpu_plan()], TINY, results_path=results, command=["ipex-benchmark", "--cpu"], observer=recorder,
        system={"cpu": "test"}, save=save,
    )
    assert report.complete and len(report.runs) == 1
    run = report.runs[0]
    assert run.error is None and run.backend == "cpu"
    assert run.device_name == run.device["name"]  # from the worker's device event
    assert run.software["environment"] == "current" and "torch_version" in run.software
    assert [m.status for m in run.measurements] == [Status.OK, Status.SKIPPED, Status.OK]
    counts = [sum(len(r["measurements"]) for r in s["runs"]) for s in snapshots]
    assert counts[:1] == [0] and {1, 2, 3} <= set(counts)  # saved before, and after every measurement
    assert all(not s["complete"] for s in snapshots[:-1]) and snapshots[-1]["complete"]
    assert recorder.events[0] == ("device", run.device_name, 3)
    loaded = load_report(results)
    assert loaded.complete and loaded.config["ops"] == ["matmul", "add"]
    assert loaded.config["plans"][0]["backend"] == "cpu"


def test_interrupted_run_leaves_a_valid_incomplete_file(tmp_path):
    results = tmp_path / "results.json"
    with pytest.raises(KeyboardInterrupt):
        runner.run_benchmark(
            [cpu_plan()], TINY, results_path=results, command=["x"], observer=Recorder(stop_after=1), system={},
        )
    loaded = load_report(results)
    assert loaded.complete is False
    assert len(loaded.runs[0].measurements) == 1 and loaded.runs[0].measurements[0].status is Status.OK
    # results.json is the run's start snapshot; the measurement and the device run are in the journal beside it
    assert json.loads(results.read_text())["runs"] == []
    assert (tmp_path / "results.jsonl").is_file()
    assert loaded.runs[0].device_name == loaded.runs[0].device["name"]  # the worker's device facts, from the journal


def test_a_worker_that_dies_is_recorded_and_the_next_device_runs(tmp_path):
    broken = tmp_path / "python"
    broken.write_text(
        "#!/bin/sh\necho 'Traceback (most recent call last):' >&2\necho 'ImportError: libcuda.so.1' >&2\nexit 3\n"
    )
    broken.chmod(0o755)
    recorder = Recorder()
    report = runner.run_benchmark(
        [cpu_plan(str(broken)), cpu_plan()], TINY, results_path=tmp_path / "r.json", command=["x"],
        observer=recorder, system={},
    )
    assert report.complete and len(report.runs) == 2
    assert report.runs[0].error == "worker exited with code 3: ImportError: libcuda.so.1"
    assert report.runs[0].measurements == []
    assert report.runs[1].error is None and len(report.runs[1].measurements) == 3
    assert any(e[0] == "note" and "libcuda" in e[1] for e in recorder.events)


def test_missing_interpreter_is_an_error_of_that_run(tmp_path):
    report = runner.run_benchmark(
        [cpu_plan(str(tmp_path / "nope" / "python"))], TINY, results_path=tmp_path / "r.json", command=["x"],
        system={},
    )
    assert report.runs[0].error.startswith("cannot start")


def test_worker_env_applies_the_plan_and_exposes_only_our_package(tmp_path):
    plan = cpu_plan(CUDA_VISIBLE_DEVICES="")
    before = dict(os.environ)
    shim = runner._package_shim(tmp_path)
    env = runner.worker_env(plan, {"PATH": "/bin", "PYTHONPATH": "/theirs"}, shim)
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["PATH"] == "/bin"
    assert env["PYTHONPATH"] == f"{shim}{os.pathsep}/theirs"
    assert sorted(p.name for p in shim.iterdir()) == ["ipex_integration"]
    assert (shim / "ipex_integration" / "bench" / "worker.py").is_file()
    assert dict(os.environ) == before


def test_worker_argv_carries_the_plan_device():
    plan = DevicePlan(Backend.CUDA, 1, "H100", "cuda", "/envs/cuda/bin/python")
    argv = runner.worker_argv(plan, SuiteConfig(suite="standard"), Path("/tmp/o.json"))
    assert argv[:3] == ["/envs/cuda/bin/python", "-m", "ipex_integration.bench.worker"]
    payload = json.loads(argv[argv.index("--config") + 1])
    assert payload["device"] == "cuda:0" and payload["suite"]["suite"] == "standard"  # the plan made it index 0


def test_plans_for_all_keeps_what_resolves_and_notes_the_rest():
    def resolve(request: DeviceRequest, environ=None):
        if request.backend is Backend.CPU:
            return cpu_plan()
        raise SelectionError(f"no {request.backend.value} GPU found")

    plans, skipped = runner.plans_for_all({}, resolve=resolve)
    assert [p.backend for p in plans] == [Backend.CPU]
    assert skipped == ["cuda: no cuda GPU found", "xpu: no xpu GPU found"]
    with pytest.raises(SelectionError, match="no backend can run"):
        runner.plans_for_all({}, backends=[Backend.XPU], resolve=resolve)


def test_system_info_describes_the_host_without_torch():
    info = runner.system_info(hardware=None)
    assert info["ram_bytes"] > 0 and info["cpu_logical"] >= 1 and info["python"]
    assert isinstance(info["gpus"], list)


def test_plans_for_all_has_one_plan_per_gpu_until_the_policy_says_out_of_range():
    """Two NVIDIA GPUs: --devices all benchmarks GPU 0, GPU 1 and the CPU, each its own plan and label."""
    asked = []

    def resolve(request: DeviceRequest, environ=None):
        asked.append((request.backend, request.cuda_device, request.intel_device))
        if request.backend is Backend.CPU:
            return cpu_plan()
        if request.backend is Backend.CUDA and request.cuda_device in (0, 1):
            return DevicePlan(Backend.CUDA, request.cuda_device, "NVIDIA H100 80GB HBM3", "cuda", "/envs/cuda/bin/python")
        if request.backend is Backend.CUDA:
            raise SelectionError(f"NVIDIA device {request.cuda_device} does not exist (0-1)")
        raise SelectionError("no Intel GPU found")

    plans, skipped = runner.plans_for_all({}, resolve=resolve)
    assert [(p.backend, p.device_index) for p in plans] == [(Backend.CUDA, 0), (Backend.CUDA, 1), (Backend.CPU, None)]
    assert (Backend.CUDA, 2, None) in asked and (Backend.XPU, None, 0) in asked
    assert skipped == ["xpu: no Intel GPU found"]
    labels = {DeviceRun("cuda", p.device_name, device={"plan_device_index": p.device_index}).label for p in plans[:2]}
    assert labels == {"cuda:0: NVIDIA H100 80GB HBM3", "cuda:1: NVIDIA H100 80GB HBM3"}


# `ipex-benchmark` as its console script runs it, with the SIGTERM/SIGHUP -> Interrupted handler the CLI
# boundary installs (installed here so this test does not depend on it).
BENCHMARK_ENTRY = """
import signal, sys
from ipex_integration.errors import Interrupted
from ipex_integration.cli import benchmark

def interrupted(signum, _frame):
    raise Interrupted(signum)

for s in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, interrupted)
try:
    sys.exit(benchmark.main(sys.argv[1:]))
except Interrupted as exc:
    sys.exit(exc.exit_code)
"""


def _cmdline(proc) -> list[str]:
    """A child's command line; [] for one that exits (or is a zombie) while we look: probes come and go."""
    import psutil

    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def _gone(proc) -> bool:
    import psutil

    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_sigterm_of_ipex_benchmark_stops_the_worker_at_once_and_removes_the_temp_dir(tmp_path, signum):
    """SIGTERM/SIGHUP: the worker is stopped and the temp dir removed. SIGKILL (nothing of ours runs): the
    worker still goes, through the parent-death signal."""
    import psutil

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "IPEX_INTEGRATION_HOME": str(tmp_path / "home")}
    bench = subprocess.Popen(
        [sys.executable, "-c", BENCHMARK_ENTRY, "--device", "cpu", "--only", "add", "--dtype", "fp32", "--size", "64",
         "--warmup", "0", "--budget", "60", "--format", "json", "--output", str(tmp_path / "out")],
        env=env, cwd=Path(__file__).resolve().parents[2], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        worker = None
        while worker is None and time.monotonic() < deadline and bench.poll() is None:
            worker = next((k for k in psutil.Process(bench.pid).children(recursive=True)
                           if "ipex_integration.bench.worker" in " ".join(_cmdline(k))), None)
            time.sleep(0.05)
        assert worker is not None, bench.stderr.read() if bench.poll() is not None else "no worker started"
        assert list(tmp.glob("ipex-bench-*"))
        bench.send_signal(signum)
        start = time.monotonic()
        code = bench.wait(timeout=5)
        if signum == signal.SIGKILL:
            assert code == -signal.SIGKILL
            worker.wait(timeout=2)  # psutil.TimeoutExpired if it outlived us
            return
        assert code == 128 + signum
        assert time.monotonic() - start < 1.5
        assert _gone(worker)
        assert list(tmp.glob("ipex-bench-*")) == []
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
