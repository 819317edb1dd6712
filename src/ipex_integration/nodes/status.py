"""The "Custom nodes" section of `ipex status`: is each manifest node installed, intact and current?"""

from __future__ import annotations

from ..errors import IpexError
from ..status.model import Check, Level
from .lock import default_lock_path, read_lock, resolve
from .locate import comfyui_dir
from .manifest import load_manifest
from .model import NodeState
from .verify import verify_installed

SECTION = "Custom nodes"


def checks(ctx) -> list[Check]:
    environ = dict(getattr(ctx, "environ", None) or {})
    try:
        manifest = load_manifest(environ=environ)
        lock = read_lock(default_lock_path(environ))
    except IpexError as exc:
        return [Check(SECTION, "manifest", Level.ERROR, exc.message, exc.hint)]
    out: list[Check] = []
    expected = {}
    for spec in manifest.nodes.values():
        try:
            expected[spec.name] = resolve(spec, lock)
        except IpexError as exc:
            out.append(Check(SECTION, spec.name, Level.WARNING, exc.message, exc.hint))
    try:
        custom_nodes = comfyui_dir(None, environ) / "custom_nodes"
    except IpexError as exc:
        out.append(Check(SECTION, "custom_nodes", Level.MISSING, f"{exc.message}; nodes cannot be checked",
                         exc.hint))
        return out
    try:
        results = verify_installed(custom_nodes, expected)
    except IpexError as exc:
        return out + [Check(SECTION, "custom_nodes", Level.ERROR, exc.message, exc.hint)]
    seen = set()
    for r in results:
        seen.add(r.name)
        rev = (r.rev or "")[:12]
        if r.state is NodeState.OK:
            out.append(Check(SECTION, r.name, Level.OK, f"{rev}, hash verified"))
        elif r.state is NodeState.DRIFT:
            out.append(Check(SECTION, r.name, Level.WARNING, f"{rev}: {r.detail}",
                             f"ipex nodes install {r.name} --force  (discards the edits)"))
        elif r.state is NodeState.OUTDATED:
            out.append(Check(SECTION, r.name, Level.WARNING, f"{rev}: {r.detail}", f"ipex nodes install {r.name}"))
        elif r.state is NodeState.MISSING:
            out.append(Check(SECTION, r.name, Level.ERROR, r.detail, f"ipex nodes install {r.name}"))
        else:
            out.append(Check(SECTION, r.name, Level.OK, "present, not installed by ipex (not verified)"))
    for name in expected:
        if name not in seen:
            out.append(Check(SECTION, name, Level.MISSING, "not installed", f"ipex nodes install {name}"))
    return out
