"""`ipex nodes verify`: re-hash installed node trees and compare with what was installed (drift = local edits)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from .manifest import NodeSpec
from .model import NodeState, VerifyResult
from .nar import nar_hash
from .state import Installed, read_state

# Entries of custom_nodes that are not nodes: ComfyUI's own files and what it skips.
_NOT_NODES = {"__pycache__", "example_node.py.example", "websocket_image_save.py"}


def changed_parts(path: Path, installed: Installed) -> tuple[str, list[str]]:
    """(hash of the installed tree, the parts whose hash differs from install time: "." or submodule paths)."""
    actual = nar_hash(path, empty_dirs=installed.submodule_paths)
    changed = [] if actual == installed.installed_hash else ["."]
    for sub in installed.submodules:
        sub_path = path / sub.path
        if not sub_path.is_dir() or nar_hash(sub_path) != sub.hash:
            changed.append(sub.path)
    return actual, changed


def _is_unmanaged_candidate(entry: os.DirEntry) -> bool:
    name = entry.name
    if name.startswith(".") or name.endswith(".disabled") or name in _NOT_NODES:
        return False
    return entry.is_dir() or name.endswith(".py")


def verify_installed(
    custom_nodes: Path,
    expected: Mapping[str, NodeSpec] | None = None,
    names: tuple[str, ...] | list[str] = (),
) -> list[VerifyResult]:
    """One result per node ipex installed (or only `names`), plus other nodes found in custom_nodes as UNMANAGED.

    `expected` maps names to the resolved (locked) entries: an intact node at another revision is OUTDATED.
    """
    state = read_state(custom_nodes)
    results = []
    for name in sorted(state):
        if names and name not in names:
            continue
        installed = state[name]
        path = custom_nodes / name
        if not path.is_dir():
            results.append(VerifyResult(name, NodeState.MISSING, str(path), installed.installed_hash, None,
                                        installed.rev, "recorded as installed, but the directory is gone"))
            continue
        actual, changed = changed_parts(path, installed)
        if changed:
            where = ", ".join("the node" if c == "." else f"submodule {c}" for c in changed)
            hint = f"; see: git -C {path} status" if (path / ".git").exists() else ""
            results.append(VerifyResult(name, NodeState.DRIFT, str(path), installed.installed_hash, actual,
                                        installed.rev, f"files changed since install in {where}{hint}"))
            continue
        want = (expected or {}).get(name)
        if want is not None and (want.source.rev, want.source.hash) != (installed.rev, installed.hash):
            results.append(VerifyResult(name, NodeState.OUTDATED, str(path), want.source.hash, installed.hash,
                                        installed.rev, f"intact, but the lock now pins {want.source.rev[:12]}"))
            continue
        results.append(VerifyResult(name, NodeState.OK, str(path), installed.installed_hash, actual, installed.rev))
    if not names:
        try:
            with os.scandir(custom_nodes) as it:
                others = sorted(e.name for e in it if _is_unmanaged_candidate(e) and e.name not in state)
        except FileNotFoundError:
            others = []
        for name in others:
            results.append(VerifyResult(name, NodeState.UNMANAGED, str(custom_nodes / name),
                                        detail="not installed by ipex; nothing to compare with"))
    return results
