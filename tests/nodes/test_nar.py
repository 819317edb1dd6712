"""NAR serialisation and hashing, compared with `nix hash path` / `nix-store --dump` byte for byte."""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess

import pytest

from ipex_integration.errors import ConfigError
from ipex_integration.nodes.hashes import (
    FAKE_HASH, FAKE_SHA256, is_placeholder, nix32_decode, nix32_encode, parse_hash,
)
from ipex_integration.nodes.nar import NarError, nar_dump, nar_hash

from .conftest import NIX, needs_nix, nix_hash


def build_mixed_tree(root):
    """Executables, symlinks (file, dir, dangling, absolute), empty dirs and files, deep nesting, names that sort
    differently as bytes than as text, non-ASCII and non-UTF-8 names, sizes around every padding boundary, and
    files on both sides of the 1 MiB whole-read threshold."""
    root.mkdir()
    for size in range(0, 18):
        (root / f"pad{size:02d}").write_bytes(b"x" * size)
    (root / "empty").write_bytes(b"")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "group-exec-only").write_text("x")
    (root / "group-exec-only").chmod(0o654)  # Nix looks at the owner's execute bit only
    (root / "empty_dir").mkdir()
    (root / "a" / "empty_inner").mkdir(parents=True)
    deep = root / "deep"
    for i in range(120):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    (deep / "leaf.txt").write_text("bottom\n")
    for name in ("B", "a_", "Z", "_", "é-accent", "日本語.py", "ä", "-dash", "~tilde"):
        (root / "names").mkdir(exist_ok=True)
        (root / "names" / name).write_text(name)
    os.mkdir(os.fsencode(root / "names") + b"/raw-\xff\xfe")  # not valid UTF-8
    os.symlink("run.sh", root / "link-file")
    os.symlink("a", root / "link-dir")
    os.symlink("does/not/exist", root / "link-dangling")
    os.symlink("/etc/hostname-absolute", root / "link-absolute")
    os.symlink("é", root / "link-non-ascii")
    big = root / "big"
    big.mkdir()
    (big / "exactly-1MiB").write_bytes(os.urandom(1 << 20))
    (big / "1MiB-plus-3").write_bytes(os.urandom((1 << 20) + 3))
    (big / "3MiB-odd").write_bytes(os.urandom(3 * (1 << 20) + 5))
    (big / "3MiB-odd").chmod(0o755)
    return root


@needs_nix
def test_mixed_tree_matches_nix_hash_path(tmp_path):
    tree = build_mixed_tree(tmp_path / "tree")
    assert nar_hash(tree) == nix_hash(tree)


@needs_nix
@pytest.mark.parametrize("kind", ["file", "executable", "symlink", "empty-dir"])
def test_single_node_roots_match_nix(tmp_path, kind):
    path = tmp_path / "x"
    if kind == "symlink":
        os.symlink("somewhere", path)
    elif kind == "empty-dir":
        path.mkdir()
    else:
        path.write_bytes(b"hello\n")
        if kind == "executable":
            path.chmod(0o700)
    assert nar_hash(path) == nix_hash(path)


@pytest.mark.skipif(shutil.which("nix-store") is None, reason="nix-store is not installed")
def test_nar_bytes_equal_nix_store_dump(tmp_path):
    tree = build_mixed_tree(tmp_path / "tree")
    ours = io.BytesIO()
    nar_dump(tree, ours)
    theirs = subprocess.run(["nix-store", "--dump", str(tree)], capture_output=True, check=True).stdout
    assert ours.getvalue() == theirs


@needs_nix
def test_only_top_level_git_is_excluded(tmp_path):
    tree = tmp_path / "tree"
    (tree / ".git" / "objects").mkdir(parents=True)
    (tree / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tree / "vendored" / ".git").mkdir(parents=True)  # a nested .git stays, as in Nix's fetchers
    (tree / "vendored" / ".git" / "x").write_text("keep")
    (tree / "f").write_text("f")
    with_git = nar_hash(tree, exclude_git=False)
    assert with_git == nix_hash(tree)
    shutil.rmtree(tree / ".git")
    assert nar_hash(tree) != with_git
    assert nar_hash(tree) == nix_hash(tree)


@needs_nix
def test_empty_dirs_and_exclude(tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub" / ".git").mkdir(parents=True)
    (tree / "sub" / "code.py").write_text("x = 1\n")
    (tree / "sub" / ".git" / "HEAD").write_text("x")
    (tree / "top.py").write_text("y = 2\n")
    emptied = nar_hash(tree, empty_dirs=["sub"])
    without_sub_git = nar_hash(tree, exclude=["sub/.git"])
    shutil.rmtree(tree / "sub" / ".git")
    assert without_sub_git == nix_hash(tree)
    (tree / "sub" / "code.py").unlink()
    assert emptied == nix_hash(tree)


def test_hash_changes_with_mode_content_and_name(tmp_path):
    tree = tmp_path / "t"
    tree.mkdir()
    f = tree / "f"
    f.write_text("a")
    first = nar_hash(tree)
    f.chmod(0o755)
    assert nar_hash(tree) != first
    f.chmod(0o644)
    assert nar_hash(tree) == first
    f.write_text("b")
    assert nar_hash(tree) != first


def test_unsupported_file_type_is_an_error(tmp_path):
    tree = tmp_path / "t"
    tree.mkdir()
    os.mkfifo(tree / "pipe")
    with pytest.raises(NarError, match="unsupported file type"):
        nar_hash(tree)


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(NarError, match="cannot hash"):
        nar_hash(tmp_path / "nope")


# --- hash strings ---

@needs_nix
def test_nix32_matches_nix(tmp_path):
    (tmp_path / "f").write_text("abc")
    sri = nix_hash(tmp_path / "f")
    digest = base64.b64decode(sri[len("sha256-"):])
    done = subprocess.run([NIX, "--extra-experimental-features", "nix-command", "hash", "to-base32", sri],
                          capture_output=True, text=True, check=True)
    assert nix32_encode(digest) == done.stdout.strip()
    assert nix32_decode(done.stdout.strip()) == digest
    assert parse_hash(done.stdout.strip()) == sri
    assert parse_hash("sha256:" + digest.hex()) == sri


@pytest.mark.parametrize("text", [None, "", "  ", FAKE_HASH, "sha256-AAAAAAAA=", FAKE_SHA256, "sha256:" + "0" * 52])
def test_placeholders(text):
    assert is_placeholder(text)


def test_real_hash_is_not_a_placeholder():
    assert not is_placeholder("sha256-tMmERf4y7sfuEGao7JHC7FLjBgPuViCtHxr8f9NnHzo=")


@pytest.mark.parametrize("text", ["sha256-abc", "md5-xyz", "sha512-" + "A" * 86 + "==", "nothex" * 8, "sha1:abcd"])
def test_bad_hashes_are_config_errors(text):
    with pytest.raises(ConfigError):
        parse_hash(text)
