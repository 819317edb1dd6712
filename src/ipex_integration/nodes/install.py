"""`ipex nodes install` and `ipex nodes remove`: put a verified tree into custom_nodes, or take one out,
without ever leaving the node directory half-changed.

Install: fetch into a temp directory inside custom_nodes (same filesystem, so renames are atomic; its name
ends in ".disabled", which ComfyUI skips), check out the pinned commit and submodules, compare NAR hashes,
install requirements into every backend environment, and only then rename the old directory aside, rename the
new one in, and delete the old one. Any failure before the swap deletes the temp directory and leaves the
existing node directory exactly as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from ..proc import Runner, run_command
from ..runtime.model import Environment
from .git import Git
from .manifest import NodeSpec
from .model import EnvRequirements, InstallOutcome, NodeError, NodeRefusedError
from .nar import nar_hash
from .requirements import install_requirements
from .state import Installed, InstalledSubmodule, read_state, write_state
from .verify import changed_parts

TEMP_SUFFIX = ".ipex-tmp.disabled"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Installer:
    custom_nodes: Path
    environments: Sequence[Environment] = ()  # where requirements go; empty = skip requirements
    git: Git | None = None
    runner: Runner = run_command  # for pip in the backend environments
    clock: Callable[[], datetime] = _utc_now

    def _workdir(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=TEMP_SUFFIX, dir=self.custom_nodes))

    def install(self, spec: NodeSpec, *, force: bool = False) -> InstallOutcome:
        """Install the pinned `spec`; raises NodeError (the old directory untouched) when anything fails."""
        if not spec.pinned:
            raise NodeError(f"{spec.name} is not pinned (rev and hash)", hint=f"run: ipex nodes lock {spec.name}")
        target = self.custom_nodes / spec.name
        existed = os.path.lexists(target)
        try:
            return self._install(spec, target, existed, force)
        except NodeError as exc:
            kept = f"; {target} was not changed" if existed else ""
            raise type(exc)(f"{spec.name}: {exc.message}{kept}", exc.hint) from None

    def _install(self, spec: NodeSpec, target: Path, existed: bool, force: bool) -> InstallOutcome:
        state = read_state(self.custom_nodes)
        prior = state.get(spec.name)
        rev, want = spec.source.rev, spec.source.hash
        if existed and not force:
            if prior is None:
                raise NodeRefusedError(f"{target} exists and was not installed by ipex",
                                hint="pass --force to replace it (the old directory is deleted only after success)")
            if target.is_dir():
                _, changed = changed_parts(target, prior)
                if changed:
                    raise NodeRefusedError(f"{target} has local edits (ipex nodes verify shows them)",
                                           hint="pass --force to replace them")
                if (prior.rev, prior.hash) == (rev, want):
                    return InstallOutcome(spec.name, rev, want, str(target), "up-to-date")
        work = self._workdir(spec.name)
        try:
            tree = work / "src"
            git = self.git or Git()
            git.fetch_tree(spec.source.url, rev, tree)
            for sub in spec.submodules:
                git.fetch_tree(sub.source.url, sub.source.rev, tree / sub.path)
            self._check_hashes(spec, tree)
            node_dir = tree / spec.subdir if spec.subdir else tree
            if not node_dir.is_dir():
                raise NodeError(f"commit {rev[:12]} has no directory {spec.subdir}")
            installed_hash = nar_hash(node_dir) if spec.subdir else want
            reqs = self._requirements(spec, node_dir, work)
            self._swap(node_dir, target, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        state[spec.name] = Installed(
            name=spec.name, url=spec.source.url, rev=rev, hash=want, installed_hash=installed_hash,
            installed_at=self.clock().isoformat(timespec="seconds"), subdir=spec.subdir,
            submodules=tuple(InstalledSubmodule(s.path, s.source.rev, s.source.hash) for s in spec.submodules),
        )
        write_state(self.custom_nodes, state)
        return InstallOutcome(spec.name, rev, want, str(target), "replaced" if existed else "installed", reqs)

    @staticmethod
    def _check_hashes(spec: NodeSpec, tree: Path) -> None:
        got = nar_hash(tree, empty_dirs=spec.submodule_paths)
        if got != spec.source.hash:
            raise NodeError(f"hash mismatch at {spec.source.rev}: expected {spec.source.hash}, got {got}",
                            hint="the source changed or the pin is wrong; check with: ipex nodes lock " + spec.name)
        for sub in spec.submodules:
            got = nar_hash(tree / sub.path)
            if got != sub.source.hash:
                raise NodeError(f"hash mismatch in submodule {sub.path} at {sub.source.rev}: "
                                f"expected {sub.source.hash}, got {got}")

    def _requirements(self, spec: NodeSpec, node_dir: Path, work: Path) -> tuple[EnvRequirements, ...]:
        if spec.requirements == "" or not self.environments:
            return ()
        path = node_dir / (spec.requirements or "requirements.txt")
        if not path.is_file():
            if spec.requirements:
                raise NodeError(f"the manifest names {spec.requirements}, which commit {spec.source.rev[:12]} lacks")
            return ()
        return tuple(install_requirements(env, path, self.runner) for env in self.environments)

    @staticmethod
    def _swap(new: Path, target: Path, work: Path) -> None:
        """Old aside, new in, old deleted later (with `work`); put the old one back if the second rename fails."""
        aside = work / "old"
        had_old = os.path.lexists(target)
        try:
            if had_old:
                os.rename(target, aside)
            os.rename(new, target)
        except BaseException as exc:  # an interrupt between the renames too: `aside` is deleted with `work`
            if had_old and os.path.lexists(aside) and not os.path.lexists(target):
                os.rename(aside, target)
            if isinstance(exc, OSError):
                raise NodeError(f"cannot move the new tree into {target}: {exc.strerror or exc}") from None
            raise

    def remove(self, name: str, *, force: bool = False) -> Path:
        """Delete custom_nodes/NAME (refusing local edits or nodes ipex did not install, unless forced)."""
        target = self.custom_nodes / name
        if "/" in name or name in ("", ".", ".."):
            raise NodeError(f"{name!r} is not a node name")
        state = read_state(self.custom_nodes)
        prior = state.get(name)
        if not os.path.lexists(target):
            if prior is None:
                raise NodeError(f"{name} is not installed in {self.custom_nodes}")
        elif not force:
            if prior is None:
                raise NodeRefusedError(f"{target} was not installed by ipex", hint="pass --force to delete it anyway")
            if target.is_dir() and changed_parts(target, prior)[1]:
                raise NodeRefusedError(f"{target} has local edits (ipex nodes verify shows them)",
                                       hint="pass --force to delete them")
        if os.path.lexists(target):
            work = self._workdir(name)
            try:
                os.rename(target, work / "old")
            finally:
                shutil.rmtree(work, ignore_errors=True)
        if prior is not None:
            del state[name]
            write_state(self.custom_nodes, state)
        return target
