"""SIGINT, SIGTERM, SIGHUP and SIGKILL at several points of a benchmark run, an env create, a node install and a
running launcher (comfyui-ipex, ipex up). After each: the exit code a shell would report (128+N, or the
child's own code for a launcher whose child handled the signal), no process of the run left alive (found by
the marker variable in /proc, grandchildren included), no temp leftovers, and nothing the user had destroyed
(an interrupted benchmark leaves either no report or a readable one marked incomplete).

SIGKILL cannot be caught: there the checks are that no child survives its launcher (parent-death signal), and
that what was already on disk is still readable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults import harness

REPO = Path(__file__).resolve().parents[2]
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
CATCHABLE_IDS = [s.name for s in SIGNALS]


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def marked_count(env) -> int:
    return len(harness.processes_with_marker(env[harness.MARKER]))


def deliver(proc: subprocess.Popen, env, signum: int, *, within: float = 15.0) -> int:
    """Send signum, then wait for the process; every process carrying the marker must be gone soon after."""
    proc.send_signal(signum)
    try:
        code = proc.wait(timeout=within)
    except subprocess.TimeoutExpired:
        harness.kill_marked(env[harness.MARKER])
        pytest.fail(f"still running {within} s after {signal.Signals(signum).name}")
    left = harness.wait_for_no_processes(env[harness.MARKER], within=3.0)
    harness.kill_marked(env[harness.MARKER])
    assert not left, f"left running after {signal.Signals(signum).name}: {left}"
    return code


def expected_code(signum: int) -> int:
    return 128 + int(signum)


# --- ipex-benchmark ----------------------------------------------------------------------------------------

def _bench(tmp_path: Path, env) -> subprocess.Popen:
    argv = ["ipex-benchmark", "--device", "cpu", "--only", "matmul", "--budget", "2", "--warmup", "0.2",
            "--output", str(tmp_path / "out"), "--format", "json"]
    return harness.start(argv, env=env, cwd=tmp_path)


@pytest.mark.parametrize("point", ["starting", "measuring"])
@pytest.mark.parametrize("signum", SIGNALS, ids=CATCHABLE_IDS)
def test_benchmark_interrupted(signum, point, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = harness.child_env({"TMPDIR": str(tmpdir)})
    proc = _bench(tmp_path, env)
    if point == "starting":
        time.sleep(0.3)
    else:  # the worker (a second marked process) is up and has begun timing
        assert wait_until(lambda: marked_count(env) >= 2 and (tmp_path / "out").exists(), timeout=60), \
            "the worker never started"
        time.sleep(1.0)
    code = deliver(proc, env, signum)
    assert code == expected_code(signum), proc.stderr.read()
    assert "Traceback" not in proc.stderr.read()
    assert harness.temp_leftovers(tmpdir, tmp_path / "out") == []
    report = tmp_path / "out" / "results.json"
    if report.exists():  # readable, and says it is incomplete
        assert json.loads(report.read_text())["complete"] is False


def test_benchmark_killed_leaves_no_worker(tmp_path):
    env = harness.child_env({"TMPDIR": str(tmp_path)})
    proc = _bench(tmp_path, env)
    assert wait_until(lambda: marked_count(env) >= 2, timeout=60), "the worker never started"
    time.sleep(0.5)
    proc.kill()
    proc.wait(timeout=10)
    left = harness.wait_for_no_processes(env[harness.MARKER], within=5.0)
    harness.kill_marked(env[harness.MARKER])
    assert not left, f"worker survived SIGKILL of ipex-benchmark: {left}"


# --- ipex env create ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("delay", [0.3, 2.5], ids=["venv", "pip"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_env_create_interrupted(signum, delay, tmp_path):
    target = tmp_path / "envs" / "cpu"
    env = harness.child_env()
    proc = harness.start(["ipex", "env", "create", "cpu", "--target", str(target)], env=env, cwd=tmp_path)
    time.sleep(delay)
    if proc.poll() is not None:
        pytest.fail(f"env create ended before the signal: {proc.stderr.read()[-500:]}")
    code = deliver(proc, env, signum, within=20)
    assert code == expected_code(signum), proc.stderr.read()
    leftovers = [p.name for p in (tmp_path / "envs").glob("*")] if (tmp_path / "envs").exists() else []
    assert not [n for n in leftovers if "creating" in n], leftovers
    assert not target.exists(), "a half-made environment was left at the target"


# --- ipex nodes install ------------------------------------------------------------------------------------

@pytest.fixture
def slow_node(tmp_path):
    """A custom-node repository big enough that fetching it takes a while, a manifest pinning it (with a hash
    that is never reached: the signal comes during the fetch), and a ComfyUI layout to install into."""
    from tests.nodes.conftest import Repo, manifest_text

    repo = Repo(tmp_path / "src" / "BigNode")
    blobs = {f"data/{i}.bin": os.urandom(1 << 20) for i in range(48)}
    blobs["__init__.py"] = "NODE_CLASS_MAPPINGS = {}\n"
    rev = repo.commit(blobs)
    manifest = tmp_path / "nodes.toml"
    fake_hash = "sha256-" + base64.b64encode(hashlib.sha256(b"not this tree").digest()).decode()  # wrong on purpose
    manifest.write_text(manifest_text("bignode", repo.url, rev, fake_hash))
    lock = tmp_path / "nodes.lock.json"
    lock.write_text(json.dumps({"version": 1, "nodes": {"bignode": {"url": repo.url, "rev": rev,
                                                                     "hash": fake_hash}}}))
    comfy = tmp_path / "ComfyUI"
    (comfy / "custom_nodes").mkdir(parents=True)
    (comfy / "comfy").mkdir()
    for name in ("main.py", "comfy/cli_args.py", "comfy/options.py"):
        (comfy / name).write_text("# stand-in\n")
    (comfy / "comfyui_version.py").write_text('__version__ = "0.3.47"\n')
    return comfy, manifest, lock


@pytest.mark.parametrize("signum", SIGNALS, ids=CATCHABLE_IDS)
def test_node_install_interrupted_mid_fetch(signum, slow_node, tmp_path):
    comfy, manifest, lock = slow_node
    env = harness.child_env({"GIT_ALLOW_PROTOCOL": "file"})
    before = harness.snapshot(comfy)
    proc = harness.start(["ipex", "nodes", "install", "bignode", "--no-deps", "--manifest", str(manifest), "--lock", str(lock),
                          "--comfyui", str(comfy)], env=env, cwd=tmp_path)
    seen_git = wait_until(lambda: any("git" in p for p in harness.processes_with_marker(env[harness.MARKER])),
                          timeout=20, interval=0.01)
    if not seen_git:
        proc.wait(timeout=30)
        pytest.fail(f"git never ran: {proc.stderr.read()[-500:]}")
    code = deliver(proc, env, signum)
    assert code == expected_code(signum), proc.stderr.read()
    assert harness.changed(before, harness.snapshot(comfy)) == []
    assert list((comfy / "custom_nodes").iterdir()) == []


# --- running launchers -------------------------------------------------------------------------------------

def _comfyui_launcher(tmp_path: Path, env) -> subprocess.Popen:
    from tests.fakes.comfyui import build_fake_comfyui
    from tests.ollama.helpers import free_port

    root = build_fake_comfyui(tmp_path / "ComfyUI", "0.3.47")
    argv = [sys.executable, "-m", "tests.comfyui.launcher_entry", "comfyui-ipex", "1", "0", "--",
            "--comfyui", str(root), "--port", str(free_port())]
    return subprocess.Popen(argv, cwd=REPO, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _up(tmp_path: Path, env) -> subprocess.Popen:
    from tests.fakes.comfyui import build_fake_comfyui
    from tests.ollama.helpers import free_port, install_fake_ollama

    root = build_fake_comfyui(tmp_path / "ComfyUI", "0.3.47")
    binary = install_fake_ollama(tmp_path / "ollama", "upstream")
    argv = [sys.executable, "-m", "tests.ollama.up_entry", "nvidia_arc", "--", "--comfyui", str(root),
            "--port", str(free_port()), "--ollama-bin", str(binary), "--host", f"127.0.0.1:{free_port()}"]
    return subprocess.Popen(argv, cwd=REPO, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _launcher_env(tmp_path: Path):
    from tests.fakes.comfyui import fake_torch_env

    env = fake_torch_env(cuda=1, xpu=1)
    env.update({"FAKE_COMFYUI_SERVE": "1", "FAKE_OLLAMA_CUDA_GPUS": "NVIDIA GeForce RTX 4090",
                "FAKE_OLLAMA_VULKAN_GPUS": "Intel(R) Arc(tm) A770 Graphics (DG2)",
                "IPEX_INTEGRATION_HOME": os.environ["IPEX_INTEGRATION_HOME"]})
    return harness.child_env(base=env)


def _serving(env, count: int) -> bool:
    return marked_count(env) >= count


LAUNCHERS = {"comfyui-ipex": (_comfyui_launcher, 2), "ipex-up": (_up, 3)}


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
@pytest.mark.parametrize("signum", SIGNALS, ids=CATCHABLE_IDS)
def test_launcher_signalled(launcher, signum, tmp_path):
    start, children = LAUNCHERS[launcher]
    env = _launcher_env(tmp_path)
    proc = start(tmp_path, env)
    try:
        assert wait_until(lambda: _serving(env, children), timeout=40), "the children never started"
        time.sleep(0.5)
        code = deliver(proc, env, signum)
    finally:
        harness.kill_marked(env[harness.MARKER])
    # A child that handles the signal and exits 0 (as ComfyUI and Ollama do for SIGINT) gives 0; one that dies
    # of it gives 128+N. Never anything else.
    assert code in (0, expected_code(signum)), proc.stderr.read()
    assert "Traceback" not in proc.stderr.read()


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_launcher_killed_takes_its_children(launcher, tmp_path):
    start, children = LAUNCHERS[launcher]
    env = _launcher_env(tmp_path)
    proc = start(tmp_path, env)
    try:
        assert wait_until(lambda: _serving(env, children), timeout=40), "the children never started"
        time.sleep(0.5)
        proc.kill()
        proc.wait(timeout=10)
        left = harness.wait_for_no_processes(env[harness.MARKER], within=5.0)
    finally:
        harness.kill_marked(env[harness.MARKER])
    assert not left, f"children kept running after SIGKILL of {launcher}: {left}"
