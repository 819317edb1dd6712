"""`ipex nodes lock|install|list|verify|remove|check`: ComfyUI custom nodes at pinned commits, verified by
Nix-compatible hashes, their requirements installed into every backend environment with torch pinned."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..errors import IpexError, UsageError
from ..runtime.model import Environment
from . import types
from .common import EXIT_FAILED, EXIT_NEGATIVE, EXIT_OK, EXIT_REFUSED, print_json


def register(subparsers) -> None:
    parser = subparsers.add_parser("nodes", help="install and verify ComfyUI custom nodes at pinned revisions",
                                   description=__doc__)
    sub = parser.add_subparsers(dest="nodes_command", metavar="SUBCOMMAND", required=True)

    def common(p: argparse.ArgumentParser, comfyui: bool = True) -> None:
        p.add_argument("--manifest", type=types.nonempty_path, metavar="FILE",
                       help="use only this manifest (default: built-in catalog + config nodes.toml)")
        p.add_argument("--lock", type=types.nonempty_path, metavar="FILE", help="lock file (default: config nodes.lock.json)")
        if comfyui:
            p.add_argument("--comfyui", metavar="DIR", type=types.nonempty, help="ComfyUI checkout (default: $COMFYUI_PATH or config)")

    p = sub.add_parser("lock", help="resolve refs to commits and compute hashes; write the lock file")
    p.add_argument("names", nargs="*", metavar="NAME", help="nodes to (re)fetch and hash (default: what needs it)")
    p.add_argument("--update", action="store_true", help="move nodes with a ref to the commit it points to now")
    p.add_argument("--json", action="store_true")
    common(p, comfyui=False)
    p.set_defaults(func=cmd_lock)

    p = sub.add_parser("install", help="fetch, verify and install nodes (and their requirements)")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--all", action="store_true", help="every node in the manifest")
    p.add_argument("--force", action="store_true", help="replace a directory with local edits or not ours")
    p.add_argument("--no-deps", action="store_true", help="do not install requirements.txt")
    p.add_argument("--python", action="append", metavar="PATH",
                   help="install requirements into this interpreter (repeatable; default: every backend env)")
    common(p)
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("list", help="manifest nodes and what is installed (drift: files changed since)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--verify", action="store_true", help="re-hash installed nodes instead of comparing mtimes")
    common(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("verify", help="re-hash installed nodes; report drift (local edits)")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--json", action="store_true")
    common(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("remove", help="delete installed nodes")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--force", action="store_true", help="also delete local edits or directories not ours")
    common(p)
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("check", help="scan nodes' Python source for CUDA-only code (exit 1 if any)")
    p.add_argument("names", nargs="*", metavar="NAME", help="installed or manifest nodes (default: installed ones)")
    p.add_argument("--path", type=types.nonempty_path, metavar="DIR", help="scan this directory instead")
    p.add_argument("--json", action="store_true")
    common(p)
    p.set_defaults(func=cmd_check)


def _manifest(args):
    from ..nodes.manifest import load_manifest

    return load_manifest(args.manifest)


def _lock_path(args) -> Path:
    from ..nodes.lock import default_lock_path

    return args.lock or default_lock_path()


def _resolved(args, names):
    from ..nodes.lock import read_lock, resolve

    manifest = _manifest(args)
    lock = read_lock(_lock_path(args))
    return [resolve(spec, lock) for spec in manifest.select(names)]


def _custom_nodes(args) -> Path:
    from ..nodes.locate import custom_nodes_dir

    return custom_nodes_dir(args.comfyui)


def cmd_lock(args) -> int:
    from ..nodes.lock import lock_nodes

    path = _lock_path(args)
    outcomes = lock_nodes(_manifest(args), path, args.names, update=args.update)
    if args.json:
        print_json({"lock": str(path), "nodes": [o.to_dict() for o in outcomes]})
        return EXIT_OK
    for o in outcomes:
        moved = f" (was {o.previous_rev[:12]})" if o.previous_rev else ""
        print(f"{o.name}: {o.action} {o.rev[:12]}{moved} {o.hash}")
        if o.placeholder is not None:
            shown = repr(o.placeholder) if o.placeholder else "missing"
            print(f"  placeholder hash in the manifest ({shown}); real hash: {o.hash}")
        for note in o.notes:
            print(f"  note: {note}")
    print(f"wrote {path}")
    return EXIT_OK


def _environments(args) -> list[Environment]:
    if args.no_deps:
        return []
    if args.python:
        return [Environment(f"python{i}", p, None, registered=False) for i, p in enumerate(args.python, 1)]
    from ..nodes.locate import comfyui_environments

    return comfyui_environments()


def cmd_install(args) -> int:
    from ..nodes.install import Installer
    from ..nodes.model import NodeError

    if bool(args.names) == bool(args.all):
        raise UsageError("name the nodes to install, or pass --all")
    specs = _resolved(args, args.names)
    installer = Installer(_custom_nodes(args), environments=_environments(args))
    status = EXIT_OK
    for spec in specs:
        try:
            o = installer.install(spec, force=args.force)
        except NodeError as exc:
            print(f"ipex: error: {exc.message}", file=sys.stderr)
            if exc.hint:
                print(f"ipex: hint: {exc.hint}", file=sys.stderr)
            # The worst outcome decides: refused (3) for a directory ipex will not replace, else failed (4).
            status = max(status, EXIT_REFUSED if exc.exit_code == EXIT_REFUSED else EXIT_FAILED)
            continue
        print(f"{o.name}: {o.action} {o.rev[:12]} in {o.path}")
        for env in o.requirements:
            pins = ", ".join(env.constraints) or "no torch"
            print(f"  requirements -> {env.env} ({env.python}), pinned: {pins}")
            for line in env.conflicts:
                print(f"  pip check [{env.env}]: {line}")
        if o.conflicts:
            status = max(status, EXIT_NEGATIVE)
    return status


def cmd_list(args) -> int:
    from ..nodes.lock import read_lock, resolve
    from ..nodes.locate import comfyui_dir
    from ..nodes.model import NodeError
    from ..nodes.state import read_state

    manifest = _manifest(args)
    lock = read_lock(_lock_path(args))
    try:
        custom_nodes = comfyui_dir(args.comfyui) / "custom_nodes"
        installed = read_state(custom_nodes)
    except IpexError:
        custom_nodes, installed = None, {}
    rows = []
    for spec in manifest.nodes.values():
        try:
            pinned = resolve(spec, lock)
            rev, digest = pinned.source.rev, pinned.source.hash
        except NodeError:
            rev, digest = spec.source.rev, None
        have = installed.get(spec.name)
        rows.append({
            "name": spec.name, "url": spec.source.url, "ref": spec.ref, "rev": rev, "hash": digest,
            "placeholder": spec.source.placeholder, "installed_rev": have.rev if have else None,
            "description": spec.description,
        })
    for name, have in sorted(installed.items()):
        if name not in manifest.nodes:
            rows.append({"name": name, "url": have.url, "ref": None, "rev": None, "hash": None, "placeholder": False,
                         "installed_rev": have.rev, "description": "(not in the manifest)"})
    _add_drift(rows, custom_nodes, installed, rehash=getattr(args, "verify", False))
    if args.json:
        print_json({"custom_nodes": str(custom_nodes) if custom_nodes else None, "nodes": rows})
        return EXIT_OK
    for r in rows:
        state = f"installed {r['installed_rev'][:12]}" if r["installed_rev"] else "not installed"
        if r.get("drift"):
            state += f", drift: {r['drift']}"
        pin = (r["rev"] or "unlocked")[:12] + ("" if r["hash"] else " (hash not known: ipex nodes lock)")
        print(f"{r['name']:<32} {pin:<14} {state:<24} {r['description']}")
    if custom_nodes is None:
        print("(no ComfyUI checkout known: pass --comfyui DIR to see what is installed)")
    return EXIT_OK


def _add_drift(rows: list[dict], custom_nodes, installed: dict, *, rehash: bool) -> None:
    """Each installed row's `drift`: None, or what changed since the install (mtimes; re-hashed with --verify)."""
    if custom_nodes is None:
        return
    if rehash:
        from ..nodes.model import NodeState
        from ..nodes.verify import verify_installed

        states = {r.name: r for r in verify_installed(custom_nodes, {})}
        for row in rows:
            result = states.get(row["name"])
            bad = result is not None and result.state in (NodeState.DRIFT, NodeState.MISSING)
            row["drift"] = (f"{result.state.value} (re-hashed)" if bad else None) if row["installed_rev"] else None
        return
    from ..nodes.drift import changed_since

    for row in rows:
        have = installed.get(row["name"])
        changed = changed_since(custom_nodes / row["name"], have.installed_at) if have else None
        row["drift"] = None if changed is None else ("missing" if changed == "(missing)" else f"{changed} changed")


