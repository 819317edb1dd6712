"""A long-lived child (ComfyUI, Ollama, a benchmark worker): start, pump its output, poll, wait, signal, stop.

Output (stdout and stderr together) goes through a pump thread that passes each line to a sink (our stderr,
or prefixed by `ipex up`), appends it to a log file and keeps the last lines for error messages. Without a log
file and sink the child writes straight to ours (`stdout`/`stderr` as given).
"""

from __future__ import annotations

import collections
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Mapping, Sequence

from ..errors import FailedError, IpexError
from .spawn import STOP_GRACE_S, reap, shell_code, signal_group, spawn, stop_group

TAIL_LINES = 40
HINT_TAIL_LINES = 8
_PUMP_JOIN_S = 5.0


class LogPump:
    """Reads a child's output line by line: passes each on, appends it to a log file, keeps the tail."""

    def __init__(self, stream: IO[bytes], log_path: str | None, sink: Callable[[str], None] | None,
                 name: str = "child") -> None:
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._stream = stream
        self._sink = sink
        self._log = open(log_path, "w", encoding="utf-8", errors="replace") if log_path else None  # noqa: SIM115
        self._thread = threading.Thread(target=self.run, name=f"{name}-log", daemon=True)
        self._thread.start()

    def run(self) -> None:
        try:
            for raw in iter(self._stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self.tail.append(line)
                if self._log is not None:
                    self._log.write(line + "\n")
                    self._log.flush()
                if self._sink is not None:
                    try:
                        self._sink(line)
                    except (OSError, ValueError):
                        self._sink = None  # our stderr went away; keep logging to the file
        except (OSError, ValueError):
            pass  # the pipe was closed under us
        finally:
            self._stream.close()
            if self._log is not None:
                self._log.close()

    def join(self, timeout: float = _PUMP_JOIN_S) -> None:
        self._thread.join(timeout)


class Child:
    """One supervised child. `error` is the exception type start failures raise (ComfyUIError, OllamaError)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        log_path: str | Path | None = None,
        sink: Callable[[str], None] | None = None,
        error: type[IpexError] = FailedError,
        missing_hint: str | None = None,
        stdout: Any = None,
        stderr: Any = None,
        popen: Callable[..., Any] = subprocess.Popen,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.log_path = str(log_path) if log_path is not None else None
        self.sink = sink
        self.error = error
        self.missing_hint = missing_hint
        self._stdout, self._stderr = stdout, stderr
        self._popen = popen
        self.proc: Any = None
        self.pump: LogPump | None = None
        self.signals_sent: list[int] = []
        self._code: int | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def pumped(self) -> bool:
        return self.log_path is not None or self.sink is not None

    def start(self) -> Child:
        if self.log_path is not None:
            try:
                Path(self.log_path).parent.mkdir(parents=True, exist_ok=True)
                Path(self.log_path).touch()
            except OSError as exc:
                raise self.error(f"cannot write {self.name}'s log {self.log_path}: {exc.strerror or exc}",
                                 hint="set IPEX_INTEGRATION_HOME to a writable folder") from None
        if self.pumped:
            streams = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
        else:
            streams = {"stdout": self._stdout, "stderr": self._stderr}
        try:
            self.proc = spawn(self.argv, env=self.env, cwd=self.cwd, popen=self._popen, **streams)
        except FileNotFoundError:
            raise self.error(f"cannot start {self.name}: {self.argv[0]} does not exist",
                             hint=self.missing_hint) from None
        except PermissionError:
            raise self.error(f"cannot start {self.name}: {self.argv[0]}: permission denied",
                             hint=f"chmod +x {self.argv[0]}") from None
        if self.pumped:
            self.pump = LogPump(self.proc.stdout, self.log_path, self.sink, self.name)
        return self

    def poll(self) -> int | None:
        """The shell exit code once it has exited, else None."""
        if self.proc is None:
            return None
        code = self.proc.poll()
        return None if code is None else shell_code(code)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, signum: int) -> None:
        """`signum` to the child's whole process group."""
        if self.running():
            self.signals_sent.append(signum)
            signal_group(self.proc, signum)

    def wait(self, timeout: float | None = None) -> int:
        """Its shell exit code (subprocess.TimeoutExpired after `timeout`); the log pump is drained too."""
        if self._code is None:
            if timeout is not None:
                self.proc.wait(timeout=timeout)
            self._code = reap(self.proc)
            self._join_pump()
        return self._code

    def wait_until(self, probe: Callable[[], Any], *, timeout: float, interval: float,
                   exited: Callable[[int], BaseException], silent: Callable[[], BaseException],
                   cancelled: Callable[[], bool] = lambda: False, clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] = time.sleep) -> Any:
        """A server's start: `probe()` every `interval` s until it answers (not None), which is returned; None as
        soon as `cancelled()`. The child exiting first raises `exited(its shell code)`; no answer within
        `timeout` s stops the child and raises `silent()`."""
        deadline = clock() + timeout
        while True:
            if cancelled():
                return None
            code = self.proc.poll()
            if code is not None:
                raise exited(shell_code(code))
            answer = probe()
            if answer is not None:
                return answer
            if clock() >= deadline:
                self.stop()
                raise silent()
            sleep(interval)

    def stop(self, signum: int = signal.SIGTERM, grace: float = STOP_GRACE_S) -> int | None:
        """`signum` (SIGTERM) to the group, SIGKILL after `grace` s; the exit code (None if never started)."""
        if self.proc is None:
            return None
        if self._code is None:
            if self.running():
                self.signals_sent.append(signum)
            self._code = stop_group(self.proc, signum=signum, grace=grace)
            self._join_pump()
        return self._code

    def tail(self, n: int = HINT_TAIL_LINES) -> tuple[str, ...]:
        """The last `n` non-blank output lines (when pumped)."""
        if self.pump is None:
            return ()
        if self.proc is not None and self.proc.poll() is not None:
            self.pump.join(2.0)  # let the pump read what the child wrote just before exiting
        lines = [line for line in self.pump.tail if line.strip()]
        return tuple(lines[-n:])

    def _join_pump(self) -> None:
        if self.pump is not None:
            self.pump.join()

    def __enter__(self) -> Child:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        """Leaving the block (an exception, Ctrl-C, Interrupted) stops the child's tree."""
        self.stop()
