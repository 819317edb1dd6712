"""`ipex up`: placement (pure), the dry run with fake GPUs, and the real start and stop of the fake ComfyUI
and the fake ollama together."""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ipex_integration.bench.model import BenchReport, BenchSpec, DeviceRun, Measurement, Stats, Status
from ipex_integration.bench.report.writer import write_json
from ipex_integration.cli.up import up_main
from ipex_integration.errors import UsageError
from ipex_integration.bench.ranking import find_results, rank_devices, relative_speed
from ipex_integration.paths import data_dir
from ipex_integration.up.placement import parse_device, place
from ipex_integration.runtime.model import Backend
from tests.fakes.comfyui import build_fake_comfyui, fake_torch_env

from .helpers import MACHINES, comfyui_resolver, free_port, get_json, gone, post_json, recorded

REPO = Path(__file__).resolve().parents[2]


def run_of(backend: str, index: int, name: str, seconds: dict[str, float]) -> DeviceRun:
    measurements = []
    for key, median in seconds.items():
        workload, op = key.split("/")
        spec = BenchSpec(workload, op, "fp16", "512x512")
        measurements.append(Measurement(spec, Status.OK, samples_s=[median], stats=Stats.from_samples([median])))
    return DeviceRun(backend, name, device={"plan_device_index": index}, measurements=measurements)


def report(*runs: DeviceRun) -> BenchReport:
    return BenchReport(created="2026-01-01T00:00:00+00:00", command=[], config={}, system={}, runs=list(runs))


# --- placement ----------------------------------------------------------------------------------------------


def test_two_gpus_without_results_comfyui_on_cuda():
    p = place(MACHINES["nvidia_arc"])
    assert (p.comfyui.backend, p.comfyui.cuda_device) == (Backend.CUDA, 0)
    assert (p.ollama.backend, p.ollama.intel_device) == (Backend.XPU, 0)
    assert "the first NVIDIA GPU" in p.reasons[0] and "no benchmark results found" in p.reasons[0]
    assert p.reasons[1] == "Ollama on xpu:0 (Intel Arc A770 Graphics): the other GPU"


def test_results_put_comfyui_on_the_faster_gpu():
    r = report(run_of("cuda", 0, "NVIDIA GeForce RTX 4090", {"sd/unet": 0.20, "tensor/matmul": 0.010}),
               run_of("xpu", 0, "Intel Arc A770 Graphics", {"sd/unet": 0.10, "tensor/matmul": 0.050}))
    p = place(MACHINES["nvidia_arc"], ranking=rank_devices(r, "/r.json"))
    assert p.comfyui.backend is Backend.XPU and p.ollama.backend is Backend.CUDA
    # SD measurements decide (ComfyUI's work), not the matmul the NVIDIA card wins
    assert "fastest GPU in /r.json (2.00x cuda:0 (NVIDIA GeForce RTX 4090), geometric mean of 1" in p.reasons[0]


def test_gpus_within_ten_percent_count_as_equal_and_the_first_one_gets_comfyui():
    """Two identical H100s measured 338 vs 559 ms on the SD pipeline (host noise) but 28.0 vs 28.7 ms on the
    UNet step (docs/benchmarks.md): the UNet steps decide, and a 2.5% difference is a tie."""
    r = report(
        run_of("xpu", 0, "Intel Arc A770 Graphics", {"sd/sd15_unet_step": 0.0287, "sd/sd15_pipeline": 0.559}),
        run_of("cuda", 0, "NVIDIA GeForce RTX 4090", {"sd/sd15_unet_step": 0.0280, "sd/sd15_pipeline": 0.338}),
    )
    p = place(MACHINES["nvidia_arc"], ranking=rank_devices(r, "/r.json"))
    assert p.comfyui.backend is Backend.CUDA and p.ollama.backend is Backend.XPU
    assert "within 10% of each other in /r.json (1.03x, 1 common measurements)" in p.reasons[0]


def test_relative_speed_is_a_geometric_mean_of_common_measurements():
    a = run_of("cuda", 0, "a", {"tensor/matmul": 1.0, "tensor/add": 1.0, "conv/conv2d": 1.0})
    b = run_of("xpu", 0, "b", {"tensor/matmul": 0.25, "tensor/add": 1.0})
    assert relative_speed(a, b) == (pytest.approx(2.0), 2)


