"""Manifest parsing (built-in catalog and bad entries) and `lock` against local file:// repositories."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from ipex_integration.errors import ConfigError
from ipex_integration.nodes.git import Git
from ipex_integration.nodes.hashes import FAKE_HASH
from ipex_integration.nodes.lock import lock_nodes, read_lock, resolve
from ipex_integration.nodes.manifest import load_catalog, load_manifest, parse_manifest
from ipex_integration.nodes.model import NodeError
from ipex_integration.nodes.nar import nar_hash
from ipex_integration.proc import run_command

from .conftest import git, manifest_text, needs_nix, nix_hash

REV = "a" * 40
GOOD = "sha256-tMmERf4y7sfuEGao7JHC7FLjBgPuViCtHxr8f9NnHzo="


def test_catalog_is_pinned_with_real_hashes():
    catalog = load_catalog()
    assert {"comfyui_controlnet_aux", "ComfyUI_UltimateSDUpscale"} <= set(catalog.nodes)
    for spec in catalog.nodes.values():
        assert spec.pinned, spec.name
        assert spec.source.owner and spec.source.repo
        assert spec.source.url == f"https://github.com/{spec.source.owner}/{spec.source.repo}"
    usdu = catalog.nodes["ComfyUI_UltimateSDUpscale"]
    assert usdu.submodule_paths == ("repositories/ultimate_sd_upscale",)
    assert usdu.hash_with_submodules and usdu.hash_with_submodules != usdu.source.hash


def test_repo_root_lock_matches_catalog():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "nodes.lock.json")
    locked = read_lock(__import__("pathlib").Path(root))
    catalog = load_catalog()
    for name, spec in catalog.nodes.items():
        assert resolve(spec, locked).source == locked[name].source
        assert (locked[name].source.rev, locked[name].source.hash) == (spec.source.rev, spec.source.hash)


@pytest.mark.parametrize("body, message", [
    ('[nodes.x]\nurl = "https://example.org/x.git"\n', "needs rev"),
    ('[nodes.x]\nowner = "a"\nrev = "' + REV + '"\n', "owner and repo together"),
    ('[nodes.x]\nrev = "' + REV + '"\n', "needs url"),
    ('[nodes.x]\nurl = "-uhack"\nrev = "' + REV + '"\n', "not a git URL"),
    ('[nodes.x]\nurl = "https://e.org/x"\nrev = "main"\n', "full commit id"),
    ('[nodes.x]\nurl = "https://e.org/x"\nref = "--upload-pack=x"\n', "not a branch or tag"),
    ('[nodes.x]\nurl = "https://e.org/x"\nrev = "' + REV + '"\nhash = "sha256-short"\n', "not a valid SRI"),
    ('[nodes.x]\nurl = "https://e.org/x"\nrev = "' + REV + '"\nsubdir = "../up"\n', "relative path inside"),
    ('[nodes.x]\nurl = "https://e.org/x"\nrev = "' + REV + '"\nhsah = "x"\n', "unknown key"),
    ('[nodes."../evil"]\nurl = "https://e.org/x"\nrev = "' + REV + '"\n', "plain directory name"),
    ('[nodes.x]\nurl = "https://e.org/x"\nrev = "' + REV + '"\n[[nodes.x.submodules]]\npath = "/abs"\nurl = "https://e.org/y"\n',
     "relative path"),
    ("[nodes.x\n", "not valid TOML"),
    ('node = 1\n', "unknown top-level"),
])
def test_bad_manifest_entries(body, message):
    with pytest.raises(ConfigError, match=message):
        parse_manifest(body, "test.toml")


def test_user_manifest_overrides_catalog(isolated_home):
    (isolated_home / "config").mkdir()
    (isolated_home / "config" / "nodes.toml").write_text(
        manifest_text("comfyui_controlnet_aux", "https://github.com/me/fork", REV, GOOD))
    merged = load_manifest()
    assert merged.nodes["comfyui_controlnet_aux"].source.owner == "me"
    assert "ComfyUI_UltimateSDUpscale" in merged.nodes


# --- lock against local repositories ---

def _lock(manifest_body, tmp_path, names=(), update=False, runner=run_command):
    lock_path = tmp_path / "nodes.lock.json"
    outcomes = lock_nodes(parse_manifest(manifest_body, "m.toml"), lock_path, names, update=update,
                          git=Git(runner=runner))
    return outcomes, lock_path


@needs_nix
def test_lock_resolves_branch_and_hash_matches_nix(node_repo, tmp_path):
    body = manifest_text("demo", node_repo.url, ref="main")
    (o,), lock_path = _lock(body, tmp_path)
    assert o.action == "locked" and o.rev == node_repo.head()
    assert o.hash == nix_hash(node_repo.archive(o.rev, tmp_path / "archive"))
    assert o.placeholder == ""  # no hash in the manifest at all
    entry = json.loads(lock_path.read_text())["nodes"]["demo"]
    assert entry == {"url": node_repo.url, "rev": o.rev, "hash": o.hash, "ref": "main"}


@pytest.mark.parametrize("placeholder", ["", FAKE_HASH, "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"])
def test_lock_reports_placeholder_with_real_hash(node_repo, tmp_path, placeholder):
    body = manifest_text("demo", node_repo.url, node_repo.head(), placeholder)
    (o,), _ = _lock(body, tmp_path)
    assert o.placeholder == placeholder
    assert o.hash == nar_hash(node_repo.archive(o.rev, tmp_path / "archive"))


def test_lock_by_name_refetches_and_rejects_wrong_declared_hash(node_repo, tmp_path):
    body = manifest_text("demo", node_repo.url, node_repo.head(), GOOD)
    with pytest.raises(NodeError, match="hash mismatch for demo"):
        _lock(body, tmp_path, names=["demo"])
    assert not (tmp_path / "nodes.lock.json").exists()


def test_pinned_entries_are_kept_without_running_git(node_repo, tmp_path):
    def no_git(argv, **kw):
        raise AssertionError(f"unexpected command {argv}")

    body = manifest_text("demo", node_repo.url, node_repo.head(), GOOD)
    (o,), lock_path = _lock(body, tmp_path, runner=no_git)
    assert (o.action, o.hash) == ("kept", GOOD)
    assert read_lock(lock_path)["demo"].source.hash == GOOD


def test_update_moves_to_new_commit_and_install_prefers_lock(node_repo, tmp_path):
    first = node_repo.head()
    body = manifest_text("demo", node_repo.url, ref="main")
    _lock(body, tmp_path)
    second = node_repo.commit({"new.py": "x = 1\n"})
    (o,), lock_path = _lock(body, tmp_path)  # no --update: the lock stays where it was
    assert (o.action, o.rev) == ("kept", first)
    (o,), lock_path = _lock(body, tmp_path, update=True)
    assert (o.action, o.rev, o.previous_rev) == ("updated", second, first)
    spec = parse_manifest(body, "m.toml").nodes["demo"]
    assert resolve(spec, read_lock(lock_path)).source.rev == second


def test_annotated_tag_resolves_to_its_commit(node_repo, tmp_path):
    tagged = node_repo.head()
    git("tag", "-a", "v1.0", "-m", "release", cwd=node_repo.path)
    node_repo.commit({"later.py": ""})
    (o,), _ = _lock(manifest_text("demo", node_repo.url, ref="v1.0"), tmp_path)
    assert o.rev == tagged


def test_unknown_ref_and_unreachable_url(node_repo, tmp_path):
    with pytest.raises(NodeError, match="no branch or tag named 'nope'"):
        _lock(manifest_text("demo", node_repo.url, ref="nope"), tmp_path)
    with pytest.raises(NodeError, match="cannot list"):
        _lock(manifest_text("demo", (tmp_path / "missing").as_uri(), ref="main"), tmp_path)


def test_unlocked_entry_is_refused_by_resolve(node_repo):
    spec = parse_manifest(manifest_text("demo", node_repo.url, ref="main"), "m.toml").nodes["demo"]
    with pytest.raises(NodeError, match="no locked revision") as info:
        resolve(spec, {})
    assert info.value.hint == "run: ipex nodes lock demo"


@needs_nix
def test_submodule_pinned_from_parent_gitlink(make_repo, tmp_path):
    sub = make_repo("upstream_sub")
    sub_rev = sub.commit({"scripts/ultimate-upscale.py": "print('sub')\n"})
    parent = make_repo("parent")
    parent.commit({"__init__.py": ""})
    git("submodule", "add", "--quiet", sub.url, "repositories/sub", cwd=parent.path)
    git("commit", "--quiet", "-m", "add submodule", cwd=parent.path)
    body = manifest_text("parent", parent.url, ref="main") + (
        f'[[nodes.parent.submodules]]\npath = "repositories/sub"\nurl = "{sub.url}"\n')
    (o,), lock_path = _lock(body, tmp_path)
    locked = read_lock(lock_path)["parent"]
    assert locked.submodules[0].source.rev == sub_rev
    tarball = parent.archive(o.rev, tmp_path / "tarball")  # git archive leaves the submodule dir empty
    assert (tarball / "repositories" / "sub").is_dir() and not any((tarball / "repositories" / "sub").iterdir())
    assert o.hash == nix_hash(tarball)
    assert locked.submodules[0].source.hash == nix_hash(sub.archive(sub_rev, tmp_path / "subtar"))
    shutil.rmtree(tarball / "repositories" / "sub")
    sub.archive(sub_rev, tarball / "repositories" / "sub")
    assert locked.hash_with_submodules == nix_hash(tarball)  # fetchSubmodules = true
