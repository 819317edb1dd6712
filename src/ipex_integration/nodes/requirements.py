"""Install a node's requirements.txt into a backend environment without letting it replace that
environment's torch: torch, torchvision and torchaudio (and IPEX, which is built for one torch) are pinned to
the versions already there by a pip constraints file, so a node asking for `torch` never swaps an XPU build for
a CUDA one. `pip check` runs afterwards; its conflicts are reported for that environment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ..proc import CommandResult, Runner, run_command
from ..runtime.model import Environment
from .model import EnvRequirements, NodeError

PINNED = ("torch", "torchvision", "torchaudio", "intel-extension-for-pytorch")
PIP_TIMEOUT = 1800.0  # wheels such as opencv or mediapipe over a slow link
QUERY_TIMEOUT = 60.0
# Runs in the backend environment (never imported here): the installed versions of PINNED, as JSON.
_VERSIONS_SCRIPT = (
    "import importlib.metadata as m, json, sys\n"
    "out = {}\n"
    "for name in sys.argv[1:]:\n"
    "    try:\n"
    "        out[name] = m.version(name)\n"
    "    except m.PackageNotFoundError:\n"
    "        pass\n"
    "print(json.dumps(out))\n"
)


def _tail(result: CommandResult, n: int = 4) -> str:
    if result.not_found:
        return "interpreter not found"
    if result.timed_out:
        return "timed out"
    lines = [l.strip() for l in (result.stderr + "\n" + result.stdout).splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("ERROR")]
    return " / ".join((errors or lines)[-n:]) or f"exit code {result.returncode}"


def pinned_versions(python: str, runner: Runner = run_command) -> dict[str, str]:
    result = runner([python, "-c", _VERSIONS_SCRIPT, *PINNED], timeout=QUERY_TIMEOUT)
    if not result.ok:
        raise NodeError(f"cannot ask {python} for its torch version: {_tail(result)}")
    try:
        data = json.loads(result.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise NodeError(f"{python} gave an unreadable answer about its packages: {result.stdout[:200]!r}") from None
    return {str(k): str(v) for k, v in data.items()}


def constraint_lines(versions: dict[str, str]) -> tuple[str, ...]:
    # `==` with the local label (+xpu, +cu128) matches only that exact build.
    return tuple(f"{name}=={versions[name]}" for name in PINNED if name in versions)


def install_requirements(
    env: Environment,
    requirements: Path,
    workdir: Path,
    runner: Runner = run_command,
    env_vars: dict[str, str] | None = None,
) -> EnvRequirements:
    """pip install -r requirements -c constraints in `env`, then pip check. Raises NodeError when pip fails."""
    constraints = constraint_lines(pinned_versions(env.python, runner))
    constraints_file = workdir / f"constraints-{env.name}.txt"
    constraints_file.write_text("".join(line + "\n" for line in constraints), encoding="utf-8")
    argv: Sequence[str] = [
        env.python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
        "-r", str(requirements), "-c", str(constraints_file),
    ]
    result = runner(argv, timeout=PIP_TIMEOUT, env=env_vars)
    if not result.ok:
        pinned = f" (pinned: {', '.join(constraints)})" if constraints else ""
        raise NodeError(f"installing {requirements.name} into environment {env.name!r} ({env.python}) failed{pinned}: "
                        f"{_tail(result)}")
    check = runner([env.python, "-m", "pip", "check", "--disable-pip-version-check"], timeout=QUERY_TIMEOUT, env=env_vars)
    conflicts: tuple[str, ...] = ()
    if not check.ok:
        conflicts = tuple(l.strip() for l in check.stdout.splitlines() if l.strip()) or (_tail(check),)
    return EnvRequirements(env=env.name, python=env.python, constraints=constraints, conflicts=conflicts)
