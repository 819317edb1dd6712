"""What `ipex nodes install` put into one custom_nodes directory: a JSON file beside the nodes.

It lives in custom_nodes itself (ComfyUI skips files that are not .py), so it travels with the checkout and
two ComfyUI checkouts never share one. `installed_hash` is the NAR hash of the installed directory (submodule
paths emptied) at install time: `verify` compares against it to find local edits.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..atomic import atomic_write_text
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


def read_state(custom_nodes: Path) -> dict[str, Installed]:
    path = state_path(custom_nodes)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        nodes = data["nodes"]
        return {
            name: Installed(
                name=name, url=e["url"], rev=e["rev"], hash=e["hash"], installed_hash=e["installed_hash"],
                installed_at=e.get("installed_at", ""), subdir=e.get("subdir"),
                submodules=tuple(InstalledSubmodule(s["path"], s["rev"], s["hash"]) for s in e.get("submodules", ())),
            )
            for name, e in nodes.items()
        }
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path} is unreadable ({exc.__class__.__name__}: {exc})",
                          hint=f"delete it; `ipex nodes verify` will then list the nodes as unmanaged") from None


def write_state(custom_nodes: Path, nodes: dict[str, Installed]) -> None:
    data = {"version": STATE_VERSION, "nodes": {n: nodes[n].to_dict() for n in sorted(nodes)}}
    atomic_write_text(state_path(custom_nodes), json.dumps(data, indent=2, ensure_ascii=False) + "\n")
