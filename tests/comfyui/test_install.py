"""`ipex comfyui install` from local git repositories (file://) into real virtual environments, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from ipex_integration.cli.main import main as ipex_main
from ipex_integration.comfyui import ComfyUIError
from ipex_integration.comfyui.checkout import find_checkout, register_checkout, inspect_checkout
from ipex_integration.comfyui.install import install, newest_release_tag, select_environments
from ipex_integration.errors import EnvironmentSetupError
from ipex_integration.runtime.model import Backend, Environment
from tests.fakes.comfyui import git, make_comfyui_repo

RELEASES = {"v0.3.9": "0.3.9", "v0.3.47": "0.3.47", "v0.3.10": "0.3.10"}  # text order != version order
TORCH_VERSION = subprocess.run([sys.executable, "-c", "import importlib.metadata as m; print(m.version('torch'))"],
                               capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    return make_comfyui_repo(tmp_path / "mirror", RELEASES)


@pytest.fixture
def venv(tmp_path) -> Environment:
    """A real virtual environment that sees this interpreter's packages (torch among them) through a .pth
    file, and has none of its own: what pip installs there lands in its own site-packages."""
    root = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "devenv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return Environment("cpu", str(python), Backend.CPU)


@pytest.fixture
def offline(tmp_path) -> dict[str, str]:
    """pip with no index, and a folder of local wheels."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "demo-dep", "1.0")
    _wheel(wheels, "needs-vision", "1.0", requires=("torchvision",))  # as spandrel needs torchvision
    _wheel(wheels, "torchvision", "0.28.0")  # a generic build, without torch's +cpu label
    return {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels), "PIP_NO_CACHE_DIR": "1"}