def test_results_measuring_one_gpu_only_fall_back_to_cuda():
    r = report(run_of("xpu", 0, "Intel Arc A770 Graphics", {"sd/unet": 0.1}))
    p = place(MACHINES["nvidia_arc"], ranking=rank_devices(r, "/r.json"))
    assert p.comfyui.backend is Backend.CUDA and "does not measure two of these GPUs" in p.reasons[0]


def test_explicit_devices_win():
    p = place(MACHINES["nvidia_arc"], ollama="cuda")
    assert p.ollama.backend is Backend.CUDA and p.ollama.source == "--ollama-device cuda"
    assert p.comfyui.backend is Backend.XPU  # the other GPU
    both = place(MACHINES["two_arc"], comfyui="xpu:1", ollama="xpu:0")
    assert (both.comfyui.intel_device, both.ollama.intel_device) == (1, 0)


def test_one_gpu_is_shared_with_a_warning_and_none_means_cpu():
    one = place(MACHINES["arc"])
    assert one.comfyui.backend is one.ollama.backend is Backend.XPU
    assert "ComfyUI and Ollama share it" in one.warnings[0]
    none = place(MACHINES["none"])
    assert none.comfyui.backend is none.ollama.backend is Backend.CPU


@pytest.mark.parametrize("text", ["gpu", "cuda:x", "cpu:0", "xpu:-1"])
def test_bad_device_spec(text):
    with pytest.raises(UsageError, match="expected auto, cpu, cuda, cuda:N, xpu or xpu:N"):
        parse_device(text, "--ollama-device")


def test_newest_results_file_is_found():
    old = data_dir() / "benchmarks" / "20250101-quick" / "results.json"
    new = data_dir() / "benchmarks" / "20250202-quick" / "results.json"
    for path, stamp in ((old, 1_000_000), (new, 2_000_000)):
        write_json(report(), path)
        os.utime(path, (stamp, stamp))
    assert find_results(None) == new
    assert find_results(str(old)) == old
    with pytest.raises(UsageError, match="no such file"):
        find_results("/nonexistent.json")


def test_an_unreadable_newest_results_file_is_skipped_but_a_named_one_is_an_error():
    from ipex_integration.up.prepare import read_ranking

    bad = data_dir() / "benchmarks" / "20250303-quick" / "results.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    ranking, notices = read_ranking(None, os.environ)
    assert ranking is None and notices == (f"ignoring unreadable results file {bad}",)
    with pytest.raises(UsageError):
        read_ranking(str(bad), os.environ)
    good = data_dir() / "benchmarks" / "20250404-quick" / "results.json"
    write_json(report(run_of("cuda", 0, "RTX", {"sd/unet": 0.2})), good)
    ranking, notices = read_ranking(str(good), os.environ)
    assert notices == () and [(d.backend, d.index, d.speed, d.source) for d in ranking.devices] == [
        (Backend.CUDA, 0, 1.0, str(good))]


# --- the command ------------------------------------------------------------------------------------------


@pytest.fixture
def setup(tmp_path, ollama_bin):
    comfy = build_fake_comfyui(tmp_path / "ComfyUI", "0.3.47")
    return comfy, ollama_bin("upstream")


def test_dry_run_json_places_each_on_its_own_gpu(setup, tmp_path):
    comfy, binary = setup
    out = io.StringIO()
    hardware = MACHINES["nvidia_arc"]
    code = up_main(["--dry-run", "--json", "--comfyui", str(comfy), "--ollama-bin", str(binary), "--port", "8190"],
                   environ=dict(os.environ), hardware=hardware, resolve=comfyui_resolver(hardware, tmp_path), out=out)
    assert code == 0
    data = json.loads(out.getvalue())
    assert data["comfyui"]["plan"]["backend"] == "cuda" and data["comfyui"]["plan"]["env"]["CUDA_VISIBLE_DEVICES"] == "0"
    assert data["comfyui"]["launch"]["port"] == 8190
    assert data["ollama"]["plan"]["backend"] == "xpu" and data["ollama"]["server"]["path"] == "vulkan"
    assert data["ollama"]["server"]["env"]["CUDA_VISIBLE_DEVICES"] == "-1"
    assert data["placement"]["comfyui"]["source"] == "ipex up placement"


