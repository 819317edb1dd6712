"""The one way the project runs git: one child environment, one timeout policy, one error text.

Git runs through the proc.Runner seam (so the supervisor's group kill covers it and tests can record calls),
with a child environment that never prompts (GIT_TERMINAL_PROMPT=0, GIT_ASKPASS=true), never smudges LFS
pointers and speaks C locale, and with `core.autocrlf=false` so a checkout holds the bytes the repository
holds, whatever the user's config says. The working directory is always given as `git -C DIR`.
Callers pass the exception class their layer raises (NodeError, ComfyUIError); the text is built here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping, Sequence

from .errors import FailedError, IpexError
from .proc import CommandResult, Runner, run_command

# The timeout policy: local queries are instant unless something is wrong; a remote query waits for a slow
# server; a transfer (clone, fetch, checkout of a large tree) waits for a slow link.
LOCAL_TIMEOUT = 30.0
REMOTE_TIMEOUT = 120.0
TRANSFER_TIMEOUT = 900.0

CONFIG = ("-c", "core.autocrlf=false", "-c", "advice.detachedHead=false", "-c", "init.defaultBranch=main")
ERROR_LIMIT = 300  # characters of git's text in one error line
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class GitError(FailedError):
    """A git command failed (the default error class of `Git`)."""


def git_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_LFS_SKIP_SMUDGE": "1", "GIT_ASKPASS": "true", "LC_ALL": "C"})
    env.pop("GIT_DIR", None)  # an inherited GIT_DIR/GIT_WORK_TREE would point every -C at another repository
    env.pop("GIT_WORK_TREE", None)
    return env


def error_text(result: CommandResult, lines: int = 3, limit: int = ERROR_LIMIT) -> str:
    """git's reason in one line: its `fatal:`/`error:` lines (the rest is advice), else its last lines;
    control characters (a NUL, escape sequences) removed and the length capped."""
    if result.not_found:
        return "git is not installed"
    if result.timed_out:
        return "timed out"
    text = _CONTROL.sub("", result.stderr if (result.stderr or "").strip() else (result.stdout or ""))
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line.split(":", 1)[1].strip() for line in kept if line.startswith(("fatal:", "error:"))]
    one = " / ".join((errors or kept)[-lines:]) or f"exit code {result.returncode}"
    return one if len(one) <= limit else one[: limit - 3] + "..."


class Git:
    def __init__(
        self,
        runner: Runner = run_command,
        environ: Mapping[str, str] | None = None,
        *,
        error: type[IpexError] = GitError,
    ) -> None:
        self.runner = runner
        self.env = git_env(environ)
        self.error = error

    def run(self, args: Sequence[str], *, cwd: Path | str | None = None, timeout: float = LOCAL_TIMEOUT) -> CommandResult:
        argv = ["git", *CONFIG]
        if cwd is not None:
            argv += ["-C", str(cwd)]
        return self.runner([*argv, *args], timeout=timeout, env=self.env)

    def check(
        self,
        args: Sequence[str],
        *,
        what: str,
        cwd: Path | str | None = None,
        timeout: float = LOCAL_TIMEOUT,
        hint: str | None = None,
    ) -> CommandResult:
        """Run git; when it fails raise `self.error("{what}: {git's reason}")`."""
        result = self.run(args, cwd=cwd, timeout=timeout)
        if result.not_found:
            raise self.error("git is not installed", hint="install git")
        if not result.ok:
            raise self.error(f"{what}: {error_text(result)}", hint=hint)
        return result

    def commit_of(self, repo: Path | str, ref: str = "HEAD") -> str | None:
        """The commit `ref` names in the checkout `repo`, or None."""
        result = self.run(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=repo)
        sha = result.stdout.strip()
        return sha if result.ok and sha else None

    def describe(self, repo: Path | str) -> str | None:
        result = self.run(["describe", "--tags", "--always"], cwd=repo)
        text = result.stdout.strip()
        return text if result.ok and text else None
