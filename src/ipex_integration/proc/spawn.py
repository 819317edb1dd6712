"""Start a child so that it cannot outlive us, and stop a child's whole process tree.

Every child gets its own process group (a terminal's Ctrl-C reaches only us; we decide what the child gets,
once) and, on Linux, the parent-death signal: when the launcher dies, even by SIGKILL, the kernel sends the
child DEATH_SIGNAL.

DEATH_SIGNAL is SIGTERM, not SIGKILL: ComfyUI (Python) and probes exit on it at once, and `ollama serve`
answers it by stopping its runner processes, which SIGKILL would leave orphaned on the GPU. A child that
ignores SIGTERM outlives a SIGKILLed launcher; none of ours does.

The kernel sends the parent-death signal when the *thread* that forked the child exits, not the process. So a
child must be started from a thread that lives as long as the child: the main thread for long-lived children;
a worker thread only for a child it also waits for (`run_command` does, so probes may run in a thread pool).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable

from ..errors import signal_exit_code

DEATH_SIGNAL = signal.SIGTERM
STOP_GRACE_S = 10.0  # a server's time to shut down cleanly (Ollama unloads its models) before SIGKILL
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_POLL_S = 0.02
_HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}  # held while a child is being started (spawn)

# Every child started here and not yet reaped, so an interrupt can stop them all (stop_all).
_live: set[subprocess.Popen] = set()
_live_lock = threading.Lock()


def _death_signal_setter(signum: int) -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: preexec_fn must not import or allocate much
    parent = os.getpid()

    def preexec() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)  # the mask spawn() held survives exec: lift it
        libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
        if os.getppid() != parent:  # the launcher died before prctl took effect
            os.kill(os.getpid(), int(signum))

    return preexec


def spawn(argv: list[str], *, death_signal: int = DEATH_SIGNAL, popen: Callable[..., Any] = subprocess.Popen,
          **kwargs: Any) -> Any:
    """Popen(argv, **kwargs) in a new process group with the parent-death signal set. OSError as Popen's."""
    kwargs.setdefault("process_group", 0)
    preexec = _death_signal_setter(death_signal)
    if preexec is not None:
        kwargs.setdefault("preexec_fn", preexec)
    # An interrupt raised inside Popen, after the fork but before it returns, would leave a child we hold no
    # handle to (still writing into a folder our `finally` is removing): hold the signals until it returns.
    hold = preexec is not None and threading.current_thread() is threading.main_thread()
    if hold:
        signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        proc = popen(argv, **kwargs)
    except BaseException:
        if hold:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
        raise
    if isinstance(proc, subprocess.Popen):
        with _live_lock:
            _live.add(proc)
    if hold:
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)  # a pending signal's handler runs here
        except BaseException:
            stop_group(proc, grace=0.5)  # the caller never got the handle: stop the child ourselves
            raise
    return proc


def shell_code(returncode: int) -> int:
    """A child killed by signal N exits as a shell reports it: 128 + N."""
    return signal_exit_code(-returncode) if returncode < 0 else returncode


def signal_group(proc: Any, signum: int) -> None:
    """`signum` to the child's whole process group (the child and everything it started)."""
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def _exited(proc: Any) -> bool:
    """Whether the child has exited, without reaping it: while it is a zombie its pid (our group id) cannot be
    reused, so a later killpg cannot hit a stranger."""
    if getattr(proc, "returncode", None) is not None:
        return True
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return proc.poll() is not None  # reaped elsewhere (or not our child)


def stop_group(proc: Any, *, signum: int = signal.SIGTERM, grace: float = STOP_GRACE_S,
               clock: Callable[[], float] = time.monotonic) -> int:
    """Send `signum` to the group, wait up to `grace` s for the child, then SIGKILL the group (whatever is
    left of it, grandchildren included) and reap the child. Its shell exit code."""
    if not _exited(proc):
        signal_group(proc, signum)
        deadline = clock() + grace
        while not _exited(proc) and clock() < deadline:
            time.sleep(_POLL_S)
    signal_group(proc, signal.SIGKILL)  # the stragglers: a grandchild that ignored signum, or the child itself
    _wait_group_gone(proc.pid)
    return reap(proc)


GROUP_GONE_S = 2.0  # how long a SIGKILLed group may take to vanish (processes in uninterruptible I/O)


def _wait_group_gone(pgid: int, timeout: float = GROUP_GONE_S) -> None:
    """Wait until no process but the (unreaped, zombie) leader is left in the group, so that when we return
    nothing of it still writes: callers remove the folder it was writing into right after (git fetching into
    a staging folder, venv into a new environment)."""
    deadline = time.monotonic() + timeout
    while _group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _group_members(pgid: int) -> list[int]:
    members = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members  # no /proc: nothing to wait on
    for name in entries:
        if not name.isdigit() or int(name) == pgid:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):  # state, ppid, pgrp
            members.append(int(name))
    return members


def reap(proc: Any) -> int:
    code = proc.wait()
    with _live_lock:
        _live.discard(proc)
    return shell_code(code)


def stop_all(grace: float = 0.5) -> None:
    """Stop every child still running (an interrupt while worker threads wait for theirs)."""
    with _live_lock:
        running = list(_live)
    for proc in running:
        signal_group(proc, signal.SIGTERM)
    for proc in running:
        stop_group(proc, grace=grace)
