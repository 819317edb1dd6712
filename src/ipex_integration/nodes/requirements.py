"""A node's requirements.txt into a backend environment, through the one requirements installer
(runtime/requirements.py: torch and its companions pinned by a constraints file, `pip check` after)."""

from __future__ import annotations

from pathlib import Path

from ..proc import Runner, run_command
from ..runtime import requirements as installer
from ..runtime.model import Environment
from .model import EnvRequirements, NodeError


def install_requirements(
    env: Environment,
    requirements: Path,
    runner: Runner = run_command,
    env_vars: dict[str, str] | None = None,
) -> EnvRequirements:
    """pip install -r requirements with torch pinned in `env`, then pip check. Raises NodeError when pip fails."""
    done = installer.install_requirements(env, requirements, runner=runner, environ=env_vars, error=NodeError)
    return EnvRequirements(env=env.name, python=env.python, constraints=done.constraints, conflicts=done.conflicts,
                           skipped=done.skipped)