def cmd_verify(args) -> int:
    from ..nodes.model import NodeState
    from ..nodes.verify import verify_installed

    custom_nodes = _custom_nodes(args)
    try:
        expected = {s.name: s for s in _resolved(args, ())}
    except IpexError:  # an unlocked manifest entry must not stop verification of what is installed
        expected = {}
    results = verify_installed(custom_nodes, expected, args.names)
    unknown = set(args.names) - {r.name for r in results}
    if unknown:
        raise UsageError(f"not installed by ipex: {', '.join(sorted(unknown))}")
    bad = any(r.state in (NodeState.DRIFT, NodeState.MISSING) for r in results)
    if args.json:
        print_json({"custom_nodes": str(custom_nodes), "nodes": [r.to_dict() for r in results]})
        return EXIT_NEGATIVE if bad else EXIT_OK
    for r in results:
        detail = f" {r.detail}" if r.detail else ""
        print(f"{r.name}: {r.state.value}{detail}")
        if r.state is NodeState.DRIFT:
            print(f"  expected {r.expected}, now {r.actual}")
    return EXIT_NEGATIVE if bad else EXIT_OK


def cmd_remove(args) -> int:
    from ..nodes.install import Installer

    installer = Installer(_custom_nodes(args))
    for name in args.names:
        print(f"removed {installer.remove(name, force=args.force)}")
    return EXIT_OK


