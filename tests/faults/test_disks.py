"""Writes that fail: a read-only file system, a full disk (a small tmpfs), permission denied as a non-root user,
and two and more writers of one file at once. Each failed write ends in one line naming the file, exit code 4
(docs/exit-codes.md), and the file the user had byte-for-byte as it was; concurrent writers keep every entry.

Mounting a tmpfs needs root (CI and these machines run as root); where mounting is refused the cases skip
with that reason. The non-root cases use `setpriv` to drop to `nobody`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.faults import harness

FAILED = 4


@contextlib.contextmanager
def tmpfs(size: str = "256k"):
    root = Path(tempfile.mkdtemp(prefix="ipex-fault-fs-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(root)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        root.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()[:120]}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True)
        with contextlib.suppress(OSError):
            root.rmdir()


def remount_readonly(root: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True, capture_output=True)


def fill(root: Path) -> None:
    """Leave the file system with no free block."""
    with contextlib.suppress(OSError):  # the last write, flush or close fails: that is the point
        with open(root / "filler", "wb") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
    os.sync()


def user_home(root: Path) -> Path:
    """A home with files a user has: a commented registry, a config, a lock, an earlier benchmark report."""
    home = root / "home"
    config = home / "config"
    config.mkdir(parents=True)
    (config / "environments.toml").write_text(
        "# my own note, keep it\n[environments.cpu]\npython = \"%s\"\n" % sys.executable)
    (config / "config.toml").write_text("# my config\n")
    (root / "nodes.lock.json").write_text(json.dumps({"version": 1, "nodes": {}}))
    out = root / "out"
    out.mkdir()
    (out / "results.json").write_text('{"earlier": "run"}\n')
    return home


def comfy_checkout(root: Path) -> Path:
    from tests.fakes.comfyui import build_fake_comfyui

    return build_fake_comfyui(root / "ComfyUI", "0.3.47")


def commands(root: Path, comfy: Path) -> dict[str, list[str]]:
    cuda_python = comfy.parent / "cuda-env" / "bin" / "python"
    return {
        "env-add": ["ipex", "env", "add", "cuda", str(cuda_python)],
        "env-remove": ["ipex", "env", "remove", "cpu"],
        "comfyui-use": ["ipex", "comfyui", "use", str(comfy)],
        "nodes-lock": ["ipex", "nodes", "lock", "--lock", str(root / "nodes.lock.json"), "--manifest",
                       str(root / "nodes.toml")],
        "benchmark": ["ipex-benchmark", "--device", "cpu", "--only", "add", "--size", "1024", "--budget", "0.05",
                      "--warmup", "0.01", "--output", str(root / "out"), "--format", "json,csv"],
        "benchmark-new-dir": ["ipex-benchmark", "--device", "cpu", "--only", "add", "--size", "1024",
                              "--budget", "0.05", "--warmup", "0.01", "--output", str(root / "new-out")],
    }


CASES = ["env-add", "env-remove", "comfyui-use", "nodes-lock", "benchmark", "benchmark-new-dir"]


def _prepare(root: Path) -> tuple[Path, Path, dict]:
    home = user_home(root)
    # Pinned (rev and hash given), so `ipex nodes lock` has nothing to fetch and goes straight to writing.
    (root / "nodes.toml").write_text('[nodes.demo]\nurl = "https://github.com/example/demo"\n'
                                     'rev = "0123456789abcdef0123456789abcdef01234567"\n'
                                     'hash = "sha256-rAqIpr6KSf9jpwuxbFN1mmyg9L1FGixOMGpmslQ7XRM="\n')
    comfy = comfy_checkout(Path(tempfile.mkdtemp(prefix="ipex-fault-comfy-")))
    from tests.fakes.interpreters import make_fake_python

    made = make_fake_python(comfy.parent / "cuda-env-src", "cuda")
    link = comfy.parent / "cuda-env" / "bin"
    link.mkdir(parents=True)
    (link / "python").symlink_to(made)
    env = harness.child_env({"IPEX_INTEGRATION_HOME": str(home)})
    return home, comfy, env


def _judge(outcome, before, root: Path):
    after = harness.snapshot(root)
    harness.assert_clean(outcome, codes={FAILED}, before=before, after=after, temp_roots=[root])
    assert str(root) in outcome.stderr, "the error line must name the file or folder"


@pytest.mark.parametrize("case", CASES)
def test_read_only_file_system(case):
    with tmpfs() as root:
        home, comfy, env = _prepare(root)
        argv = commands(root, comfy)[case]
        remount_readonly(root)
        before = harness.snapshot(root)
        outcome = harness.run_subprocess(argv, env=env, timeout=120)
        _judge(outcome, before, root)
        shutil.rmtree(comfy.parent, ignore_errors=True)


@pytest.mark.parametrize("case", CASES)
def test_full_disk(case):
    with tmpfs() as root:
        home, comfy, env = _prepare(root)
        argv = commands(root, comfy)[case]
        fill(root)
        before = harness.snapshot(root)
        outcome = harness.run_subprocess(argv, env=env, timeout=120)
        _judge(outcome, before, root)
        shutil.rmtree(comfy.parent, ignore_errors=True)


def _nobody_can_run_python() -> str | None:
    if os.geteuid() != 0:
        return "needs root to drop to nobody"
    if shutil.which("setpriv") is None:
        return "setpriv is not installed"
    done = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
                           str(harness.BIN / "python"), "-c", "import ipex_integration"], capture_output=True)
    return None if done.returncode == 0 else "user nobody cannot run this virtual environment"


# As `nobody`, only commands that need no interpreter of root's: this machine's Python lives under /root.
NON_ROOT_CASES = ["env-remove", "comfyui-use", "nodes-lock"]


@pytest.mark.parametrize("case", NON_ROOT_CASES)
def test_permission_denied_as_non_root(case):
    reason = _nobody_can_run_python()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="ipex-fault-perm-"))
    try:
        os.chmod(root, 0o755)
        home, comfy, env = _prepare(root)
        os.chmod(comfy.parent, 0o755)
        env["HOME"] = str(root)
        argv = commands(root, comfy)[case]
        before = harness.snapshot(root)
        outcome = harness.run_subprocess(argv, env=env, user="nobody", timeout=120)
        _judge(outcome, before, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- two and more writers at once --------------------------------------------------------------------------

def _env_add(home: str, backend: str, python: str) -> int:
    """One `ipex env add` in a forked child: its own process, as a second terminal would run it."""
    os.environ["IPEX_INTEGRATION_HOME"] = home
    from ipex_integration.cli.main import main

    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        return main(["env", "add", backend, python])


def test_concurrent_registry_writers_keep_every_entry(tmp_path):
    """50 rounds of three `ipex env add` of different backends at once: every round keeps all three entries
    and the user's comment."""
    import multiprocessing

    from tests.fakes.interpreters import make_fake_python

    pythons = {b: str(make_fake_python(tmp_path / b, b)) for b in ("cuda", "xpu", "cpu")}
    ctx = multiprocessing.get_context("fork")
    lost = []
    for round_ in range(50):
        home = tmp_path / f"home{round_}"
        (home / "config").mkdir(parents=True)
        registry = home / "config" / "environments.toml"
        registry.write_text("# keep me\n")
        with ctx.Pool(3) as pool:
            codes = pool.starmap(_env_add, [(str(home), b, p) for b, p in pythons.items()])
        text = registry.read_text()
        missing = [b for b in pythons if f"[environments.{b}]" not in text and f'"{b}"' not in text]
        if codes != [0, 0, 0] or missing or "# keep me" not in text:
            lost.append((round_, codes, missing, text[:200]))
    assert not lost, f"{len(lost)} of 50 rounds lost data; first: {lost[0]}"
