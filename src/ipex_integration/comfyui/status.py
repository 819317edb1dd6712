"""The ComfyUI section of `ipex status`: is there a checkout, which version, can it be told which device to
use, and does each environment that runs it have its requirements."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from ..errors import IpexError
from ..proc import Runner
from ..runtime.model import Environment, RuntimeInfo
from ..runtime.requirements import requirement_name
from ..status.model import Check, Level
from . import ComfyUIError
from .checkout import Checkout, detect_version, find_checkout
from .flags import read_flag_set
from .install import EXTRA_REQUIREMENTS, TORCH_PACKAGES

SECTION = "ComfyUI"
REQUIREMENTS_TIMEOUT_S = 60.0

# Run by each environment's interpreter (stdlib, plus `packaging` from pip when present, for version ranges):
# prints {"checked": N, "missing": [...], "wrong": [...]} for requirements.txt plus extra names.
_CHECK_SCRIPT = r"""
import json, re, sys
from importlib import metadata
try:
    from packaging.requirements import Requirement
except Exception:
    try:
        from pip._vendor.packaging.requirements import Requirement
    except Exception:
        Requirement = None
lines = open(sys.argv[1], encoding="utf-8").read().splitlines() if sys.argv[1] else []
checked, missing, wrong = 0, [], []
for raw in lines + sys.argv[2:]:
    line = raw.split("#", 1)[0].strip()
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    if not line or line.startswith("-") or not match:
        continue
    req = None
    if Requirement is not None:
        try:
            req = Requirement(line)
        except Exception:
            req = None
    if req is not None and req.marker is not None and not req.marker.evaluate():
        continue
    checked += 1
    try:
        version = metadata.version(req.name if req is not None else match.group(0))
    except metadata.PackageNotFoundError:
        missing.append(line)
        continue
    if req is not None and req.specifier and not req.specifier.contains(version, prereleases=True):
        wrong.append(line + " (installed: " + version + ")")
print(json.dumps({"checked": checked, "missing": missing, "wrong": wrong}))
"""


def checks(ctx: Any) -> list[Check]:
    """Rows for `ipex status` (ctx: status.context.StatusContext)."""
    runner: Runner = ctx.runner
    try:
        checkout = find_checkout(environ=ctx.environ or None, runner=runner)
    except ComfyUIError as exc:
        missing = exc.message.startswith("no ComfyUI found")
        return [Check(SECTION, "checkout", Level.MISSING if missing else Level.ERROR, exc.message, fix=exc.hint)]
    except IpexError as exc:  # a corrupt config file
        return [Check(SECTION, "checkout", Level.ERROR, exc.message, fix=exc.hint)]

    rows = [Check(SECTION, "checkout", Level.OK, f"{checkout.path} ({checkout.found_by})")]
    rows.append(_version_row(checkout, runner))
    rows.append(_flags_row(checkout, ctx.environ or None))
    for env, info in _comfyui_environments(ctx.environments):
        rows.append(_requirements_row(checkout.path, env, info, runner, ctx.plan))
    return rows


def _version_row(checkout: Checkout, runner: Runner) -> Check:
    version, source, commit = detect_version(checkout.path, runner=runner, with_commit=True)
    at = f", commit {commit[:10]}" if commit else ""
    if version is None:
        return Check(SECTION, "version", Level.WARNING, f"unknown (no comfyui_version.py, pyproject.toml or git tag){at}")
    return Check(SECTION, "version", Level.OK, f"{version} (from {source}){at}")


def _flags_row(checkout: Checkout, environ) -> Check:
    try:
        flag_set = read_flag_set(checkout.path, version=checkout.version, environ=environ)
    except IpexError as exc:
        return Check(SECTION, "device flags", Level.ERROR, exc.message, fix=exc.hint)
    has = {o: flag_set.accepts(o) for o in ("--cpu", "--cuda-device", "--oneapi-device-selector")}
    detail = f"{len(flag_set.flags)} flags; " + ", ".join(f"{o} {'yes' if ok else 'no'}" for o, ok in has.items())
    if not has["--cpu"]:
        return Check(SECTION, "device flags", Level.ERROR, detail + ": cannot be told to run on the CPU",
                     fix="ipex comfyui install (a newer ComfyUI)")
    if not has["--oneapi-device-selector"]:
        return Check(SECTION, "device flags", Level.OK,
                     detail + " (Intel GPUs are selected through ONEAPI_DEVICE_SELECTOR instead)")
    return Check(SECTION, "device flags", Level.OK, detail)


def _comfyui_environments(
    environments: Sequence[tuple[Environment, RuntimeInfo | None]],
) -> list[tuple[Environment, RuntimeInfo | None]]:
    """Registered backend environments; with none registered, the current interpreter (pip users)."""
    registered = [(e, i) for e, i in environments if e.registered and e.backend is not None]
    return registered or [(e, i) for e, i in environments if not e.registered][:1]


def _requirements_row(root: Path, env: Environment, info: RuntimeInfo | None, runner: Runner, plan) -> Check:
    name = f"requirements ({env.name})"
    fix = f"ipex comfyui requirements --backend {env.backend.value if env.backend else 'current'}"
    blocks = plan is not None and plan.environment == env.name
    if info is not None and not info.ok:
        return Check(SECTION, name, Level.MISSING, f"environment not usable: {info.error}", fix=f"ipex env create {env.name}")
    requirements = root / "requirements.txt"
    done = runner(
        [env.python, "-c", _CHECK_SCRIPT, str(requirements) if requirements.is_file() else "", *EXTRA_REQUIREMENTS],
        timeout=REQUIREMENTS_TIMEOUT_S,
    )
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1]) if done.ok else None
    except (ValueError, IndexError):
        answer = None
    if not isinstance(answer, dict):
        reason = "timed out" if done.timed_out else (done.stderr.strip().splitlines() or ["no answer"])[-1]
        return Check(SECTION, name, Level.ERROR, f"cannot check {env.python}: {reason}", blocks_selected_path=blocks)
    missing, wrong = answer.get("missing", []), answer.get("wrong", [])
    # torchvision/torchaudio must come from the torch build's own index, so install leaves missing ones out:
    # only the nodes that need them fail to load.
    optional = [m for m in missing if _requirement_name(m) in TORCH_PACKAGES]
    missing = [m for m in missing if m not in optional]
    if optional and not (missing or wrong):
        return Check(SECTION, name, Level.WARNING,
                     f"all others installed; {', '.join(optional)} missing: nodes that need them will not load",
                     fix=f"ipex env create {env.name} --package torchvision --package torchaudio" if env.backend else None)
    if missing or wrong:
        parts = []
        if missing:
            parts.append(f"missing: {', '.join(missing[:6])}" + (f" and {len(missing) - 6} more" if len(missing) > 6 else ""))
        if wrong:
            parts.append(f"wrong version: {', '.join(wrong[:4])}")
        return Check(SECTION, name, Level.ERROR, "; ".join(parts), fix=fix, blocks_selected_path=blocks)
    return Check(SECTION, name, Level.OK, f"all {answer.get('checked', 0)} requirements installed")


def _requirement_name(line: str) -> str:
    return requirement_name(line) or line