def test_dry_run_text(setup, tmp_path):
    comfy, binary = setup
    out = io.StringIO()
    hardware = MACHINES["nvidia_arc"]
    up_main(["--dry-run", "--comfyui", str(comfy), "--ollama-bin", str(binary), "--ollama-device", "cuda"],
            environ=dict(os.environ), hardware=hardware, resolve=comfyui_resolver(hardware, tmp_path), out=out)
    text = out.getvalue()
    assert "placement:   Ollama on cuda:0 (NVIDIA GeForce RTX 4090): --ollama-device cuda" in text
    assert "[ComfyUI] on XPU device 0 (Intel Arc A770 Graphics)" in text
    assert "[Ollama] on CUDA device 0 (NVIDIA GeForce RTX 4090)" in text


class Up:
    """`python -m tests.ollama.up_entry MACHINE -- ARGS` with its output read line by line."""

    def __init__(self, machine: str, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.ollama.up_entry", machine, "--", *args], cwd=REPO,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.err: list[str] = []
        threading.Thread(target=lambda: [self.lines.put(x.rstrip("\n")) for x in self.proc.stdout], daemon=True).start()
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r}; saw {self.seen}; stderr: {''.join(self.err)}")

    def finish(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout=timeout)
        time.sleep(0.1)
        return code


def up_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = fake_torch_env(cuda=1, xpu=1)
    env.update({"FAKE_COMFYUI_SERVE": "1", "FAKE_OLLAMA_ENV_FILE": str(tmp_path / "ollama.jsonl"),
                "FAKE_OLLAMA_CUDA_GPUS": "NVIDIA GeForce RTX 4090",
                "FAKE_OLLAMA_VULKAN_GPUS": "Intel(R) Arc(tm) A770 Graphics (DG2)"})
    env.update(extra)
    return env


def test_starts_both_on_different_gpus_and_stops_both(setup, tmp_path):
    comfy, binary = setup
    comfy_port, ollama_port = free_port(), free_port()
    up = Up("nvidia_arc", ["--comfyui", str(comfy), "--port", str(comfy_port), "--ollama-bin", str(binary),
                           "--host", f"127.0.0.1:{ollama_port}"], up_env(tmp_path))
    try:
        report = json.loads(up.wait_for("FAKE_COMFYUI ").split("FAKE_COMFYUI ", 1)[1])
        up.wait_for("To see the GUI")
        assert report["device"] == "cuda:0" and report["env"]["CUDA_VISIBLE_DEVICES"] == "0"
        stats = get_json(f"http://127.0.0.1:{comfy_port}/system_stats")
        assert stats["devices"][0]["type"] == "cuda"
        serve_env = [c for c in recorded(tmp_path / "ollama.jsonl") if c["argv"] == ["serve"]][-1]["env"]
        assert serve_env["OLLAMA_VULKAN"] == "1" and serve_env["CUDA_VISIBLE_DEVICES"] == "-1"
        post_json(f"http://127.0.0.1:{ollama_port}/api/generate",
                  {"model": "llama3.2", "prompt": "hi", "stream": False, "options": {"num_predict": 1}})
        assert get_json(f"http://127.0.0.1:{ollama_port}/api/ps")["models"][0]["size_vram"] > 0  # on the Arc
        ollama_pid = [c for c in recorded(tmp_path / "ollama.jsonl") if c["argv"] == ["serve"]][-1]["pid"]
        up.proc.send_signal(signal.SIGTERM)
        assert up.finish() == 0
    finally:
        if up.proc.poll() is None:
            up.proc.kill()
    err = "".join(up.err)
    assert "ipex up: ComfyUI on CUDA device 0 (NVIDIA GeForce RTX 4090), Ollama on XPU device 0" in err
    assert "stopped (signal SIGTERM)" in err
    assert gone(report["pid"]) and gone(ollama_pid)


