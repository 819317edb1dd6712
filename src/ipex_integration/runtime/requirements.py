"""The one requirements installer: pip-install a requirements file into a backend environment without letting
it replace that environment's torch. Used by `ipex nodes install` and `ipex comfyui install|requirements`.

torch and its companions (torchvision, torchaudio, IPEX, triton: each built for one torch) are pinned to the
versions the environment has by a pip constraints file; `==` with the local label (+xpu, +cu128) matches only
that build, so a requirement asking for `torch` never swaps an XPU build for a CUDA one. A companion the
environment lacks is left out of the file rather than fetched (PyPI's generic build would not match this
torch), and this torch's wheel index is offered in case another requirement pulls it in. `pip check` runs
afterwards; its conflicts are reported, not raised. Names are parsed with `packaging`, never by hand.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .. import state
from ..errors import EnvironmentSetupError, IpexError
from ..proc import CommandResult, Runner, run_command
from .model import Environment

TORCH = "torch"
COMPANIONS = ("torchvision", "torchaudio", "intel-extension-for-pytorch", "triton", "pytorch-triton",
              "pytorch-triton-xpu")
PINNED = (TORCH, *COMPANIONS)
# Built per torch flavour (+cu/+xpu/+cpu) and not pulled in by torch itself: left out when missing.
FLAVOURED = ("torchvision", "torchaudio", "intel-extension-for-pytorch")
PIP_TIMEOUT = 3600.0  # wheels such as opencv or mediapipe over a slow link
QUERY_TIMEOUT = 60.0
ERROR_LIMIT = 300

# Runs in the backend environment (never imported here): installed versions of the names given, as JSON.
_VERSIONS_SCRIPT = (
    "import importlib.metadata as m, json, sys\n"
    "out = {}\n"
    "for name in sys.argv[1:]:\n"
    "    try:\n"
    "        out[name] = m.version(name)\n"
    "    except m.PackageNotFoundError:\n"
    "        out[name] = None\n"
    "print(json.dumps(out))\n"
)


@dataclass(frozen=True)
class RequirementsResult:
    environment: str
    python: str
    pinned: Mapping[str, str]  # package -> the version that was kept
    skipped: tuple[str, ...] = ()  # flavoured packages listed but absent from the environment (left out)
    # torchvision/torchaudio of another build than torch's ("torchvision 0.28.0+cu130" next to torch +cpu)
    mismatched: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()  # `pip check` lines

    @property
    def constraints(self) -> tuple[str, ...]:
        return tuple(f"{name}=={version}" for name, version in self.pinned.items())


def requirement_name(line: str) -> str | None:
    """The canonical project name a requirements.txt line asks for; None for comments, options, URLs."""
    text = line.split(" #", 1)[0].strip()
    if not text or text.startswith(("#", "-")):
        return None
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


def local_label(version: str) -> str | None:
    """"2.8.0+cu128" -> "cu128"; None for a build without a local label (PyPI's own)."""
    return version.partition("+")[2] or None


def tail(result: CommandResult, what: str = "pip") -> str:
    """pip's reason in one line: its `ERROR:` lines, else its last lines; control characters removed, capped."""
    if result.not_found:
        return f"{result.argv[0] if result.argv else what} not found"
    if result.timed_out:
        return "timed out"
    text = "".join(c for c in (result.stderr or "") + "\n" + (result.stdout or "") if c.isprintable() or c == "\n")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    one = " / ".join((errors or lines)[-3:]) or f"exit code {result.returncode}"
    return one if len(one) <= ERROR_LIMIT else one[: ERROR_LIMIT - 3] + "..."


def installed_versions(
    python: str,
    names: Sequence[str] = PINNED,
    *,
    runner: Runner = run_command,
    environ: Mapping[str, str] | None = None,
    error: type[IpexError] = EnvironmentSetupError,
) -> dict[str, str | None]:
    done = runner([python, "-c", _VERSIONS_SCRIPT, *names], timeout=QUERY_TIMEOUT, env=environ)
    if done.not_found:
        raise error(f"interpreter {python} does not exist", hint="ipex env list")
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1]) if done.ok else None
    except (ValueError, IndexError):
        data = None
    if not isinstance(data, dict):
        raise error(f"cannot ask {python} for its installed packages: {tail(done, python)}")
    return {name: (str(data[name]) if data.get(name) is not None else None) for name in names}


