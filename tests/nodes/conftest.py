"""Fixtures for the custom-node tests: real local git repositories (served as file:// URLs), a minimal ComfyUI
checkout layout, and `nix hash path` as the reference hash when nix is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

NIX = shutil.which("nix")
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always", *args],
                          cwd=cwd, env=GIT_ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def nix_hash(path: Path) -> str:
    done = subprocess.run([NIX, "--extra-experimental-features", "nix-command", "hash", "path", str(path)],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


needs_nix = pytest.mark.skipif(NIX is None, reason="nix is not installed (apt-get install nix-bin)")


class Repo:
    """A local git repository with helpers to commit files; `url` is its file:// URL."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        git("init", "--quiet", cwd=path)

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def commit(self, files: dict[str, str | bytes | None], message: str = "c", executable: tuple[str, ...] = ()) -> str:
        for rel, content in files.items():
            target = self.path / rel
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
            if rel in executable:
                target.chmod(0o755)
        git("add", "-A", cwd=self.path)
        git("commit", "--quiet", "-m", message, cwd=self.path)
        return self.head()

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.path)

    def archive(self, rev: str, dest: Path) -> Path:
        """The tree as a GitHub tarball holds it (git archive), unpacked: what Nix would hash."""
        dest.mkdir(parents=True)
        data = subprocess.run(["git", "archive", rev], cwd=self.path, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=data, check=True)
        return dest


@pytest.fixture
def make_repo(tmp_path):
    def make(name: str = "node") -> Repo:
        return Repo(tmp_path / "remotes" / name)

    return make


@pytest.fixture
def node_repo(make_repo):
    """A small node: Python files, an executable script, a symlink, a requirements.txt-free tree."""
    repo = make_repo("demo_node")
    repo.commit({
        "__init__.py": "NODE_CLASS_MAPPINGS = {}\n",
        "nodes.py": "import torch\n\ndef run(x):\n    return x.cuda()\n",
        "tools/run.sh": "#!/bin/sh\necho hi\n",
        "data/blob.bin": bytes(range(256)) * 40,
    }, executable=("tools/run.sh",))
    os.symlink("nodes.py", repo.path / "alias.py")
    git("add", "-A", cwd=repo.path)
    git("commit", "--quiet", "-m", "symlink", cwd=repo.path)
    return repo


@pytest.fixture
def comfyui(tmp_path) -> Path:
    """The layout of a ComfyUI checkout that node installs need: the files comfyui.checkout checks for, and
    custom_nodes/ (a real ComfyUI is not needed to place files into custom_nodes)."""
    root = tmp_path / "ComfyUI"
    (root / "custom_nodes").mkdir(parents=True)
    (root / "comfy").mkdir()
    for name in ("main.py", "comfy/cli_args.py", "comfy/options.py"):
        (root / name).write_text("# stand-in\n")
    (root / "comfyui_version.py").write_text('__version__ = "0.3.47"\n')
    return root


def manifest_text(name: str, url: str, rev: str | None = None, hash: str | None = None, **extra) -> str:
    lines = [f"[nodes.{name}]", f'url = "{url}"']
    if rev:
        lines.append(f'rev = "{rev}"')
    if hash is not None:
        lines.append(f'hash = "{hash}"')
    for key, value in extra.items():
        lines.append(f'{key} = "{value}"')
    return "\n".join(lines) + "\n"


def write_manifest(path: Path, *entries: str) -> Path:
    path.write_text(textwrap.dedent("\n".join(entries)))
    return path
