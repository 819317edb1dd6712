"""SIGTERM or SIGINT of `ipex nodes install` mid-fetch leaves no `.NAME.*.ipex-tmp.disabled` in custom_nodes
and no git still fetching: the staging folder is removed on the way out and run_command kills git's whole
process group (`git fetch` runs `git-remote-http`, a grandchild)."""

from __future__ import annotations

import os
import socket

import psutil
import pytest

from ipex_integration.nodes.nar import nar_hash
from tests.fakes import interrupt

from .conftest import manifest_text

INSTALL = """
from pathlib import Path
from ipex_integration.nodes.install import Installer
from ipex_integration.nodes.manifest import parse_manifest
spec = parse_manifest(Path(sys.argv[2]).read_text(), "m.toml").nodes["demo"]
Installer(Path(sys.argv[3])).install(spec)
"""


@pytest.fixture
def silent_server():
    """An HTTP address that accepts connections (the kernel's backlog) and never answers: git waits forever."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/demo.git"


@pytest.mark.parametrize("signum", interrupt.SIGNALS, ids=lambda s: s.name)
def test_interrupted_fetch_leaves_nothing_running_or_behind(comfyui, tmp_path, silent_server, signum):
    custom_nodes = comfyui / "custom_nodes"
    empty = tmp_path / "empty"
    empty.mkdir()
    manifest = tmp_path / "m.toml"
    manifest.write_text(manifest_text("demo", silent_server, "0" * 40, nar_hash(empty)))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    child = interrupt.start(INSTALL, str(manifest), str(custom_nodes), env=env)
    tree = []
    try:
        tree = interrupt.wait_for_descendant(child, lambda argv: any("remote-http" in a for a in argv), timeout=60)
        assert any(n.endswith(".ipex-tmp.disabled") for n in os.listdir(custom_nodes))
        tree = psutil.Process(child.pid).children(recursive=True)
        code, err = interrupt.interrupt(child, signum)
        assert code == interrupt.INTERRUPTED_EXIT, err[-2000:]
        assert interrupt.alive(tree) == []
        assert interrupt.alive(interrupt.mentioning(custom_nodes)) == []
        assert os.listdir(custom_nodes) == []
    finally:
        interrupt.kill_tree(tree)


def test_interrupt_between_the_two_renames_puts_the_old_node_back(tmp_path, monkeypatch):
    from ipex_integration.errors import Interrupted
    from ipex_integration.nodes.install import Installer

    target, new, work = tmp_path / "demo", tmp_path / "new", tmp_path / "work"
    for d in (target, new, work):
        d.mkdir()
    (target / "old.py").write_text("old")
    real_rename, calls = os.rename, []

    def rename(src, dst):
        calls.append(src)
        if len(calls) == 2:  # old already aside, new not yet in: SIGTERM arrives here
            raise Interrupted(15)
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(Interrupted):
        Installer._swap(new, target, work)
    assert (target / "old.py").read_text() == "old"
