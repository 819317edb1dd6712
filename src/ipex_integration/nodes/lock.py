"""`ipex nodes lock`: resolve refs to commits, hash the trees, write the lock file (JSON) atomically.

The lock holds, per node, the same flat keys as the manifest (owner, repo, url, ref, rev, hash, submodules), all
resolved, so Nix reads it with builtins.fromJSON and passes owner/repo/rev/hash to fetchFromGitHub.

Which lock entry counts: a lock entry is used when it still matches its manifest entry (same url, ref, subdir,
requirements, submodule paths; same rev and hash where the manifest pins them without a ref to follow). A node
pinned in the manifest needs no lock entry at all; the built-in catalog is pinned.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Mapping

from .. import state
from ..errors import ConfigError
from .git import Git
from .manifest import Manifest, NodeSpec, Source, Submodule, parse_node
from .model import LockOutcome, NodeError
from .nar import nar_hash

LOCK_NAME = "nodes.lock.json"
LOCK_VERSION = 1


def default_lock_path(environ: Mapping[str, str] | None = None) -> Path:
    from ..paths import config_dir

    return config_dir(environ) / LOCK_NAME


def _source_dict(source: Source) -> dict:
    data = {"owner": source.owner, "repo": source.repo, "url": source.url, "rev": source.rev, "hash": source.hash}
    return {k: v for k, v in data.items() if v is not None}


def entry_dict(spec: NodeSpec) -> dict:
    data = _source_dict(spec.source)
    for key in ("ref", "subdir", "requirements"):
        value = getattr(spec, key)
        if value is not None:
            data[key] = value
    if spec.submodules:
        data["submodules"] = [{"path": s.path, **_source_dict(s.source)} for s in spec.submodules]
        if spec.hash_with_submodules:
            data["hash_with_submodules"] = spec.hash_with_submodules
    return data


def read_lock(path: Path) -> dict[str, NodeSpec]:
    """The lock's entries ({} when the file does not exist); every entry must be fully pinned."""
    fix = f"fix it, or delete it and run: ipex nodes lock --lock {path}"
    data = state.read_json(path, what="lock file", fix=fix, default=None, expect=None)
    if data is None:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise ConfigError(f"lock file {path} has no \"nodes\" object", hint=fix)
    if data.get("version") != LOCK_VERSION:
        raise ConfigError(f"lock file {path} has version {data.get('version')!r}; this ipex reads {LOCK_VERSION}")
    entries = {}
    for name, table in data["nodes"].items():
        spec = parse_node(name, table, str(path))
        if not spec.pinned:
            raise ConfigError(f"lock file {path}: node {name!r} lacks a rev or hash",
                              hint=f"run: ipex nodes lock {name}")
        entries[name] = spec
    return entries


def write_lock(path: Path, entries: Mapping[str, NodeSpec]) -> Path:
    data = {"version": LOCK_VERSION, "nodes": {name: entry_dict(entries[name]) for name in sorted(entries)}}
    return state.write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", what="lock file")


def _same_tree(wanted: Source, locked: Source, follows_ref: bool) -> bool:
    if wanted.url != locked.url:
        return False
    if follows_ref:  # the lock may have moved the commit along the ref
        return True
    if wanted.rev is not None and wanted.rev != locked.rev:
        return False
    return wanted.hash is None or wanted.hash == locked.hash


def matches(spec: NodeSpec, locked: NodeSpec) -> bool:
    """Whether `locked` is still a valid resolution of manifest entry `spec`."""
    if (spec.ref, spec.subdir, spec.requirements) != (locked.ref, locked.subdir, locked.requirements):
        return False
    follows = spec.ref is not None
    if not _same_tree(spec.source, locked.source, follows):
        return False
    if follows and spec.source.rev == locked.source.rev and spec.source.hash not in (None, locked.source.hash):
        return False
    if spec.submodule_paths != locked.submodule_paths:
        return False
    # Submodule commits follow the parent's gitlinks, so they may move with the parent.
    return all(
        _same_tree(s.source, l.source, follows) for s, l in zip(spec.submodules, locked.submodules)
    )


def resolve(spec: NodeSpec, lock: Mapping[str, NodeSpec]) -> NodeSpec:
    """The fully pinned entry to install: the matching lock entry, else the manifest entry if it is pinned."""
    locked = lock.get(spec.name)
    if locked is not None and matches(spec, locked):
        return replace(locked, description=spec.description, origin=locked.origin)
    if spec.pinned:
        return spec
    missing = "hash" if spec.source.rev else "revision"
    raise NodeError(f"custom node {spec.name!r} has no locked {missing} ({spec.origin})",
                    hint=f"run: ipex nodes lock {spec.name}")


