"""Run library code in a real child process that turns SIGTERM into `errors.Interrupted` (as the CLI boundary
does) and SIGINT into KeyboardInterrupt, interrupt it at a chosen moment, and see what it left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]
INTERRUPTED_EXIT = 99  # the child's exit code when the library let Interrupted/KeyboardInterrupt out

PRELUDE = f"""
import signal, sys
from ipex_integration.errors import Interrupted

def _interrupted(signum, frame):
    raise Interrupted(signum)

signal.signal(signal.SIGTERM, _interrupted)
signal.signal(signal.SIGINT, signal.default_int_handler)  # a background start may have SIGINT ignored
try:
    exec(compile(sys.argv[1], "<child>", "exec"))
except (Interrupted, KeyboardInterrupt):
    sys.exit({INTERRUPTED_EXIT})
"""


def start(body: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])
    return subprocess.Popen([sys.executable, "-c", PRELUDE, body, *args], env=child_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_descendant(child: subprocess.Popen, matches: Callable[[list[str]], bool], timeout: float = 120.0):
    """The child's descendants once one whose command line `matches` runs (so a grandchild is in the tree)."""
    parent = psutil.Process(child.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            out, err = child.communicate()
            raise AssertionError(f"child exited {child.returncode} before the moment to interrupt: {err[-2000:]}")
        try:
            tree = parent.children(recursive=True)
            if any(matches(p.cmdline()) for p in tree):
                return tree
        except psutil.Error:
            pass
        time.sleep(0.01)
    raise AssertionError("the moment to interrupt never came")


def interrupt(child: subprocess.Popen, signum: int) -> tuple[int, str]:
    os.kill(child.pid, signum)
    try:
        _out, err = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()
        raise
    return child.returncode, err


def alive(processes) -> list[str]:
    """Those of `processes` still running (zombies waiting for their reaper count as gone)."""
    left = []
    deadline = time.monotonic() + 0.3  # SIGKILL is sent, not instantly delivered; a survivor would outlast this
    while True:
        left = []
        for p in processes:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    left.append(" ".join(p.cmdline()))
            except psutil.Error:
                pass
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def mentioning(path: Path) -> list[psutil.Process]:
    """Every process whose command line or working directory names `path` (or a path below it)."""
    text, found = str(path), []
    for p in psutil.process_iter():
        try:
            if p.pid != os.getpid() and (text in " ".join(p.cmdline()) or p.cwd().startswith(text)):
                found.append(p)
        except psutil.Error:
            pass
    return found


def kill_tree(processes) -> None:
    """Test hygiene after a failed assertion: never leave a process of ours running."""
    for p in processes:
        try:
            p.kill()
        except psutil.Error:
            pass


SIGNALS = (signal.SIGTERM, signal.SIGINT)
