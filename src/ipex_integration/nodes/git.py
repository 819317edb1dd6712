"""The few git operations the node tools need, run through the proc.Runner seam.

Git runs with a child environment that never prompts (GIT_TERMINAL_PROMPT=0), never smudges LFS pointers, and
with `core.autocrlf=false`, so a checkout holds the bytes the GitHub tarball (what Nix hashes) holds.
URLs and refs are validated by the manifest (none starts with "-"), so they cannot be read as options.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping, Sequence

from ..proc import CommandResult, Runner, run_command
from .model import NodeError

CLONE_TIMEOUT = 900.0  # a large node repository over a slow link
QUERY_TIMEOUT = 120.0
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_CONFIG = ("-c", "core.autocrlf=false", "-c", "advice.detachedHead=false", "-c", "init.defaultBranch=main")


def git_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_LFS_SKIP_SMUDGE": "1", "GIT_ASKPASS": "true", "LC_ALL": "C"})
    return env


def _last_lines(result: CommandResult, n: int = 3) -> str:
    text = (result.stderr or result.stdout).strip()
    if result.not_found:
        return "git is not installed"
    if result.timed_out:
        return "timed out"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " / ".join(lines[-n:]) or f"exit code {result.returncode}"


class Git:
    def __init__(self, runner: Runner = run_command, environ: Mapping[str, str] | None = None) -> None:
        self.runner = runner
        self.env = git_env(environ)

    def run(self, args: Sequence[str], *, timeout: float = QUERY_TIMEOUT, cwd: Path | None = None) -> CommandResult:
        argv = ["git", *_CONFIG]
        if cwd is not None:
            argv += ["-C", str(cwd)]
        return self.runner([*argv, *args], timeout=timeout, env=self.env)

    def ls_remote(self, url: str, ref: str | None) -> str:
        """The commit `ref` (branch, tag, full ref name, or HEAD when None) points to at `url`."""
        wanted = ref or "HEAD"
        if _SHA.match(wanted):
            return wanted
        result = self.run(["ls-remote", url])  # all refs: a pattern would hide the peeled "^{}" tag entries
        if not result.ok:
            raise NodeError(f"cannot list {url}: {_last_lines(result)}",
                            hint="check the URL and your network (git ls-remote URL)")
        refs: dict[str, str] = {}
        for line in result.stdout.splitlines():
            sha, _, name = line.partition("\t")
            if sha and name:
                refs[name.strip()] = sha.strip()
        # An annotated tag's commit is the peeled entry (^{}); an exact full name wins over a short one.
        for name in (f"{wanted}^{{}}", wanted, f"refs/tags/{wanted}^{{}}", f"refs/tags/{wanted}", f"refs/heads/{wanted}"):
            if name in refs:
                return refs[name]
        raise NodeError(f"{url} has no branch or tag named {wanted!r}",
                        hint=f"list them with: git ls-remote {url}")

    def fetch_tree(self, url: str, rev: str, dest: Path) -> None:
        """Make `dest` a checkout of commit `rev` of `url` (a repository with remote `origin`).

        Tries a shallow fetch of just that commit first (GitHub and git >= 2.5 servers allow it), then falls
        back to fetching all branches and tags.
        """
        dest.mkdir(parents=True, exist_ok=True)
        steps = [["init", "--quiet", str(dest)], ["remote", "add", "origin", url]]
        for i, args in enumerate(steps):
            result = self.run(args, cwd=None if i == 0 else dest)
            if not result.ok:
                raise NodeError(f"git {args[0]} failed in {dest}: {_last_lines(result)}")
        shallow = self.run(["fetch", "--quiet", "--depth", "1", "origin", rev], timeout=CLONE_TIMEOUT, cwd=dest)
        if not shallow.ok:
            full = self.run(
                ["fetch", "--quiet", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*"],
                timeout=CLONE_TIMEOUT, cwd=dest,
            )
            if not full.ok:
                raise NodeError(f"cannot fetch {url}: {_last_lines(full)}",
                                hint="check the URL and your network (git ls-remote URL)")
        checkout = self.run(["checkout", "--quiet", "--detach", rev], timeout=CLONE_TIMEOUT, cwd=dest)
        if not checkout.ok:
            raise NodeError(f"{url} has no commit {rev}: {_last_lines(checkout)}",
                            hint="the revision may have been force-pushed away; run `ipex nodes lock --update`")

    def gitlink(self, repo: Path, rev: str, path: str) -> str | None:
        """The commit a submodule at `path` is pinned to in commit `rev` of the checkout `repo`."""
        result = self.run(["ls-tree", rev, "--", path], cwd=repo)
        if not result.ok:
            return None
        for line in result.stdout.splitlines():
            meta, _, _name = line.partition("\t")
            parts = meta.split()
            if len(parts) == 3 and parts[1] == "commit":
                return parts[2]
        return None
