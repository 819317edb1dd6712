"""The fault suite's one judge: run a command, then check what a user would check.

For every case: the exit code is the expected one; stderr holds exactly one `PROG: error: ...` line (at most one
`hint:` line, any number of `warning:` lines, nothing else), no traceback, no control characters, and no line
longer than `MAX_LINE`; the files the user had are byte-for-byte as before unless the case says it changes them;
no temp leftovers (`*.tmp`, `.ipex-tmp`, `.venv.creating-*`, `ipex-bench-*`); no process left running.

Two ways to run a command:
- `run_inprocess(entry, argv)`: the real entry point's `main(argv)`, in this process, with stdout/stderr captured.
  Any exception that escapes `main` is what would have been a traceback. Fast, for the big bad-input tables.
- `run_subprocess(argv)`: the installed console script in a child process, for signals, disks and races. Every
  child gets a marker variable, so a process left behind is found in /proc by its environment, whatever its name.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

MAX_LINE = 400  # an error line longer than this is a dump, not a message
MARKER = "IPEX_FAULT_CASE"
BIN = Path(sys.executable).parent
TEMP_PATTERNS = ("*.tmp", "*.ipex-tmp*", ".venv.creating-*", "ipex-bench-*", "*.creating-*")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

ENTRY_POINTS: Mapping[str, str] = {
    "ipex": "ipex_integration.cli.main:main",
    "ipex-benchmark": "ipex_integration.cli.benchmark:main",
    "comfyui-ipex": "ipex_integration.cli.comfyui:main_auto",
    "comfyui-cuda": "ipex_integration.cli.comfyui:main_cuda",
    "comfyui-xpu": "ipex_integration.cli.comfyui:main_xpu",
    "ollama-ipex": "ipex_integration.cli.ollama:main",
}


@dataclass
class Outcome:
    argv: tuple[str, ...]
    code: int | None
    stdout: str
    stderr: str
    escaped: BaseException | None = None  # in-process: an exception main() let out (a traceback to a user)
    leftovers: list[str] = field(default_factory=list)  # processes still running, by pid and argv

    def describe(self) -> str:
        return (f"argv={list(self.argv)!r} code={self.code}\n--- stderr ---\n{self.stderr[-3000:]}"
                f"\n--- stdout ---\n{self.stdout[-1500:]}"
                + (f"\n--- escaped ---\n{self.escaped!r}" if self.escaped else ""))


def _entry(name: str) -> Callable[[Sequence[str]], int]:
    import importlib

    module, func = ENTRY_POINTS[name].split(":")
    return getattr(importlib.import_module(module), func)


def run_inprocess(argv: Sequence[str], *, stdin: str = "") -> Outcome:
    """argv[0] names the command (a key of ENTRY_POINTS); the rest is its argv."""
    out, err = io.StringIO(), io.StringIO()
    code: int | None = None
    escaped: BaseException | None = None
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = _entry(argv[0])(list(argv[1:]))
            except SystemExit as exc:  # argparse exits; that is allowed, with its code
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if not isinstance(exc.code, (int, type(None))):
                    err.write(f"{exc.code}\n")
    except BaseException as exc:  # noqa: BLE001 - the point is to catch what a user would see as a traceback
        escaped = exc
    finally:
        sys.stdin = old_stdin
    return Outcome(tuple(argv), code, out.getvalue(), err.getvalue(), escaped)


def child_env(extra: Mapping[str, str] | None = None, *, base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env[MARKER] = uuid.uuid4().hex
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def start(argv: Sequence[str], *, env: Mapping[str, str], cwd: str | os.PathLike[str] | None = None,
          user: str | None = None) -> subprocess.Popen:
    """Start a console script (argv[0] a name in the venv's bin) as a real process, optionally as another user."""
    command = [str(BIN / argv[0]) if "/" not in argv[0] else argv[0], *argv[1:]]
    if user is not None:
        import pwd

        gid = pwd.getpwnam(user).pw_gid
        command = ["setpriv", f"--reuid={user}", f"--regid={gid}", "--clear-groups", "--", *command]
    return subprocess.Popen(command, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace")


def finish(proc: subprocess.Popen, env: Mapping[str, str], argv: Sequence[str], *, timeout: float = 60) -> Outcome:
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        stderr += f"\n[fault suite: killed after {timeout} s]"
    left = wait_for_no_processes(env[MARKER], within=3.0)
    return Outcome(tuple(argv), proc.returncode, stdout, stderr, leftovers=left)


def run_subprocess(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd=None, user: str | None = None,
                   timeout: float = 60) -> Outcome:
    env = child_env() if env is None else env
    return finish(start(argv, env=env, cwd=cwd, user=user), env, argv, timeout=timeout)


def processes_with_marker(marker: str) -> list[str]:
    """Live processes whose environment carries our marker (zombies count as gone)."""
    found = []
    needle = f"{MARKER}={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        found.append(f"{entry.name}: {cmd[:200]}")
    return found


def wait_for_no_processes(marker: str, within: float) -> list[str]:
    deadline = time.monotonic() + within
    while True:
        left = processes_with_marker(marker)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def kill_marked(marker: str) -> None:
    """Clean up after a failed case so one failure does not leave load for the rest of the suite."""
    for line in processes_with_marker(marker):
        with contextlib.suppress(OSError):
            os.kill(int(line.split(":")[0]), signal.SIGKILL)


# --- files -------------------------------------------------------------------------------------------------

def _ours(path: Path) -> bool:
    """Files that are the project's own bookkeeping, not the user's: filelock's `.NAME.lock` beside a file it
    guards, and anything under a `cache` folder of IPEX_INTEGRATION_HOME (probe results, flag sets)."""
    return (path.name.startswith(".") and path.name.endswith(".lock")) or "cache" in path.parts[-4:-1] \
        or path.name == "cache"


def snapshot(*roots: Path) -> dict[str, bytes | None]:
    """Every file under roots by path -> sha256 (None for a folder), so 'unchanged' means byte-for-byte.
    The project's own lock and cache files are left out (_ours)."""
    result: dict[str, bytes | None] = {}
    for root in roots:
        if not root.exists():
            continue
        items = [root] if root.is_file() else [root, *root.rglob("*")]
        for path in items:
            if _ours(path):
                continue
            if path.is_symlink():
                result[str(path)] = os.readlink(path).encode()
            elif path.is_dir():
                result[str(path)] = None
            else:
                with contextlib.suppress(OSError):
                    result[str(path)] = hashlib.sha256(path.read_bytes()).digest()
    return result


def changed(before: Mapping[str, bytes | None], after: Mapping[str, bytes | None]) -> list[str]:
    keys = set(before) | set(after)
    return sorted(k for k in keys if before.get(k, b"<absent>") != after.get(k, b"<absent>"))


def temp_leftovers(*roots: Path) -> list[str]:
    found: list[str] = []
    for root in roots:
        if not root.is_dir():
            continue
        for pattern in TEMP_PATTERNS:
            found += [str(p) for p in root.rglob(pattern) if not p.name.endswith(".lock")]
    return sorted(set(found))


# --- the judgement -----------------------------------------------------------------------------------------

def problems(outcome: Outcome, *, codes: Iterable[int], error: bool = True, prog: str | None = None) -> list[str]:
    """What is wrong with this outcome, as a list of reasons (empty: the case is clean)."""
    codes = set(codes)
    found: list[str] = []
    if outcome.escaped is not None:
        found.append(f"an exception escaped main(): {type(outcome.escaped).__name__}: {outcome.escaped}"[:300])
    if outcome.code not in codes:
        found.append(f"exit code {outcome.code}, expected one of {sorted(codes)}")
    if "Traceback (most recent call last)" in outcome.stderr or "Traceback" in outcome.stdout:
        found.append("a traceback was printed")
    if CONTROL.search(outcome.stderr):
        found.append("control characters in stderr")
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    long = [line for line in lines if len(line) > MAX_LINE]
    if long:
        found.append(f"{len(long)} stderr line(s) over {MAX_LINE} characters")
    if error:
        errors = [line for line in lines if re.match(r"^[\w.\- ]+: error: ", line)]
        hints = [line for line in lines if re.match(r"^[\w.\- ]+: hint: ", line)]
        other = [line for line in lines if line not in errors and line not in hints
                 and not re.match(r"^[\w.\- ]+: warning: ", line)]
        if len(errors) != 1:
            found.append(f"{len(errors)} error lines, expected exactly one")
        if len(hints) > 1:
            found.append(f"{len(hints)} hint lines, expected at most one")
        if other:
            found.append(f"{len(other)} other stderr line(s), e.g. {other[0][:120]!r}")
        if prog and errors and not errors[0].startswith(f"{prog}: error: "):
            found.append(f"error line does not start with '{prog}: error: '")
    if outcome.leftovers:
        found.append(f"processes left running: {outcome.leftovers[:3]}")
    return found


def assert_clean(outcome: Outcome, *, codes: Iterable[int], error: bool = True, prog: str | None = None,
                 before: Mapping[str, bytes | None] | None = None, after: Mapping[str, bytes | None] | None = None,
                 temp_roots: Sequence[Path] = ()) -> None:
    found = problems(outcome, codes=codes, error=error, prog=prog)
    if before is not None and after is not None:
        diff = changed(before, after)
        if diff:
            found.append(f"user files changed: {diff[:5]}")
    left = temp_leftovers(*temp_roots)
    if left:
        found.append(f"temp leftovers: {left[:5]}")
    assert not found, "; ".join(found) + "\n" + outcome.describe()
