"""Requirements go into a real virtual environment with its torch pinned by constraints (pip, offline: a local
wheel directory stands in for PyPI; the wheels are tiny hand-built ones, "torch" included)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import venv
import zipfile
from pathlib import Path

import pytest

from ipex_integration.nodes.install import Installer
from ipex_integration.nodes.model import NodeError
from ipex_integration.nodes.nar import nar_hash
from ipex_integration.nodes.manifest import parse_manifest
from ipex_integration.runtime.model import Environment

from .conftest import manifest_text

pytestmark = pytest.mark.slow


def make_wheel(directory: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"__version__ = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                             + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


@pytest.fixture(scope="module")
def backend_env(tmp_path_factory):
    """A venv holding torch 2.8.0+xpu (as an XPU environment would) and oldpkg, which needs shared<2."""
    root = tmp_path_factory.mktemp("venv")
    wheels = root / "wheels"
    wheels.mkdir()
    for args in [("torch", "2.8.0+xpu"), ("torch", "2.9.0"), ("shared", "1.0"), ("shared", "2.0"),
                 ("oldpkg", "1.0", ("shared<2",)), ("nodedep", "1.0", ("torch",)),
                 ("needsnewtorch", "1.0", ("torch>=2.9",))]:
        make_wheel(wheels, *args)
    env_dir = root / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels,
                    "torch==2.8.0+xpu", "oldpkg"], check=True)
    return python, wheels


def version_in(python: Path, name: str) -> str:
    return subprocess.run([python, "-c", f"import importlib.metadata as m; print(m.version({name!r}))"],
                          capture_output=True, text=True, check=True).stdout.strip()


def node_with_requirements(repo, tmp_path, lines: str):
    repo.commit({"requirements.txt": lines})
    rev = repo.head()
    digest = nar_hash(repo.archive(rev, tmp_path / f"a-{rev[:8]}"))
    return parse_manifest(manifest_text("demo", repo.url, rev, digest), "m.toml").nodes["demo"]


def test_requirements_installed_with_torch_pinned_and_conflicts_reported(backend_env, node_repo, comfyui, tmp_path):
    python, wheels = backend_env
    spec = node_with_requirements(node_repo, tmp_path,
                                  f"--no-index\n--find-links {wheels}\nnodedep\ntorch\nshared==2.0\n")
    installer = Installer(comfyui / "custom_nodes", environments=[Environment("xpu", str(python), None)])
    outcome = installer.install(spec)
    (env,) = outcome.requirements
    assert env.constraints == ("torch==2.8.0+xpu",)
    assert version_in(python, "nodedep") == "1.0"
    assert version_in(python, "torch") == "2.8.0+xpu"  # not replaced by the newer 2.9.0 on the index
    assert any("oldpkg" in line and "shared" in line for line in env.conflicts), env.conflicts
    assert outcome.conflicts


def test_requirement_that_would_replace_torch_fails_and_keeps_old_node(backend_env, node_repo, comfyui, tmp_path):
    python, wheels = backend_env
    custom_nodes = comfyui / "custom_nodes"
    Installer(custom_nodes).install(node_with_requirements(node_repo, tmp_path, "# none\n"))
    before = nar_hash(custom_nodes / "demo", exclude_git=False)
    spec = node_with_requirements(node_repo, tmp_path, f"--no-index\n--find-links {wheels}\nneedsnewtorch\n")
    installer = Installer(custom_nodes, environments=[Environment("xpu", str(python), None)])
    with pytest.raises(NodeError, match=r"into environment xpu failed \(pinned: torch==2.8.0\+xpu\)"):
        installer.install(spec)
    assert version_in(python, "torch") == "2.8.0+xpu"
    assert nar_hash(custom_nodes / "demo", exclude_git=False) == before
