"""The git operations the node tools need, on the project's one git helper (`ipex_integration.git`).

URLs and refs are validated by the manifest (none starts with "-"), so they cannot be read as options.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from .. import git as _git
from ..proc import Runner, run_command
from .model import NodeError

_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_NETWORK_HINT = "check the URL and your network (git ls-remote URL)"


class Git(_git.Git):
    def __init__(self, runner: Runner = run_command, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(runner, environ, error=NodeError)

    def ls_remote(self, url: str, ref: str | None) -> str:
        """The commit `ref` (branch, tag, full ref name, or HEAD when None) points to at `url`."""
        wanted = ref or "HEAD"
        if _SHA.match(wanted):
            return wanted
        # All refs: a pattern would hide the peeled "^{}" tag entries.
        result = self.check(["ls-remote", url], what=f"cannot list {url}", timeout=_git.REMOTE_TIMEOUT, hint=_NETWORK_HINT)
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
        self.check(["init", "--quiet", str(dest)], what=f"git init failed in {dest}")
        self.check(["remote", "add", "origin", url], what=f"git remote failed in {dest}", cwd=dest)
        shallow = self.run(["fetch", "--quiet", "--depth", "1", "origin", rev], timeout=_git.TRANSFER_TIMEOUT, cwd=dest)
        if not shallow.ok:
            self.check(["fetch", "--quiet", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*"],
                       what=f"cannot fetch {url}", timeout=_git.TRANSFER_TIMEOUT, cwd=dest, hint=_NETWORK_HINT)
        self.check(["checkout", "--quiet", "--detach", rev], what=f"{url} has no commit {rev}",
                   timeout=_git.TRANSFER_TIMEOUT, cwd=dest,
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