def cmd_check(args) -> int:
    from ..nodes.scan import scan_tree

    reports = []
    if args.path:
        if not args.path.is_dir():
            raise UsageError(f"{args.path} is not a directory")
        reports.append(scan_tree(args.path))
    else:
        reports += _scan_nodes(args, scan_tree)
    if args.json:
        print_json([r.to_dict() for r in reports])
    else:
        for r in reports:
            print(f"{r.name}: {len(r.findings)} CUDA-only construct(s) in {r.files} Python file(s)")
            for f in r.findings:
                print(f"  {f.location()}: {f.kind}: {f.code}")
    return EXIT_NEGATIVE if any(r.findings for r in reports) else EXIT_OK


def _scan_nodes(args, scan_tree):
    """Installed nodes are scanned in place; manifest nodes not installed are fetched into a temp dir first."""
    from ..nodes.git import Git
    from ..nodes.locate import comfyui_dir
    from ..nodes.state import read_state

    try:
        custom_nodes = comfyui_dir(args.comfyui) / "custom_nodes"
        installed = read_state(custom_nodes)
    except IpexError:
        if not args.names:
            raise
        custom_nodes, installed = None, {}
    names = args.names or sorted(installed)
    if not names:
        raise UsageError("no nodes installed; name one, or pass --path DIR")
    reports = []
    for name in names:
        if custom_nodes is not None and (custom_nodes / name).is_dir():
            reports.append(scan_tree(custom_nodes / name, name))
            continue
        spec = _resolved(args, [name])[0]
        with tempfile.TemporaryDirectory(prefix=f"ipex-check-{name}-") as tmp:
            tree = Path(tmp) / name
            git = Git()
            git.fetch_tree(spec.source.url, spec.source.rev, tree)
            for sub in spec.submodules:
                git.fetch_tree(sub.source.url, sub.source.rev, tree / sub.path)
            report = scan_tree(tree / spec.subdir if spec.subdir else tree, name)
            reports.append(type(report)(report.name, f"{spec.source.url}@{spec.source.rev[:12]}", report.files,
                                        report.findings))
    return reports
