"""Install, verify, drift, remove and every failure path, with real git repositories (file://)."""

from __future__ import annotations

import os
import shutil
import textwrap

import pytest

from ipex_integration.nodes.install import TEMP_SUFFIX, Installer
from ipex_integration.nodes.lock import fetch_and_hash
from ipex_integration.nodes.git import Git
from ipex_integration.nodes.manifest import parse_manifest
from ipex_integration.nodes.model import NodeError, NodeState
from ipex_integration.nodes.nar import nar_hash
from ipex_integration.nodes.state import read_state
from ipex_integration.nodes.verify import verify_installed
from ipex_integration.runtime.model import Environment

from .conftest import git, manifest_text


def pinned(repo, name="demo", rev=None, hash=None, tmp=None, **extra):
    """A pinned spec for `repo` at `rev` (default HEAD) with its true hash unless one is given."""
    rev = rev or repo.head()
    if hash is None:
        hash = nar_hash(repo.archive(rev, tmp / f"archive-{rev[:8]}"))
    return parse_manifest(manifest_text(name, repo.url, rev, hash, **extra), "m.toml").nodes[name]


def snapshot(path):
    """Everything about a tree that must survive a failed install: NAR hash (content, modes, links) and inodes."""
    return nar_hash(path, exclude_git=False), os.stat(path).st_ino, sorted(os.listdir(path))


def leftovers(custom_nodes):
    return [n for n in os.listdir(custom_nodes) if n.endswith(TEMP_SUFFIX)]


@pytest.fixture
def custom_nodes(comfyui):
    return comfyui / "custom_nodes"


def test_install_fresh_then_verify_ok(node_repo, custom_nodes, tmp_path):
    spec = pinned(node_repo, tmp=tmp_path)
    outcome = Installer(custom_nodes).install(spec)
    target = custom_nodes / "demo"
    assert outcome.action == "installed" and outcome.path == str(target)
    assert nar_hash(target) == spec.source.hash
    assert os.access(target / "tools" / "run.sh", os.X_OK) and os.readlink(target / "alias.py") == "nodes.py"
    assert git("rev-parse", "HEAD", cwd=target) == spec.source.rev  # a usable checkout (git status works)
    assert read_state(custom_nodes)["demo"].rev == spec.source.rev
    assert [r.state for r in verify_installed(custom_nodes)] == [NodeState.OK]
    assert Installer(custom_nodes).install(spec).action == "up-to-date"
    assert leftovers(custom_nodes) == []


def test_replace_with_new_revision(node_repo, custom_nodes, tmp_path):
    installer = Installer(custom_nodes)
    installer.install(pinned(node_repo, tmp=tmp_path))
    node_repo.commit({"nodes.py": "def run(x):\n    return x\n"})
    new = pinned(node_repo, tmp=tmp_path)
    assert installer.install(new).action == "replaced"
    assert (custom_nodes / "demo" / "nodes.py").read_text() == "def run(x):\n    return x\n"
    assert read_state(custom_nodes)["demo"].rev == new.source.rev
    assert leftovers(custom_nodes) == []


def test_hash_mismatch_leaves_old_directory_untouched(node_repo, custom_nodes, tmp_path):
    installer = Installer(custom_nodes)
    installer.install(pinned(node_repo, tmp=tmp_path))
    before = snapshot(custom_nodes / "demo")
    state_before = (custom_nodes / ".ipex-nodes.json").read_bytes()
    node_repo.commit({"nodes.py": "changed\n"})
    wrong = pinned(node_repo, hash="sha256-tMmERf4y7sfuEGao7JHC7FLjBgPuViCtHxr8f9NnHzo=", tmp=tmp_path)
    with pytest.raises(NodeError, match=r"demo: hash mismatch at .* expected sha256-tMmE.*got sha256-.*was not changed"):
        installer.install(wrong)
    assert snapshot(custom_nodes / "demo") == before
    assert (custom_nodes / ".ipex-nodes.json").read_bytes() == state_before
    assert leftovers(custom_nodes) == []


def test_clone_error_leaves_old_directory_untouched(node_repo, custom_nodes, tmp_path):
    installer = Installer(custom_nodes)
    spec = pinned(node_repo, tmp=tmp_path)
    installer.install(spec)
    before = snapshot(custom_nodes / "demo")
    gone = parse_manifest(manifest_text("demo", (tmp_path / "gone").as_uri(), "b" * 40,
                                        spec.source.hash), "m.toml").nodes["demo"]
    with pytest.raises(NodeError, match="cannot fetch file://.*gone.*was not changed"):
        installer.install(gone)
    assert snapshot(custom_nodes / "demo") == before
    assert leftovers(custom_nodes) == []


