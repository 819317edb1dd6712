"""`ipex comfyui install`: clone ComfyUI at a release, install its requirements into the backend environments
without touching their torch, then move the checkout into place and register it.

Order matters for "a failure changes nothing": the clone and checkout happen in a temp folder next to the
target; requirements are installed from there (pip resolves and builds everything before it installs
anything, so a failed resolution or build leaves the environment as it was); only then is the folder renamed
into place (one rename on one filesystem) and registered. An existing folder is never replaced: a ComfyUI
folder holds models, outputs and custom nodes.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..errors import EnvironmentSetupError
from ..git import TRANSFER_TIMEOUT, Git
from ..proc import Runner, run_command
from .importcheck import prove_comfyui_imports
from ..runtime import requirements as requirements_installer
from ..runtime.model import Backend, Environment
from ..runtime.requirements import RequirementsResult
from . import ComfyUIError
from .checkout import Checkout, default_location, inspect_checkout, register_checkout

DEFAULT_REPO = "https://github.com/Comfy-Org/ComfyUI.git"
# Installed alongside requirements.txt: v0.3.47 imports `requests` without listing it.
EXTRA_REQUIREMENTS = ("requests",)
# The backend environment's own builds (+cuXXX / +xpu / +cpu): pinned, never replaced by pip.
TORCH_PACKAGES = ("torch", "torchvision", "torchaudio")
RELEASE_TAG = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class InstallResult:
    checkout: Checkout
    repo: str
    ref: str
    commit: str
    requirements: tuple[RequirementsResult, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {
            "checkout": self.checkout.to_dict(),
            "repo": self.repo,
            "ref": self.ref,
            "commit": self.commit,
            "requirements": [
                {"environment": r.environment, "python": r.python, "pinned": dict(r.pinned), "skipped": list(r.skipped),
                 "mismatched": list(r.mismatched), "conflicts": list(r.conflicts)}
                for r in self.requirements
            ],
            "notes": list(self.notes),
        }


def newest_release_tag(tags: Sequence[str]) -> str | None:
    """The highest `vX.Y.Z` tag by version (not text) order; pre-releases and other tags are ignored."""
    releases = [(tuple(int(n) for n in m.groups()), tag) for tag in tags if (m := RELEASE_TAG.match(tag.strip()))]
    return max(releases)[1] if releases else None


def select_environments(backends: Sequence[Backend] | None, environments: Sequence[Environment]) -> list[Environment]:
    """The registered environments for `backends` (None: every registered one)."""
    registered = [e for e in environments if e.registered and e.backend is not None]
    if backends is None:
        if not registered:
            raise EnvironmentSetupError(
                "no backend environment is registered to install ComfyUI's requirements into",
                hint="create one first: ipex env create cuda|xpu|cpu (or pass --no-requirements)",
            )
        return registered
    chosen = []
    for backend in backends:
        env = next((e for e in registered if e.backend is backend), None)
        if env is None:
            raise EnvironmentSetupError(
                f"no {backend.value} environment is registered",
                hint=f"ipex env create {backend.value}",
            )
        chosen.append(env)
    return chosen


def registered_environments(environ: Mapping[str, str] | None) -> list[Environment]:
    from ..runtime.registry import load_registry

    return list(load_registry(environ).environments(include_current=False))


def install(
    *,
    target: str | os.PathLike[str] | None = None,
    repo: str = DEFAULT_REPO,
    ref: str | None = None,
    backends: Sequence[Backend] | None = None,
    environments: Sequence[Environment] | None = None,
    requirements: bool = True,
    environ: Mapping[str, str] | None = None,
    runner: Runner = run_command,
    progress: Progress | None = None,
) -> InstallResult:
    """Clone `repo` at `ref` (default: its newest release tag) into `target` and register it.

    `environments` replaces the registry (tests); `requirements=False` only clones and registers."""
    environ = dict(os.environ if environ is None else environ)
    say = progress or (lambda _message: None)
    dest = Path(target).expanduser().absolute() if target is not None else default_location(environ)
    _check_target(dest)
    envs: list[Environment] = []
    if requirements:
        envs = select_environments(backends, registered_environments(environ) if environments is None else environments)

    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.install-", dir=dest.parent))
    try:
        say(f"cloning {repo}")
        git = Git(runner, environ, error=ComfyUIError)  # a private or mistyped URL fails, never prompts
        git.check(["clone", "--quiet", "--no-checkout", "--", repo, str(staging)], what=f"cloning {repo} failed",
                  timeout=TRANSFER_TIMEOUT, hint="check the URL and your network (git ls-remote URL)")
        notes: list[str] = []
        if ref is None:
            tags = git.check(["tag", "--list"], what="listing tags failed", cwd=staging).stdout.split()
            ref = newest_release_tag(tags)
            if ref is None:
                ref = "HEAD"
                notes.append(f"{repo} has no release tags (vX.Y.Z); installed its default branch")
        commit = git.commit_of(staging, ref)
        if commit is None:
            raise ComfyUIError(
                f"ref {ref!r} does not exist in {repo}",
                hint="pass a release tag such as v0.3.47, a branch, or a commit id (`git ls-remote --tags URL` lists tags)",
            )
        say(f"checking out {ref} ({commit[:10]})")
        git.check(["checkout", "--quiet", "--detach", commit], what=f"checking out {ref} failed", cwd=staging,
                  timeout=TRANSFER_TIMEOUT)
        inspect_checkout(staging, found_by="install")  # a repository that is not ComfyUI stops here
        results = tuple(
            install_requirements(staging, env, environ=environ, runner=runner, progress=say) for env in envs
        )
        for env in envs:  # the proof that it runs there, before the checkout is moved into place
            say(f"importing ComfyUI's model code in environment {env.name}")
            prove_comfyui_imports(staging, env, environ=environ, runner=runner)
        _move_into_place(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    checkout = inspect_checkout(dest, found_by="install", runner=runner, with_commit=True)
    register_checkout(checkout, environ=environ, repo=repo, ref=ref)
    for result in results:
        notes += missing_torch_note(result)
    return InstallResult(checkout, repo, ref, commit, results, tuple(notes))


def _check_target(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ComfyUIError(
            f"{dest} already exists and is not empty; it is left as it is",
            hint=f"choose another --dir, or register an existing checkout with `ipex comfyui use {dest}`",
        )


def _move_into_place(staging: Path, dest: Path) -> None:
    if dest.is_dir():
        dest.rmdir()  # empty (checked before): rename cannot replace a directory
    os.rename(staging, dest)  # same parent, so one atomic rename


# --- requirements -----------------------------------------------------------------------------------------


def install_requirements(
    checkout_dir: str | os.PathLike[str],
    env: Environment,
    *,
    environ: Mapping[str, str] | None = None,
    runner: Runner = run_command,
    progress: Progress | None = None,
) -> RequirementsResult:
    """pip-install the checkout's requirements.txt (+ EXTRA_REQUIREMENTS) into `env` with its torch kept
    (the one requirements installer: runtime/requirements.py)."""
    say = progress or (lambda _message: None)
    say(f"installing ComfyUI's requirements into environment {env.name} (its torch kept)")
    return requirements_installer.install_requirements(
        env, Path(checkout_dir) / "requirements.txt", extra=EXTRA_REQUIREMENTS, what="ComfyUI's requirements",
        require_torch=True, runner=runner, environ=environ, error=EnvironmentSetupError,
        failure_hint="no checkout was moved into place, and the environment is as it was unless pip got as far as "
        "installing",
    )


def missing_torch_note(result: RequirementsResult) -> list[str]:
    """What the user should know about torch packages this environment lacks or got in the wrong build."""
    fix = f"ipex env create {result.environment} --package torchvision --package torchaudio"
    notes = [
        f"{name} is not installed in environment {result.environment}; ComfyUI nodes that need it will not load "
        f"(fix: {fix})"
        for name in result.skipped
    ]
    notes += [
        f"{what} does not match torch {result.pinned['torch']} of environment {result.environment} (another "
        f"build); its compiled ops may fail to load (fix: {fix})"
        for what in result.mismatched
    ]
    notes += [f"pip check in environment {result.environment}: {line}" for line in result.conflicts]
    return notes
