"""Every .nix file parses; nix/lock.nix turns nodes.lock.json into fetchFromGitHub arguments without nixpkgs."""

from __future__ import annotations

import json

import pytest

from .nixeval import ROOT, evaluate, needs_nix, parse

NIX_FILES = sorted([ROOT / "flake.nix", *(ROOT / "nix").rglob("*.nix")])


def test_the_flake_and_its_modules_exist():
    names = {p.relative_to(ROOT).as_posix() for p in NIX_FILES}
    assert {"flake.nix", "nix/lock.nix", "nix/nodes.nix", "nix/package.nix", "nix/packages.nix",
            "nix/modules/comfyui-ipex.nix", "nix/modules/ollama-ipex.nix", "nix/modules/common.nix"} <= names


@needs_nix
@pytest.mark.parametrize("path", NIX_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_nix_file_parses(path):
    done = parse(path)
    assert done.returncode == 0, done.stderr


def _expected(lock: dict) -> dict:
    out = {}
    for name, entry in lock["nodes"].items():
        subs = bool(entry.get("submodules"))
        out[name] = {
            "owner": entry["owner"], "repo": entry["repo"], "rev": entry["rev"],
            "hash": entry["hash_with_submodules"] if subs else entry["hash"],
            "fetchSubmodules": subs,
        }
    return out


@needs_nix
def test_lock_nix_gives_the_lock_entries_as_fetch_arguments():
    lock = json.loads((ROOT / "nodes.lock.json").read_text())
    got = evaluate("import ./nix/lock.nix { fetchFromGitHub = args: args; }")
    assert got == _expected(lock)
    assert got, "the repository's lock has entries"


@needs_nix
def test_lock_nix_reads_any_lock_file_and_applies_the_fetcher(tmp_path):
    lock = {"version": 1, "nodes": {
        "plain": {"owner": "o", "repo": "r", "url": "https://github.com/o/r", "rev": "a" * 40,
                  "hash": "sha256-AAAA"},
        "withsub": {"owner": "p", "repo": "q", "url": "https://github.com/p/q", "rev": "b" * 40,
                    "hash": "sha256-BBBB", "hash_with_submodules": "sha256-CCCC",
                    "submodules": [{"path": "x", "owner": "s", "repo": "t", "rev": "c" * 40, "hash": "sha256-D"}]},
    }}
    path = tmp_path / "nodes.lock.json"
    path.write_text(json.dumps(lock))
    got = evaluate(f'import ./nix/lock.nix {{ lockFile = {path}; fetchFromGitHub = a: a // {{ fetched = true; }}; }}')
    assert got["withsub"] == {"owner": "p", "repo": "q", "rev": "b" * 40, "hash": "sha256-CCCC",
                              "fetchSubmodules": True, "fetched": True}
    assert got["plain"]["hash"] == "sha256-AAAA" and got["plain"]["fetchSubmodules"] is False


@needs_nix
def test_lock_nix_refuses_another_lock_version(tmp_path):
    path = tmp_path / "nodes.lock.json"
    path.write_text(json.dumps({"version": 2, "nodes": {}}))
    with pytest.raises(AssertionError, match="lock version 2, this flake reads 1"):
        evaluate(f"import ./nix/lock.nix {{ lockFile = {path}; }}")


@needs_nix
def test_nodes_nix_exposes_every_locked_node():
    lock = json.loads((ROOT / "nodes.lock.json").read_text())
    got = evaluate('builtins.mapAttrs (n: v: v.repo) (import ./nix/nodes.nix { fetchFromGitHub = a: a; })')
    assert got == {name: entry["repo"] for name, entry in lock["nodes"].items()}
