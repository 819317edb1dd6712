"""Short external commands (nvidia-smi, ldconfig, probes): the seam the library runs them through.

Tests pass a fake `Runner` that records calls and answers like the real program would. A timeout, Ctrl-C or
`errors.Interrupted` stops the command's whole process tree (a hung probe's grandchildren too) before the
result comes back or the exception goes on.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Protocol, Sequence, TypeVar

from .spawn import reap, spawn, stop_all, stop_group

KILL_GRACE_S = 0.5  # a timed-out command gets this long after SIGTERM before SIGKILL: it has failed already
_DRAIN_S = 2.0  # reading what is left of its output after the kill (a grandchild that escaped our group keeps
#                 the pipe open: we do not wait for it)
MAX_PARALLEL = 16

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False
    not_found: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.not_found


class Runner(Protocol):
    def __call__(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> CommandResult: ...


def run_command(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> CommandResult:
    """Run argv (never through a shell), capture text output, turn failures into a result, not an exception.
    An exception while waiting (KeyboardInterrupt, Interrupted) stops the command's tree and goes on."""
    argv = tuple(str(a) for a in argv)
    try:
        proc = spawn(list(argv), stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                     env=dict(env) if env is not None else None)
    except FileNotFoundError as exc:
        return CommandResult(argv, 127, "", str(exc), not_found=True)
    except PermissionError as exc:
        return CommandResult(argv, 126, "", str(exc), not_found=True)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc, grace=KILL_GRACE_S)
        out, err = _drain(proc)
        return CommandResult(argv, -1, out, err, timed_out=True)
    except BaseException:
        stop_group(proc, grace=KILL_GRACE_S)
        _drain(proc)
        raise
    return CommandResult(argv, reap(proc), out, err)


def _drain(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=_DRAIN_S)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        return "", ""
    return out or "", err or ""


def in_parallel(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """fn(item) for every item at once, each in its own thread; the results in order. Each call runs its own
    child and waits for it, so the parent-death gotcha (see spawn) does not bite. Several probes with one
    timeout thus end within about that timeout together. An interrupt stops every child and goes on."""
    items = list(items)
    if len(items) <= 1:
        return [fn(item) for item in items]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(len(items), MAX_PARALLEL),
                                                 thread_name_prefix="ipex-parallel")
    futures: list[concurrent.futures.Future] = []
    try:
        futures.extend(pool.submit(fn, item) for item in items)
        return [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        stop_all()
        raise
    finally:
        pool.shutdown(wait=True)
