"""`ipex comfyui install`: clone ComfyUI at a release, install its requirements into the backend environments
without touching their torch, then move the checkout into place and register it.

Order matters for "a failure changes nothing": the clone and checkout happen in a temp folder next to the
target; requirements are installed from there (pip resolves and builds everything before it installs
anything, so a failed resolution or build leaves the environment as it was); only then is the folder renamed
into place (one rename on one filesystem) and registered. An existing folder is never replaced: a ComfyUI
folder holds models, outputs and custom nodes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..errors import EnvironmentSetupError
from ..proc import CommandResult, Runner, run_command
from ..runtime.model import Backend, Environment
from . import ComfyUIError
from .checkout import Checkout, default_location, inspect_checkout, register_checkout

DEFAULT_REPO = "https://github.com/Comfy-Org/ComfyUI.git"
# Installed alongside requirements.txt: v0.3.47 imports `requests` without listing it.
EXTRA_REQUIREMENTS = ("requests",)
# The backend environment's own builds (+cuXXX / +xpu / +cpu): pinned, never replaced by pip.
TORCH_PACKAGES = ("torch", "torchvision", "torchaudio")
RELEASE_TAG = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
GIT_TIMEOUT_S = 900.0
PIP_TIMEOUT_S = 3600.0
QUERY_TIMEOUT_S = 60.0

Progress = Callable[[str], None]

# Run by the environment's interpreter: installed versions of the torch packages, stdlib only.
_VERSIONS_SCRIPT = """
import json, sys
from importlib import metadata
out = {}
for name in sys.argv[1:]:
    try:
        out[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        out[name] = None
print(json.dumps(out))
"""


@dataclass(frozen=True)
class RequirementsResult:
    environment: str
    python: str
    pinned: Mapping[str, str]  # torch package -> the version that was kept
    skipped: tuple[str, ...] = ()  # torch packages listed by ComfyUI but absent from the environment
    # torchvision/torchaudio of another build than torch's ("torchvision 0.28.0+cu130" next to torch +cpu)
    mismatched: tuple[str, ...] = ()


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
                 "mismatched": list(r.mismatched)}
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
        git_env = {**environ, "GIT_TERMINAL_PROMPT": "0"}  # a private or mistyped URL fails, never prompts
        _git(runner, git_env, "clone", "--quiet", "--no-checkout", "--", repo, str(staging), what=f"cloning {repo}")
        notes: list[str] = []
        if ref is None:
            tags = _git(runner, git_env, "-C", str(staging), "tag", "--list", what="listing tags").stdout.split()
            ref = newest_release_tag(tags)
            if ref is None:
                ref = "HEAD"
                notes.append(f"{repo} has no release tags (vX.Y.Z); installed its default branch")
        commit = _resolve_ref(runner, git_env, staging, ref, repo)
        say(f"checking out {ref} ({commit[:10]})")
        _git(runner, git_env, "-C", str(staging), "-c", "advice.detachedHead=false", "checkout", "--quiet",
             "--detach", commit, what=f"checking out {ref}")
        inspect_checkout(staging, found_by="install")  # a repository that is not ComfyUI stops here
        results = tuple(
            install_requirements(staging, env, environ=environ, runner=runner, progress=say) for env in envs
        )
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


def _git(runner: Runner, env: Mapping[str, str], *args: str, what: str) -> CommandResult:
    done = runner(["git", *args], timeout=GIT_TIMEOUT_S, env=env)
    if done.not_found:
        raise ComfyUIError("git is not installed", hint="install git (it is needed to fetch ComfyUI)")
    if not done.ok:
        raise ComfyUIError(f"{what} failed: {_git_error(done)}")
    return done


def _git_error(done: CommandResult) -> str:
    """git's first `fatal:`/`error:` line (its last lines are advice), else its last line."""
    for line in (done.stderr or "").splitlines():
        if line.startswith(("fatal:", "error:")):
            return line.split(":", 1)[1].strip()
    return _last_line(done)


def _resolve_ref(runner: Runner, env: Mapping[str, str], repo_dir: Path, ref: str, repo: str) -> str:
    done = runner(["git", "-C", str(repo_dir), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                  timeout=GIT_TIMEOUT_S, env=env)
    if not done.ok or not done.stdout.strip():
        raise ComfyUIError(
            f"ref {ref!r} does not exist in {repo}",
            hint="pass a release tag such as v0.3.47, a branch, or a commit id (`git ls-remote --tags URL` lists tags)",
        )
    return done.stdout.strip()


def _last_line(done: CommandResult) -> str:
    text = (done.stderr or done.stdout).strip()
    if done.timed_out:
        return "timed out"
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit code {done.returncode}"


# --- requirements -----------------------------------------------------------------------------------------


def installed_versions(
    python: str, names: Sequence[str], *, runner: Runner = run_command, environ: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    done = runner([python, "-c", _VERSIONS_SCRIPT, *names], timeout=QUERY_TIMEOUT_S, env=environ)
    if done.not_found:
        raise EnvironmentSetupError(f"interpreter {python} does not exist", hint="ipex env list")
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1]) if done.ok else None
    except (ValueError, IndexError):
        data = None
    if not isinstance(data, dict):
        raise EnvironmentSetupError(f"cannot ask {python} for its installed packages: {_last_line(done)}")
    return {name: data.get(name) for name in names}


def install_requirements(
    checkout_dir: str | os.PathLike[str],
    env: Environment,
    *,
    environ: Mapping[str, str] | None = None,
    runner: Runner = run_command,
    progress: Progress | None = None,
) -> RequirementsResult:
    """pip-install the checkout's requirements.txt (+ EXTRA_REQUIREMENTS) into `env`, with its torch packages
    pinned to the versions it has by a constraints file, so pip can never swap the backend's torch build."""
    say = progress or (lambda _message: None)
    requirements_file = Path(checkout_dir) / "requirements.txt"
    try:
        lines = requirements_file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    versions = installed_versions(env.python, TORCH_PACKAGES, runner=runner, environ=environ)
    if versions.get("torch") is None:
        raise EnvironmentSetupError(
            f"environment {env.name} ({env.python}) has no torch; installing ComfyUI's requirements there would "
            "pull a generic torch build",
            hint=f"ipex env create {env.name}",
        )
    pinned = {name: version for name, version in versions.items() if version is not None}
    # A torch package the environment lacks is left out rather than fetched: the generic PyPI build may not
    # match this environment's torch (+cu/+xpu/+cpu).
    skipped = tuple(name for name in TORCH_PACKAGES if name not in pinned and any(_names(line, name) for line in lines))
    kept = [line for line in lines if not any(_names(line, name) for name in skipped)]
    label = _local_label(pinned["torch"])
    index_args: list[str] = []
    if label and len(pinned) < len(TORCH_PACKAGES):
        # Another requirement may still pull a missing one in (spandrel needs torchvision): offer the index
        # of this torch's flavour, whose +label builds pip prefers over the generic ones.
        from ..runtime.wheels import PYTORCH_INDEX

        index_args = ["--extra-index-url", f"{PYTORCH_INDEX}/{label}"]
    with tempfile.TemporaryDirectory(prefix="ipex-comfyui-req-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text("\n".join(kept + list(EXTRA_REQUIREMENTS)) + "\n", encoding="utf-8")
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("".join(f"{name}=={version}\n" for name, version in pinned.items()), encoding="utf-8")
        say(f"installing ComfyUI's requirements into environment {env.name} (torch {pinned['torch']} kept)")
        done = runner(
            [env.python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
             "-r", str(req), "-c", str(constraints), *index_args],
            timeout=PIP_TIMEOUT_S,
            env=environ,
        )
    if not done.ok:
        detail = _pip_error(done)
        # pip resolves and builds everything before it installs anything, so this is nearly always true.
        hint = "no checkout was moved into place, and the environment is as it was unless pip got as far as installing"
        if "No module named pip" in (done.stderr or ""):
            hint = f"{env.python} has no pip: {env.python} -m ensurepip"
        raise EnvironmentSetupError(f"installing ComfyUI's requirements into environment {env.name} failed: {detail}", hint=hint)
    # A torchvision/torchaudio of another build than torch's (+cu130 next to +cpu, say: pulled in by another
    # requirement now, or installed earlier) fails to load its compiled ops: say so.
    after = installed_versions(env.python, TORCH_PACKAGES, runner=runner, environ=environ)
    mismatched = tuple(
        f"{name} {version}" for name, version in after.items()
        if name != "torch" and version is not None and _local_label(version) != label
    )
    skipped = tuple(name for name in skipped if after.get(name) is None)
    return RequirementsResult(env.name, env.python, pinned, skipped, mismatched)


def _local_label(version: str) -> str | None:
    """"2.8.0+cu128" -> "cu128"; None for a build without a local label (PyPI's own)."""
    return version.partition("+")[2] or None


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
    return notes


def _names(line: str, name: str) -> bool:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
    return bool(match) and _normalize(match.group(1)) == _normalize(name)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip_error(done: CommandResult) -> str:
    """pip's own one-line reason (its `ERROR:` lines), else the last line it printed."""
    errors = [line.strip() for line in (done.stderr or "").splitlines() if line.startswith("ERROR:")]
    if errors:
        return errors[0].removeprefix("ERROR:").strip()
    return _last_line(done)
