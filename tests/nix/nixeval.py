"""Run Debian's nix-instantiate (Nix 2.8 works offline) on our .nix files; tests skip where it is absent.

Nothing here fetches nixpkgs: modules are evaluated against STUB_LIB, a few lines of builtins standing in for
the parts of nixpkgs' lib the modules call (mkOption returns its argument, types are tagged sets), so the
options and the generated unit can be compared with the Python side.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NIX_INSTANTIATE = shutil.which("nix-instantiate")
needs_nix = pytest.mark.skipif(NIX_INSTANTIATE is None, reason="nix-instantiate not installed (apt-get install nix-bin)")

# Stands in for nixpkgs' lib: only what nix/modules/*.nix use, with the same meaning for these inputs.
STUB_LIB = r"""
let
  tag = name: { inherit name; };
in {
  mkOption = o: o;
  mkEnableOption = d: { type = tag "bool"; default = false; description = d; };
  literalExpression = t: { literal = t; };
  mkIf = cond: value: if cond then value else { };
  hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
  removePrefix = p: s:
    if builtins.substring 0 (builtins.stringLength p) s == p
    then builtins.substring (builtins.stringLength p) (builtins.stringLength s) s else s;
  getExe' = pkg: name: "${pkg}/bin/${name}";
  escapeShellArgs = xs: builtins.concatStringsSep " " (map (x: "'" + x + "'") xs);
  concatMapStrings = f: xs: builtins.concatStringsSep "" (map f xs);
  types = {
    package = tag "package"; str = tag "str"; bool = tag "bool"; port = tag "port";
    ints.unsigned = tag "unsigned";
    enum = values: { name = "enum"; inherit values; };
    nullOr = elem: { name = "nullOr"; inherit elem; };
    listOf = elem: { name = "listOf"; inherit elem; };
    attrsOf = elem: { name = "attrsOf"; inherit elem; };
  };
}
"""
STUB_PKGS = '{ fetchFromGitHub = args: "/nix/store/00000000000000000000000000000000-" + args.repo; }'


def parse(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([NIX_INSTANTIATE, "--parse", str(path)], capture_output=True, text=True, timeout=60)


def evaluate(expr: str, *, strict: bool = True):
    """The JSON value of a Nix expression evaluated in the repository root."""
    argv = [NIX_INSTANTIATE, "--eval", "--json", *(["--strict"] if strict else []), "-E", expr]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT)
    if done.returncode != 0:
        raise AssertionError(f"nix-instantiate failed:\n{done.stderr}")
    return json.loads(done.stdout)


def module_expr(module: str, service: str, settings: str = "{ }") -> str:
    """The module evaluated with the stub lib/pkgs and `settings` as its config (package is a fake path)."""
    return f"""
      let
        lib = {STUB_LIB};
        defaults = {{
          enable = true; package = "/nix/store/11111111111111111111111111111111-{service}";
          backend = "auto"; device = null; listenAddress = "127.0.0.1"; port = 1;
          dataDir = "/var/lib/{service}"; customNodes = [ ]; extraArgs = [ ]; environment = {{ }};
          openFirewall = false;
        }};
        cfg = defaults // ({settings});
        m = import ./nix/modules/{module} {{
          inherit lib; pkgs = {STUB_PKGS}; config.services.{service} = cfg;
        }};
      in m
    """