def test_missing_commit_is_reported(node_repo, custom_nodes, tmp_path):
    spec = parse_manifest(manifest_text("demo", node_repo.url, "c" * 40, "sha256-tMmERf4y7sfuEGao7JHC7FLjBgPuViCtHxr8f9NnHzo="),
                          "m.toml").nodes["demo"]
    with pytest.raises(NodeError, match=f"demo: (cannot fetch|{node_repo.url} has no commit)"):
        Installer(custom_nodes).install(spec)
    assert not (custom_nodes / "demo").exists() and leftovers(custom_nodes) == []


def write_fake_python(path, *, pip_exit: int, pip_stderr: str):
    """Stands in for a backend environment's interpreter whose pip fails (no index reachable, broken env):
    answers the torch-version query like importlib.metadata would, and fails `-m pip install`."""
    path.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo "$@" >> "{path}.calls"
        if [ "$1" = "-c" ]; then echo '{{"torch": "2.8.0+xpu", "torchvision": "0.23.0+xpu"}}'; exit 0; fi
        echo "{pip_stderr}" >&2
        exit {pip_exit}
        """))
    path.chmod(0o755)
    return path


def test_requirements_failure_leaves_old_directory_untouched(node_repo, custom_nodes, tmp_path):
    Installer(custom_nodes).install(pinned(node_repo, tmp=tmp_path))
    before = snapshot(custom_nodes / "demo")
    node_repo.commit({"requirements.txt": "torch\nnot-a-real-package\n"})
    python = write_fake_python(tmp_path / "python", pip_exit=1,
                               pip_stderr="ERROR: No matching distribution found for not-a-real-package")
    installer = Installer(custom_nodes, environments=[Environment("xpu", str(python), None)])
    with pytest.raises(NodeError) as info:
        installer.install(pinned(node_repo, tmp=tmp_path))
    message = info.value.message
    assert "environment xpu " in message and "torch==2.8.0+xpu" in message
    assert "No matching distribution found for not-a-real-package" in message and "was not changed" in message
    assert snapshot(custom_nodes / "demo") == before
    calls = (tmp_path / "python.calls").read_text()
    assert "-m pip install" in calls and "-c " in calls  # constraints were passed
    assert leftovers(custom_nodes) == []


def test_drift_is_reported_and_protected(node_repo, custom_nodes, tmp_path):
    installer = Installer(custom_nodes)
    spec = pinned(node_repo, tmp=tmp_path)
    installer.install(spec)
    (custom_nodes / "demo" / "nodes.py").write_text("# my local fix\n")
    (result,) = verify_installed(custom_nodes)
    assert result.state is NodeState.DRIFT and result.actual != result.expected
    assert "git -C" in result.detail
    with pytest.raises(NodeError, match="local edits"):
        installer.install(spec)
    with pytest.raises(NodeError, match="local edits"):
        installer.remove("demo")
    assert (custom_nodes / "demo" / "nodes.py").read_text() == "# my local fix\n"
    assert installer.install(spec, force=True).action == "replaced"
    assert [r.state for r in verify_installed(custom_nodes)] == [NodeState.OK]


def test_mode_change_counts_as_drift(node_repo, custom_nodes, tmp_path):
    Installer(custom_nodes).install(pinned(node_repo, tmp=tmp_path))
    (custom_nodes / "demo" / "tools" / "run.sh").chmod(0o644)
    assert verify_installed(custom_nodes)[0].state is NodeState.DRIFT


def test_outdated_missing_and_unmanaged(node_repo, custom_nodes, tmp_path):
    installer = Installer(custom_nodes)
    old = pinned(node_repo, tmp=tmp_path)
    installer.install(old)
    node_repo.commit({"x.py": ""})
    newer = pinned(node_repo, tmp=tmp_path)
    (custom_nodes / "someone_elses").mkdir()
    (custom_nodes / "single_file_node.py").write_text("")
    results = {r.name: r.state for r in verify_installed(custom_nodes, {"demo": newer})}
    assert results == {"demo": NodeState.OUTDATED, "someone_elses": NodeState.UNMANAGED,
                       "single_file_node.py": NodeState.UNMANAGED}
    shutil.rmtree(custom_nodes / "demo")
    assert verify_installed(custom_nodes, names=["demo"])[0].state is NodeState.MISSING


def test_existing_unmanaged_directory_needs_force(node_repo, custom_nodes, tmp_path):
    (custom_nodes / "demo").mkdir()
    (custom_nodes / "demo" / "mine.py").write_text("keep")
    spec = pinned(node_repo, tmp=tmp_path)
    with pytest.raises(NodeError, match="not installed by ipex") as info:
        Installer(custom_nodes).install(spec)
    assert "--force" in info.value.hint
    assert (custom_nodes / "demo" / "mine.py").read_text() == "keep"
    Installer(custom_nodes).install(spec, force=True)
    assert not (custom_nodes / "demo" / "mine.py").exists()


def test_remove(node_repo, custom_nodes, tmp_path):
    installer = Installer(custom_nodes)
    installer.install(pinned(node_repo, tmp=tmp_path))
    installer.remove("demo")
    assert not (custom_nodes / "demo").exists()
    assert read_state(custom_nodes) == {}
    assert leftovers(custom_nodes) == []
    with pytest.raises(NodeError, match="not installed"):
        installer.remove("demo")
    (custom_nodes / "other").mkdir()
    with pytest.raises(NodeError, match="not installed by ipex"):
        installer.remove("other")
    installer.remove("other", force=True)
    assert not (custom_nodes / "other").exists()


def test_subdir_install(make_repo, custom_nodes, tmp_path):
    repo = make_repo("mono")
    repo.commit({"README.md": "x", "comfy/__init__.py": "NODE_CLASS_MAPPINGS = {}\n", "lib/other.py": ""})
    spec = pinned(repo, name="mono_node", tmp=tmp_path, subdir="comfy")
    Installer(custom_nodes).install(spec)
    assert sorted(os.listdir(custom_nodes / "mono_node")) == ["__init__.py"]
    assert verify_installed(custom_nodes)[0].state is NodeState.OK
    (custom_nodes / "mono_node" / "__init__.py").write_text("edited")
    assert verify_installed(custom_nodes)[0].state is NodeState.DRIFT


def test_submodule_install_and_drift_inside_submodule(make_repo, custom_nodes, tmp_path):
    sub = make_repo("sub")
    sub.commit({"scripts/ultimate-upscale.py": "print(1)\n"})
    parent = make_repo("parent")
    parent.commit({"__init__.py": "from .repositories import x\n"})
    git("submodule", "add", "--quiet", sub.url, "repositories/sub", cwd=parent.path)
    git("commit", "--quiet", "-m", "sub", cwd=parent.path)
    body = manifest_text("parent", parent.url, ref="main") + (
        f'[[nodes.parent.submodules]]\npath = "repositories/sub"\nurl = "{sub.url}"\n')
    unpinned = parse_manifest(body, "m.toml").nodes["parent"]
    spec, _ = fetch_and_hash(unpinned, parent.head(), tmp_path / "lockwork", Git())
    Installer(custom_nodes).install(spec)
    installed = custom_nodes / "parent" / "repositories" / "sub" / "scripts" / "ultimate-upscale.py"
    assert installed.read_text() == "print(1)\n"
    assert verify_installed(custom_nodes)[0].state is NodeState.OK
    installed.write_text("print(2)\n")
    (result,) = verify_installed(custom_nodes)
    assert result.state is NodeState.DRIFT and "submodule repositories/sub" in result.detail


def test_submodule_hash_mismatch_is_caught(make_repo, custom_nodes, tmp_path):
    sub = make_repo("sub")
    sub_rev = sub.commit({"a.py": "1\n"})
    parent = make_repo("parent")
    parent.commit({"__init__.py": ""})
    git("submodule", "add", "--quiet", sub.url, "repositories/sub", cwd=parent.path)
    git("commit", "--quiet", "-m", "sub", cwd=parent.path)
    main_hash = nar_hash(parent.archive(parent.head(), tmp_path / "a"))
    body = manifest_text("parent", parent.url, parent.head(), main_hash) + (
        f'[[nodes.parent.submodules]]\npath = "repositories/sub"\nurl = "{sub.url}"\nrev = "{sub_rev}"\n'
        'hash = "sha256-tMmERf4y7sfuEGao7JHC7FLjBgPuViCtHxr8f9NnHzo="\n')
    with pytest.raises(NodeError, match="hash mismatch in submodule repositories/sub"):
        Installer(custom_nodes).install(parse_manifest(body, "m.toml").nodes["parent"])
    assert not (custom_nodes / "parent").exists() and leftovers(custom_nodes) == []
