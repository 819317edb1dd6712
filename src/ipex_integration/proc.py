"""The one seam through which the library runs short external commands (nvidia-smi, ldconfig, probes).

Tests pass a fake `Runner` that records calls and answers like the real program would.
Long-lived children (ComfyUI, Ollama) are started by the launchers, not through this.
"""

from __future__ import annotations

import subprocess
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
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            input=input,
            errors="replace",
        )
    except FileNotFoundError as exc:
        return CommandResult(argv, 127, "", str(exc), not_found=True)
    except PermissionError as exc:
        return CommandResult(argv, 126, "", str(exc), not_found=True)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return CommandResult(argv, -1, out, err, timed_out=True)
    return CommandResult(argv, done.returncode, done.stdout, done.stderr)
