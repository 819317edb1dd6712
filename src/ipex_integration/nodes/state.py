"""What `ipex nodes install` put into one custom_nodes directory: a JSON file beside the nodes.

It lives in custom_nodes itself (ComfyUI skips files that are not .py), so it travels with the checkout and
two ComfyUI checkouts never share one. `installed_hash` is the NAR hash of the installed directory (submodule
paths emptied) at install time: `verify` compares against it to find local edits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from .. import state
from ..errors import ConfigError

STATE_NAME = ".ipex-nodes.json"
STATE_VERSION = 1


@dataclass(frozen=True)
class InstalledSubmodule:
    path: str
    rev: str
    hash: str


@dataclass(frozen=True)
class Installed:
    name: str
    url: str
    rev: str
    hash: str  # the source tree's hash (what the lock pins)
    installed_hash: str  # the installed directory's hash (differs from `hash` only with subdir)
    installed_at: str  # ISO 8601, UTC
    subdir: str | None = None
    submodules: tuple[InstalledSubmodule, ...] = ()

    @property
    def submodule_paths(self) -> tuple[str, ...]:
        return tuple(s.path for s in self.submodules)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("name")
        data["submodules"] = [asdict(s) for s in self.submodules]
        return data


def state_path(custom_nodes: Path) -> Path:
    return custom_nodes / STATE_NAME


_WHAT = "node state file"


def _fix(path: Path) -> str:
    return f"delete {path}; `ipex nodes verify` will then list the nodes as unmanaged"


def read_state(custom_nodes: Path) -> dict[str, Installed]:
    path = state_path(custom_nodes)
    return _parse(path, state.read_json(path, what=_WHAT, fix=_fix(path), default=None))


def _parse(path: Path, data: dict | None) -> dict[str, Installed]:
    if data is None:
        return {}
    try:
        nodes = data["nodes"]
        return {
            name: Installed(
                name=name, url=e["url"], rev=e["rev"], hash=e["hash"], installed_hash=e["installed_hash"],
                installed_at=e.get("installed_at", ""), subdir=e.get("subdir"),
                submodules=tuple(InstalledSubmodule(s["path"], s["rev"], s["hash"]) for s in e.get("submodules", ())),
            )
            for name, e in nodes.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path} is unreadable ({exc.__class__.__name__}: {exc})", hint=_fix(path)) from None


def update_state(custom_nodes: Path, change: Callable[[dict[str, Installed]], None]) -> dict[str, Installed]:
    """Lock the state file, re-read it, let `change` edit the nodes in place, write it back. Call this AFTER
    the slow work (fetch, hash, pip): a concurrent install into the same custom_nodes keeps its node."""
    path = state_path(custom_nodes)
    with state.locked(path):
        nodes = read_state(custom_nodes)
        change(nodes)
        write_state(custom_nodes, nodes)
    return nodes


def write_state(custom_nodes: Path, nodes: dict[str, Installed]) -> None:
    """Replace the whole file (use update_state for a read-modify-write)."""
    import json

    data = {"version": STATE_VERSION, "nodes": {n: nodes[n].to_dict() for n in sorted(nodes)}}
    state.write_text(state_path(custom_nodes), json.dumps(data, indent=2, ensure_ascii=False) + "\n", what=_WHAT)