def install_requirements(
    env: Environment,
    requirements: Path | None,
    *,
    extra: Sequence[str] = (),
    what: str | None = None,
    require_torch: bool = False,
    runner: Runner = run_command,
    environ: Mapping[str, str] | None = None,
    error: type[IpexError] = EnvironmentSetupError,
    failure_hint: str | None = None,
    pip_args: Sequence[str] = (),
    leave_out_missing: bool = True,
) -> RequirementsResult:
    """pip install -r `requirements` (may be None or missing) + `extra` into `env` with torch and its companions
    pinned, then pip check; `pip_args` go to pip install as they are (e.g. an offline --find-links);
    `leave_out_missing=False` installs flavoured companions the user asked for by name. Raises
    `error` when pip fails (pip resolves and builds before it installs anything,
    so the environment is then nearly always as it was)."""
    what = what or (requirements.name if requirements is not None else "requirements")
    lines: list[str] = []
    if requirements is not None and requirements.is_file():
        lines = requirements.read_text(encoding="utf-8", errors="replace").splitlines()
    versions = installed_versions(env.python, PINNED, runner=runner, environ=environ, error=error)
    pinned = {name: version for name, version in versions.items() if version is not None}
    torch = pinned.get(TORCH)
    if torch is None and require_torch:
        raise error(
            f"environment {env.name} ({env.python}) has no torch; installing {what} there would pull a generic "
            "torch build",
            hint=f"ipex env create {env.name}",
        )
    skipped: tuple[str, ...] = ()
    if torch is not None and leave_out_missing:
        asked = {requirement_name(line) for line in [*lines, *extra]}
        skipped = tuple(name for name in FLAVOURED if name not in pinned and name in asked)
    index_args: list[str] = []
    label = local_label(torch) if torch else None
    if label and any(name not in pinned for name in FLAVOURED[:2]):
        # Another requirement may still pull a missing one in (spandrel needs torchvision): offer the index
        # of this torch's flavour, whose +label builds pip prefers over the generic ones.
        from .wheels import PYTORCH_INDEX

        index_args = ["--extra-index-url", f"{PYTORCH_INDEX}/{label}"]
    kept_extra = [r for r in extra if requirement_name(r) not in skipped]
    with state.temp_dir(prefix="ipex-req-") as tmp:
        constraints = state.write_text(Path(tmp) / "constraints.txt",
                                       "".join(f"{n}=={v}\n" for n, v in pinned.items()), what="pip constraints file")
        req_args: list[str] = []
        if lines:
            req_file = requirements
            if skipped:
                req_file = _without(requirements, lines, skipped)
            req_args = ["-r", str(req_file)]
        try:
            done = runner(
                [env.python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                 *pip_args, *req_args, "-c", str(constraints), *index_args, *kept_extra],
                timeout=PIP_TIMEOUT,
                env=environ,
            )
        finally:
            if skipped and lines:
                req_file.unlink(missing_ok=True)
    if not done.ok:
        shown = f" (pinned: {', '.join(f'{n}=={v}' for n, v in pinned.items())})" if pinned else ""
        hint = failure_hint
        if "No module named pip" in (done.stderr or ""):
            hint = f"{env.python} has no pip: {env.python} -m ensurepip"
        raise error(f"installing {what} into environment {env.name} failed{shown}: {tail(done)}",
                    hint=hint)
    after = installed_versions(env.python, PINNED, runner=runner, environ=environ, error=error)
    mismatched = tuple(
        f"{name} {version}" for name, version in after.items()
        if name in FLAVOURED[:2] and label and version is not None and local_label(version) != label
    )
    skipped = tuple(name for name in skipped if after.get(name) is None)
    return RequirementsResult(env.name, env.python, pinned, skipped, mismatched, pip_check(env, runner, environ))


def pip_check(env: Environment, runner: Runner = run_command, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """`pip check`'s conflict lines in `env` (empty when it is consistent)."""
    check = runner([env.python, "-m", "pip", "check", "--disable-pip-version-check"], timeout=QUERY_TIMEOUT, env=environ)
    if check.ok:
        return ()
    return tuple(line.strip() for line in check.stdout.splitlines() if line.strip()) or (tail(check),)


def _without(requirements: Path, lines: Sequence[str], names: Sequence[str]) -> Path:
    """A copy of the requirements file without the lines asking for `names`, beside it (so its relative
    `-r`/`-c` lines still resolve); the caller deletes it."""
    fd, name = tempfile.mkstemp(prefix=".ipex-requirements-", suffix=".txt", dir=requirements.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines if requirement_name(line) not in names))
    return Path(name)
