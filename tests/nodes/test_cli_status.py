"""`ipex nodes ...` end to end through the real CLI, and the "Custom nodes" status section."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from ipex_integration.cli.main import main
from ipex_integration.nodes.hashes import FAKE_HASH
from ipex_integration.nodes.nar import nar_hash
from ipex_integration.nodes.status import checks
from ipex_integration.status.model import Level

from .conftest import manifest_text


@pytest.fixture
def setup(node_repo, comfyui, tmp_path):
    rev = node_repo.head()
    digest = nar_hash(node_repo.archive(rev, tmp_path / "archive"))
    manifest = tmp_path / "nodes.toml"
    manifest.write_text(manifest_text("demo", node_repo.url, rev, digest))
    base = ["--manifest", str(manifest), "--comfyui", str(comfyui), "--no-deps"]
    return SimpleNamespace(repo=node_repo, rev=rev, hash=digest, manifest=manifest, comfyui=comfyui, base=base)


def nodes(*args):
    return main(["nodes", *args])


def test_install_list_verify_check_remove(setup, capsys):
    assert nodes("install", "demo", *setup.base) == 0
    assert f"demo: installed {setup.rev[:12]}" in capsys.readouterr().out
    common = ["--manifest", str(setup.manifest), "--comfyui", str(setup.comfyui)]
    assert nodes("list", "--json", *common) == 0
    (row,) = json.loads(capsys.readouterr().out)["nodes"]
    assert (row["name"], row["rev"], row["hash"], row["installed_rev"]) == ("demo", setup.rev, setup.hash, setup.rev)
    assert nodes("verify", "--json", *common) == 0
    assert json.loads(capsys.readouterr().out)["nodes"][0]["state"] == "ok"
    assert nodes("check", "demo", *common) == 1  # x.cuda() in nodes.py
    assert "nodes.py:4: cuda-call" in capsys.readouterr().out
    assert row["drift"] is None
    edited = setup.comfyui / "custom_nodes" / "demo" / "nodes.py"
    edited.write_text("edited\n")
    later = edited.stat().st_mtime + 60  # an edit a minute after the install
    os.utime(edited, (later, later))
    assert nodes("list", *common) == 0
    assert "drift: nodes.py changed" in capsys.readouterr().out
    assert nodes("list", "--verify", "--json", *common) == 0
    assert json.loads(capsys.readouterr().out)["nodes"][0]["drift"] == "drift (re-hashed)"
    assert nodes("verify", *common) == 1
    assert "demo: drift" in capsys.readouterr().out
    assert nodes("remove", "demo", *common) == 3  # refused: local edits (errors.EXIT_REFUSED)
    assert "local edits" in capsys.readouterr().err
    assert nodes("remove", "demo", "--force", *common) == 0
    assert not (setup.comfyui / "custom_nodes" / "demo").exists()


def test_install_failure_is_one_line_and_nonzero(setup, capsys):
    setup.manifest.write_text(manifest_text("demo", setup.repo.url, setup.rev,
                                            "sha256-tMmERf4y7sfuEGao7JHC7FLjBgPuViCtHxr8f9NnHzo="))
    assert nodes("install", "demo", *setup.base) == 4  # failed (errors.EXIT_FAILED)
    err = capsys.readouterr().err
    assert err.startswith("ipex: error: demo: hash mismatch") and "Traceback" not in err


def test_usage_errors(setup, capsys):
    assert nodes("install", *setup.base) == 2
    assert "name the nodes to install, or pass --all" in capsys.readouterr().err
    assert nodes("install", "nosuch", *setup.base) == 2
    assert "unknown custom node 'nosuch'" in capsys.readouterr().err
    assert nodes("install", "demo", "--manifest", str(setup.manifest), "--comfyui", "/nonexistent", "--no-deps") == 2
    assert "nonexistent does not exist" in capsys.readouterr().err


def test_lock_prints_placeholder_and_real_hash(setup, tmp_path, capsys):
    setup.manifest.write_text(manifest_text("demo", setup.repo.url, setup.rev, FAKE_HASH))
    lock = tmp_path / "out.lock.json"
    assert nodes("lock", "--manifest", str(setup.manifest), "--lock", str(lock)) == 0
    out = capsys.readouterr().out
    assert f"placeholder hash in the manifest ('{FAKE_HASH}'); real hash: {setup.hash}" in out
    assert json.loads(lock.read_text())["nodes"]["demo"]["hash"] == setup.hash


def test_status_section(setup, monkeypatch, isolated_home):
    ctx = SimpleNamespace(environ={"IPEX_INTEGRATION_HOME": str(isolated_home)})
    rows = checks(ctx)
    assert any(r.name == "custom_nodes" and r.level is Level.MISSING for r in rows)  # no ComfyUI known
    (isolated_home / "config").mkdir(exist_ok=True)
    (isolated_home / "config" / "nodes.toml").write_text(setup.manifest.read_text())
    ctx = SimpleNamespace(environ={"IPEX_INTEGRATION_HOME": str(isolated_home), "COMFYUI_PATH": str(setup.comfyui)})
    by_name = {r.name: r for r in checks(ctx)}
    assert by_name["demo"].level is Level.MISSING and by_name["demo"].fix == "ipex nodes install demo"
    assert by_name["comfyui_controlnet_aux"].level is Level.MISSING  # catalog nodes are listed too
    assert nodes("install", "demo", "--comfyui", str(setup.comfyui), "--no-deps") == 0
    by_name = {r.name: r for r in checks(ctx)}
    assert by_name["demo"].level is Level.OK and "hash verified" in by_name["demo"].detail
    (setup.comfyui / "custom_nodes" / "demo" / "nodes.py").write_text("edited\n")
    by_name = {r.name: r for r in checks(ctx)}
    assert by_name["demo"].level is Level.WARNING and "files changed" in by_name["demo"].detail
    assert all(r.section == "Custom nodes" for r in by_name.values())


def test_install_and_remove_refusals_share_exit_code_3(setup, capsys):
    """Both refuse to lose a folder ipex did not install with the one refusal code (errors.EXIT_REFUSED)."""
    mine = setup.comfyui / "custom_nodes" / "demo"
    mine.mkdir()
    (mine / "mine.py").write_text("keep")
    assert nodes("install", "demo", *setup.base) == 3
    assert "was not installed by ipex" in capsys.readouterr().err
    assert nodes("remove", "demo", "--manifest", str(setup.manifest), "--comfyui", str(setup.comfyui)) == 3
    assert "was not installed by ipex" in capsys.readouterr().err
    assert (mine / "mine.py").read_text() == "keep"
