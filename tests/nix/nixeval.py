"""The two Nix the tests use, and how they find them; tests skip with the reason where one is missing.

- Debian's `nix-instantiate` on PATH (Nix 2.8 on bookworm): parses every .nix file and evaluates
  nix/lock.nix, which needs builtins only (tests/nodes also use its `nix hash path`).
- A current Nix (>= 2.18, which nixpkgs' lib/minver.nix asks for) and the real nixpkgs lib, for the flake and
  the NixOS modules under the stand-in package set of tests/nix/fixture/. `../shared/nix/install-nix.sh PREFIX`
  installs Nix 2.26 (scripts/test.sh runs it where that script exists); `../shared/nix/nixpkgs-lib/` is the lib.
  Found through IPEX_NIX_BIN / IPEX_NIXPKGS_LIB, else those default places.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parent / "fixture"
MIN_VERSION = (2, 18)

NIX_INSTANTIATE = shutil.which("nix-instantiate")
needs_nix = pytest.mark.skipif(NIX_INSTANTIATE is None, reason="nix-instantiate not installed (apt-get install nix-bin)")

# Where scripts/test.sh installs the current Nix when ../shared/nix/install-nix.sh is there.
DEFAULT_NIX_PREFIXES = (Path("/opt/nix-trixie"), Path.home() / ".cache" / "ipex-integration" / "nix-trixie")


def nix_version(nix: Path) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([str(nix), "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    found = re.search(r"(\d+)\.(\d+)", out)
    return tuple(int(x) for x in found.groups()) if found else None


def _current_nix() -> tuple[Path | None, str]:
    dirs = [Path(os.environ["IPEX_NIX_BIN"])] if os.environ.get("IPEX_NIX_BIN") else []
    dirs += [p / "bin" for p in DEFAULT_NIX_PREFIXES]
    if shutil.which("nix"):
        dirs.append(Path(shutil.which("nix")).parent)
    seen = []
    for d in dirs:
        version = nix_version(d / "nix") if (d / "nix").exists() else None
        if version is not None and version >= MIN_VERSION:
            return d, ""
        if version is not None:
            seen.append(f"{d}/nix is {'.'.join(map(str, version))}")
    found = f" ({'; '.join(seen)})" if seen else ""
    return None, (f"no Nix >= {'.'.join(map(str, MIN_VERSION))} found{found}: run ../shared/nix/install-nix.sh "
                  f"/opt/nix-trixie, or set IPEX_NIX_BIN")


def _nixpkgs_lib() -> tuple[Path | None, str]:
    candidates = [Path(os.environ["IPEX_NIXPKGS_LIB"])] if os.environ.get("IPEX_NIXPKGS_LIB") else []
    candidates.append(ROOT.parent / "shared" / "nix" / "nixpkgs-lib")
    for path in candidates:
        if (path / "lib" / "default.nix").exists():
            return path / "lib", ""
    return None, "the real nixpkgs lib is not here (../shared/nix/nixpkgs-lib, or set IPEX_NIXPKGS_LIB)"


NIX_BIN, _nix_missing = _current_nix()
NIXPKGS_LIB, _lib_missing = _nixpkgs_lib()
needs_current_nix = pytest.mark.skipif(NIX_BIN is None or NIXPKGS_LIB is None,
                                       reason=_nix_missing or _lib_missing)


def parse(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([NIX_INSTANTIATE, "--parse", str(path)], capture_output=True, text=True, timeout=60)


def evaluate(expr: str, *, strict: bool = True):
    """The JSON value of a builtins-only Nix expression evaluated in the repository root (Debian's Nix)."""
    argv = [NIX_INSTANTIATE, "--eval", "--json", *(["--strict"] if strict else []), "-E", expr]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT)
    if done.returncode != 0:
        raise AssertionError(f"nix-instantiate failed:\n{done.stderr}")
    return json.loads(done.stdout)


class StandIn:
    """The current Nix with its own store and the stand-in nixpkgs (fixture + the real lib) in `work`."""

    def __init__(self, work: Path) -> None:
        self.fixture = work / "nixpkgs"
        shutil.copytree(FIXTURE, self.fixture)
        shutil.copytree(NIXPKGS_LIB, self.fixture / "lib")
        self.store = work / "store"  # a store of its own: Debian's Nix 2.8 keeps /nix/store's database
        self.env = {
            **os.environ,
            "NIX_CONFIG": "experimental-features = nix-command flakes\nbuild-hook =\n",
            "XDG_CACHE_HOME": str(work / "cache"),
            "NIX_STATE_DIR": str(work / "state"),
        }
        self.repo = work / "repo"

    def run(self, tool: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
        argv = [str(NIX_BIN / tool), "--store", str(self.store), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd, env=self.env)

    def evaluate(self, expr: str):
        """`expr` evaluated (strictly, as JSON) with `lib`, `flake` (this repository's outputs on the stand-in
        nixpkgs), `standIn` (import nixpkgs) and `evalNixOS` (fixture/nixos.nix) in scope."""
        done = self.run("nix-instantiate", "--eval", "--read-write-mode", "--strict", "--json", "-E", f"""
          let
            fixture = {self.fixture};
            lib = import (fixture + "/lib");
            standIn = import fixture;
            inherit (import (fixture + "/nixos.nix") {{ inherit lib; }}) evalNixOS;
            nixpkgs = {{ outPath = fixture; inherit lib; }};
            flake = (import {ROOT}/flake.nix).outputs {{ self = flake // {{ outPath = {ROOT}; }}; inherit nixpkgs; }};
          in {expr}
        """)
        if done.returncode != 0:
            raise AssertionError(f"nix-instantiate failed:\n{done.stderr[-6000:]}")
        return json.loads(done.stdout)

    def physical(self, store_path: str) -> Path:
        """Where a /nix/store path of this store lies on disk."""
        return self.store / store_path.lstrip("/")

    def copy_repo(self) -> Path:
        """What a clone has (tracked and not-ignored files), so `path:` flake references skip .venv."""
        if not self.repo.exists():
            listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                    capture_output=True, text=True, check=True, cwd=ROOT).stdout
            for name in filter(None, listed.split("\0")):
                src = ROOT / name
                if src.is_file():
                    (self.repo / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, self.repo / name)
        return self.repo
