"""The one seam through which the library runs short external commands (nvidia-smi, ldconfig, probes).

Tests pass a fake `Runner` that records calls and answers like the real program would.
Long-lived children (ComfyUI, Ollama) are started by the launchers, not through this.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence


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
    """Run argv (never through a shell), capture text output, turn failures into a result, not an exception."""
    argv = tuple(str(a) for a in argv)
    try:
        returncode, stdout, stderr = _run_killing_group(argv, timeout=timeout, env=env, input=input)
    except FileNotFoundError as exc:
        return CommandResult(argv, 127, "", str(exc), not_found=True)
    except PermissionError as exc:
        return CommandResult(argv, 126, "", str(exc), not_found=True)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return CommandResult(argv, -1, out, err, timed_out=True)
    return CommandResult(argv, returncode, stdout, stderr)


def _run_killing_group(
    argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None, input: str | None
) -> tuple[int, str, str]:
    """subprocess.run, but the child gets its own process group and the whole group is killed when we stop
    waiting for any reason (timeout, Ctrl-C, `errors.Interrupted`): a `venv` -> `ensurepip` -> pip or a
    `git fetch` -> `git-remote-http` chain must not outlive us and keep writing into a folder we remove."""
    with subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if input is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env=dict(env) if env is not None else None,
        start_new_session=True,
    ) as child:
        try:
            stdout, stderr = child.communicate(input, timeout=timeout)
        except BaseException:
            _kill_group(child)
            raise
        return child.returncode, stdout, stderr


def _kill_group(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    child.wait()
    # SIGKILL is sent, not yet delivered: wait (briefly) until the group is gone, so a caller's cleanup that
    # follows cannot race a grandchild's last write.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            os.killpg(child.pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.01)