def test_when_ollama_dies_comfyui_is_stopped_and_ollama_named(setup, tmp_path):
    comfy, binary = setup
    env = up_env(tmp_path, FAKE_OLLAMA_DIE_AFTER="2", FAKE_OLLAMA_DIE_CODE="7")
    up = Up("nvidia_arc", ["--comfyui", str(comfy), "--port", str(free_port()), "--ollama-bin", str(binary),
                           "--host", f"127.0.0.1:{free_port()}"], env)
    try:
        report = json.loads(up.wait_for("FAKE_COMFYUI ").split("FAKE_COMFYUI ", 1)[1])
        assert up.finish() == 7
    finally:
        if up.proc.poll() is None:
            up.proc.kill()
    err = "".join(up.err)
    assert "ollama exited with code 7; stopping comfyui" in err
    assert "stopped (ollama exited); ollama exit code 7, comfyui exit code" in err
    assert gone(report["pid"])


def test_ollama_that_never_starts_fails_before_comfyui(setup, tmp_path):
    comfy, binary = setup
    up = Up("nvidia_arc", ["--comfyui", str(comfy), "--port", str(free_port()), "--ollama-bin", str(binary),
                           "--host", f"127.0.0.1:{free_port()}"], up_env(tmp_path, FAKE_OLLAMA_CRASH="5"))
    assert up.finish() == 4  # Ollama failed to start (docs/exit-codes.md)
    err = "".join(up.err)
    assert "ipex up: error: ollama serve exited with code 5 while starting" in err
    assert not any("FAKE_COMFYUI" in line for line in up.seen + list(up.lines.queue))


def _dead_within(pid: int, seconds: float = 3.0) -> bool:
    import psutil

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def test_sigkill_of_ipex_up_leaves_neither_serving(setup, tmp_path):
    comfy, binary = setup
    comfy_port, ollama_port = free_port(), free_port()
    up = Up("nvidia_arc", ["--comfyui", str(comfy), "--port", str(comfy_port), "--ollama-bin", str(binary),
                           "--host", f"127.0.0.1:{ollama_port}"], up_env(tmp_path))
    try:
        report = json.loads(up.wait_for("FAKE_COMFYUI ").split("FAKE_COMFYUI ", 1)[1])
        up.wait_for("To see the GUI")
        ollama_pid = [c for c in recorded(tmp_path / "ollama.jsonl") if c["argv"] == ["serve"]][-1]["pid"]
        up.proc.kill()  # nothing of ours runs: only the parent-death signal can stop them
        up.finish()
    finally:
        if up.proc.poll() is None:
            up.proc.kill()
    assert _dead_within(report["pid"]) and _dead_within(ollama_pid)
    for port in (comfy_port, ollama_port):
        with pytest.raises(OSError):
            get_json(f"http://127.0.0.1:{port}/api/version")


def test_a_comfyui_that_cannot_start_is_a_comfyui_error_and_ollama_is_stopped(setup, tmp_path):
    from ipex_integration.comfyui import ComfyUIError
    from ipex_integration.comfyui.launch import LaunchSpec
    from ipex_integration.ollama.launch import prepare_launch
    from ipex_integration.plan.model import DeviceRequest
    from ipex_integration.up.supervisor import run_up

    _comfy, binary = setup
    env = up_env(tmp_path)
    launch = prepare_launch(DeviceRequest(backend=Backend.CPU), environ=env, ollama_bin=str(binary),
                            host=f"127.0.0.1:{free_port()}", hardware=MACHINES["none"],
                            log_path=str(tmp_path / "ollama.log"))
    spec = LaunchSpec(argv=(str(tmp_path / "no-python"), "main.py"), env=env, cwd=str(tmp_path),
                      listen="127.0.0.1", port=free_port(), comfyui_argv=())
    with pytest.raises(ComfyUIError, match="cannot start ComfyUI: .*no-python does not exist"):
        run_up(launch.spec, spec, comfyui_log=tmp_path / "comfyui.log", ready_timeout=20, grace=2)
    ollama_pid = [c for c in recorded(tmp_path / "ollama.jsonl") if c["argv"] == ["serve"]][-1]["pid"]
    assert _dead_within(ollama_pid)