def fetch_and_hash(spec: NodeSpec, rev: str, dest: Path, git: Git) -> tuple[NodeSpec, list[str]]:
    """Check out `rev` (and its submodules) into `dest`; return the spec with every rev and hash filled in,
    plus notes. The main tree is hashed with submodule paths empty (as in the GitHub tarball Nix hashes)."""
    git.fetch_tree(spec.source.url, rev, dest)
    notes: list[str] = []
    submodules = []
    for sub in spec.submodules:
        recorded = git.gitlink(dest, rev, sub.path)
        if recorded is None and sub.source.rev is None:
            raise NodeError(f"{spec.name}: commit {rev[:12]} has no submodule at {sub.path}",
                            hint="fix the submodule path in the manifest")
        sub_rev = sub.source.rev if (sub.source.rev and recorded is None) else recorded
        if sub.source.rev and recorded and sub.source.rev != recorded:
            notes.append(f"submodule {sub.path}: the parent now records {recorded[:12]} "
                         f"(manifest had {sub.source.rev[:12]})")
        sub_dir = dest / sub.path
        git.fetch_tree(sub.source.url, sub_rev, sub_dir)
        submodules.append(Submodule(sub.path, replace(sub.source, rev=sub_rev, hash=nar_hash(sub_dir))))
    main = replace(spec.source, rev=rev, hash=nar_hash(dest, empty_dirs=spec.submodule_paths))
    got = spec.with_source(main, tuple(submodules))
    if submodules:  # fetchgit deletes the .git of every submodule as well
        combined = nar_hash(dest, exclude=[f"{p}/.git" for p in spec.submodule_paths])
        got = replace(got, hash_with_submodules=combined)
    return got, notes


def _check_declared(spec: NodeSpec, got: NodeSpec) -> str | None:
    """Compare hashes the manifest declared with computed ones (same commit only); return the placeholder seen."""
    pairs = [(spec.name, spec.source, got.source)]
    pairs += [(f"{spec.name} submodule {s.path}", s.source, g.source) for s, g in zip(spec.submodules, got.submodules)]
    placeholder = None
    for label, declared, computed in pairs:
        if declared.rev not in (None, computed.rev):
            continue  # the lock moved the commit; the old hash says nothing about the new tree
        if declared.hash is None:
            if placeholder is None:
                placeholder = declared.written_hash or ""
        elif declared.hash != computed.hash:
            raise NodeError(
                f"hash mismatch for {label} at {computed.rev}: the manifest says {declared.hash}, "
                f"the fetched tree is {computed.hash}",
                hint="if you trust the source, put the new hash in the manifest",
            )
    same_revs = all(d.rev in (None, c.rev) for _, d, c in pairs)
    declared, computed = spec.hash_with_submodules, got.hash_with_submodules
    if same_revs and declared and computed and declared != computed:
        raise NodeError(f"hash mismatch for {spec.name} with submodules: the manifest says {declared}, "
                        f"the fetched tree is {computed}")
    return placeholder


def lock_nodes(
    manifest: Manifest,
    lock_path: Path,
    names: Iterable[str] = (),
    *,
    update: bool = False,
    git: Git | None = None,
) -> list[LockOutcome]:
    """Lock the named nodes (all when none are named), fetching only what must be fetched:
    named nodes always (to re-check their hash), unpinned ones, and with `update` those whose ref moved."""
    git = git or Git()
    names = list(names)
    specs = manifest.select(names)
    existing = read_lock(lock_path)
    entries = {n: e for n, e in existing.items() if n in manifest.nodes}
    outcomes = []
    for spec in specs:
        current = entries.get(spec.name)
        current = current if current is not None and matches(spec, current) else None
        pinned = current or (spec if spec.pinned else None)
        target_rev = pinned.source.rev if pinned else spec.source.rev
        if spec.ref is not None and (update or target_rev is None):
            target_rev = git.ls_remote(spec.source.url, spec.ref)
        if pinned is not None and spec.name not in names and target_rev == pinned.source.rev:
            entries[spec.name] = pinned
            outcomes.append(LockOutcome(spec.name, pinned.source.rev, pinned.source.hash, "kept"))
            continue
        with tempfile.TemporaryDirectory(prefix=f"ipex-lock-{spec.name}-") as tmp:
            got, notes = fetch_and_hash(spec, target_rev, Path(tmp) / "tree", git)
        placeholder = _check_declared(spec, got)
        previous = pinned.source.rev if pinned else None
        action = "updated" if previous and previous != got.source.rev else "locked"
        entries[spec.name] = replace(got, origin=str(lock_path))
        outcomes.append(LockOutcome(spec.name, got.source.rev, got.source.hash, action, placeholder=placeholder,
                                    previous_rev=previous if action == "updated" else None, notes=tuple(notes)))
    # The fetches above took a while: merge into the lock as it is now, so a concurrent `ipex nodes lock` of
    # other nodes keeps its entries.
    with state.locked(lock_path):
        merged = {n: e for n, e in read_lock(lock_path).items() if n in manifest.nodes}
        merged.update((spec.name, entries[spec.name]) for spec in specs)
        write_lock(lock_path, merged)
    return outcomes