def _wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel (a zip with dist-info), so pip has something to install offline."""
    module = name.replace("-", "_")
    dist = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f'VERSION = "{version}"\n',
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for arcname, text in files.items():
            archive.writestr(arcname, text)
        archive.writestr(f"{dist}/RECORD", "".join(f"{n},,\n" for n in files) + f"{dist}/RECORD,,\n")
    return path


def _set_requirements(repo: Path, text: str) -> None:
    (repo / "requirements.txt").write_text(text)
    git("commit", "-q", "-am", "requirements", cwd=repo)
    git("tag", "-f", "v0.3.47", cwd=repo)


@pytest.mark.parametrize(("tags", "newest"), [
    (["v0.3.9", "v0.3.47", "v0.3.10"], "v0.3.47"),
    (["v0.3.64", "v0.1.1113", "latest", "v0.3.65-rc1"], "v0.3.64"),
    (["0.4.0", "v0.3.99"], "0.4.0"),
    (["nightly"], None),
])
def test_newest_release_tag_is_by_version(tags, newest):
    assert newest_release_tag(tags) == newest


def test_install_clones_the_newest_release_and_registers_it(repo, tmp_path, isolated_home):
    target = tmp_path / "apps" / "ComfyUI"
    result = install(target=target, repo=f"file://{repo}", requirements=False)
    assert (result.ref, result.checkout.version) == ("v0.3.47", "0.3.47")
    assert result.commit == git("rev-parse", "v0.3.47^{commit}", cwd=repo)
    assert (target / "main.py").is_file() and (target / "comfy" / "cli_args.py").is_file()
    assert [p.name for p in target.parent.iterdir()] == ["ComfyUI"]  # no staging folder left behind
    registered = tomllib.loads((isolated_home / "config" / "config.toml").read_text())["comfyui"]
    assert registered["path"] == str(target) and registered["ref"] == "v0.3.47"
    assert registered["repo"] == f"file://{repo}" and registered["commit"] == result.commit
    assert find_checkout().path == target


@pytest.mark.parametrize("ref", ["v0.3.10", "FIRST_COMMIT"])
def test_install_a_given_ref(repo, tmp_path, ref):
    if ref == "FIRST_COMMIT":
        ref = git("rev-list", "--max-parents=0", "HEAD", cwd=repo)[:12]
    result = install(target=tmp_path / "c", repo=str(repo), ref=ref, requirements=False)
    assert result.checkout.version == ("0.3.10" if ref == "v0.3.10" else "0.3.9")


def test_ref_that_does_not_exist(repo, tmp_path):
    with pytest.raises(ComfyUIError, match="ref 'v9.9.9' does not exist"):
        install(target=tmp_path / "c", repo=f"file://{repo}", ref="v9.9.9", requirements=False)
    assert not (tmp_path / "c").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".c.install-")]


def test_repository_that_is_not_comfyui(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "README").write_text("hello\n")
    git("init", "-q", cwd=other)
    git("add", "-A", cwd=other)
    git("commit", "-q", "-m", "x", cwd=other)
    with pytest.raises(ComfyUIError, match="is not a ComfyUI checkout"):
        install(target=tmp_path / "c", repo=str(other), ref="HEAD", requirements=False)
    assert not (tmp_path / "c").exists()


def test_bad_url(tmp_path):
    with pytest.raises(ComfyUIError, match="cloning file:///nonexistent/repo failed: .*does not appear to be a git repository"):
        install(target=tmp_path / "c", repo="file:///nonexistent/repo", requirements=False)


def test_existing_folder_is_never_replaced(repo, tmp_path):
    target = tmp_path / "ComfyUI"
    target.mkdir()
    (target / "models").mkdir()
    with pytest.raises(ComfyUIError, match="already exists and is not empty"):
        install(target=target, repo=str(repo), requirements=False)
    assert [p.name for p in target.iterdir()] == ["models"]


def test_requirements_go_into_the_environment_with_its_torch_pinned(repo, tmp_path, venv, offline):
    _set_requirements(repo, "torch\ntorchvision\ntorchaudio\nnumpy>=1.25.0\ndemo-dep==1.0\n")
    result = install(target=tmp_path / "c", repo=str(repo), environments=[venv], environ=offline)
    (req,) = result.requirements
    assert req.environment == "cpu" and req.pinned == {"torch": TORCH_VERSION}
    # Not installed here, so left out rather than fetched as a generic build (pip has no index: it would fail).
    assert req.skipped == ("torchvision", "torchaudio")
    assert any("torchaudio is not installed in environment cpu" in note for note in result.notes)
    installed = subprocess.run([venv.python, "-c", "import demo_dep, sys; print(demo_dep.__file__)"],
                               capture_output=True, text=True, check=True).stdout
    assert installed.startswith(str(Path(venv.python).parents[1]))  # into the venv, not the shared packages


def test_requirements_can_never_replace_torch(repo, tmp_path, venv, offline, isolated_home):
    earlier = inspect_checkout(_fake_checkout(tmp_path), found_by="test")
    register_checkout(earlier)
    _set_requirements(repo, "torch>=99\n")
    with pytest.raises(EnvironmentSetupError, match="installing ComfyUI's requirements into environment cpu failed"):
        install(target=tmp_path / "c", repo=str(repo), environments=[venv], environ=offline)
    assert not (tmp_path / "c").exists()
    assert find_checkout().path == earlier.path  # the registered checkout is still the old one
    torch_now = subprocess.run([venv.python, "-c", "import importlib.metadata as m; print(m.version('torch'))"],
                               capture_output=True, text=True, check=True).stdout.strip()
    assert torch_now == TORCH_VERSION


def test_failed_requirements_leave_no_checkout(repo, tmp_path, venv, offline):
    _set_requirements(repo, "definitely-not-a-package-xyz==1.0\n")
    with pytest.raises(EnvironmentSetupError, match="definitely-not-a-package-xyz"):
        install(target=tmp_path / "c", repo=str(repo), environments=[venv], environ=offline)
    assert not (tmp_path / "c").exists()


def test_environment_without_torch_is_refused(repo, tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    env = Environment("xpu", str(bare / "bin" / "python"), Backend.XPU)
    with pytest.raises(EnvironmentSetupError, match="has no torch") as info:
        install(target=tmp_path / "c", repo=str(repo), environments=[env])
    assert info.value.hint == "ipex env create xpu"


def test_missing_backend_environment_names_the_fix():
    cpu = Environment("cpu", "/x/python", Backend.CPU)
    with pytest.raises(EnvironmentSetupError, match="no xpu environment is registered") as info:
        select_environments([Backend.XPU], [cpu])
    assert info.value.hint == "ipex env create xpu"
    with pytest.raises(EnvironmentSetupError, match="no backend environment is registered"):
        select_environments(None, [Environment("current", "/x", None, registered=False)])
    assert select_environments(None, [cpu]) == [cpu]


def test_install_command_json(repo, tmp_path, capsys):
    code = ipex_main(["comfyui", "install", "--dir", str(tmp_path / "c"), "--repo", f"file://{repo}",
                      "--no-requirements", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ref"] == "v0.3.47" and data["checkout"]["version"] == "0.3.47"


def test_install_command_missing_environment(repo, tmp_path, capsys):
    code = ipex_main(["comfyui", "install", "--dir", str(tmp_path / "c"), "--repo", str(repo), "--backend", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and "no cuda environment is registered" in err and "ipex env create cuda" in err
    assert not (tmp_path / "c").exists()


def _fake_checkout(tmp_path: Path) -> Path:
    from tests.fakes.comfyui import build_fake_comfyui

    return build_fake_comfyui(tmp_path / "earlier", "0.3.47")


def test_requirements_command_uses_the_registered_environment(comfyui, venv, offline, monkeypatch, capsys):
    from ipex_integration.runtime.registry import load_registry

    registry = load_registry()
    registry.add(Backend.CPU, venv.python)
    registry.save()
    root = comfyui(requirements="torch\ndemo-dep==1.0\n")
    register_checkout(inspect_checkout(root, found_by="test"))
    for key in ("PIP_NO_INDEX", "PIP_FIND_LINKS", "PIP_NO_CACHE_DIR"):
        monkeypatch.setenv(key, offline[key])
    assert ipex_main(["comfyui", "requirements", "--backend", "cpu"]) == 0
    assert f"requirements installed into cpu (torch {TORCH_VERSION} kept)" in capsys.readouterr().out
    subprocess.run([venv.python, "-c", "import demo_dep"], check=True)


def test_torch_package_pulled_in_by_another_requirement_fails_the_import_proof(repo, tmp_path, venv, offline):
    """A torchvision that is not the one made for this torch (here a generic 0.28.0 pulled in by another
    requirement) is what broke ComfyUI after an install that reported success: install now ends by importing
    ComfyUI's model code there, fails with the fix, and moves no checkout into place."""
    _set_requirements(repo, "torch\ntorchvision\nneeds-vision\n")
    with pytest.raises(EnvironmentSetupError, match="ComfyUI does not import in environment cpu") as info:
        install(target=tmp_path / "c", repo=str(repo), environments=[venv], environ=offline)
    assert info.value.hint.startswith(f"torchvision does not match torch {TORCH_VERSION}: ")
    assert f"torch=={TORCH_VERSION.split('+')[0]} torchvision==" in info.value.hint
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(("torch_version", "vision"), [("2.14.1", "0.29.1"), ("2.5.0", "0.20.0"), ("1.13.1", None)])
def test_matching_torchvision(torch_version, vision):
    from ipex_integration.comfyui.importcheck import matching_torchvision

    assert matching_torchvision(torch_version) == vision


def test_import_proof_passes_where_comfyui_imports(comfyui, venv):
    from ipex_integration.comfyui.importcheck import prove_comfyui_imports

    check = prove_comfyui_imports(comfyui(), venv)
    assert check.environment == "cpu" and check.torch == TORCH_VERSION
