"""flake.nix's outputs have the seed's shape, evaluated against a stub nixpkgs (nothing is fetched or built).

The stub stands in for `import nixpkgs { system; overlays; }`: a package set whose callPackage records which
file was called with which arguments, and the few lib functions flake.nix itself calls.
"""

from __future__ import annotations

import json

import pytest

from .nixeval import ROOT, evaluate, needs_nix

pytestmark = needs_nix

STUB_NIXPKGS = r"""
let
  lib = {
    mapAttrs' = f: set: builtins.listToAttrs (map (n: f n set.${n}) (builtins.attrNames set));
    nameValuePair = name: value: { inherit name value; };
    makeBinPath = ps: builtins.concatStringsSep ":" (map (p: "${p}/bin") ps);
  };
  store = name: "/nix/store/00000000000000000000000000000000-" + name;
  base = {
    inherit lib;
    ollama = { outPath = store "ollama"; override = a: { outPath = store "ollama-${a.acceleration}"; }; };
    fetchFromGitHub = args: { outPath = store args.repo; fetched = args.repo; inherit (args) rev hash; };
    callPackage = path: args: { called = baseNameOf (toString path); pname = args.pname or "ipex-integration";
                                wrap = args.makeWrapperArgs or [ ]; };
  };
  apply = overlays: let final = builtins.foldl' (acc: o: acc // o final acc) base overlays; in final;
in { system, overlays ? [ ] }: apply overlays
"""
LIB = r"""{
  mapAttrs' = f: set: builtins.listToAttrs (map (n: f n set.${n}) (builtins.attrNames set));
  nameValuePair = name: value: { inherit name value; };
}"""


@pytest.fixture(scope="module")
def stub_dir(tmp_path_factory):
    """A flake input is a set with outPath: `import nixpkgs` reads outPath/default.nix, the stub."""
    path = tmp_path_factory.mktemp("stub-nixpkgs")
    (path / "default.nix").write_text(STUB_NIXPKGS)
    return path


def _outputs(stub_dir, expr: str):
    return evaluate(f"""
      let
        nixpkgs = {{ outPath = {stub_dir}; lib = {LIB}; }};
        flake = import ./flake.nix;
        self = flake.outputs {{ inherit self nixpkgs; }};
      in {expr}
    """)


def test_packages_have_the_seed_names(stub_dir):
    names = _outputs(stub_dir, 'builtins.attrNames self.packages."x86_64-linux"')
    lock = json.loads((ROOT / "nodes.lock.json").read_text())
    assert set(names) == {"default", "ipex-integration", "ipex-benchmarks", "comfyui-ipex", "ollama-ipex"} | {
        f"comfyui-node-{n}" for n in lock["nodes"]}


def test_package_variants_and_wrappers(stub_dir):
    got = _outputs(stub_dir, 'builtins.mapAttrs (n: p: p.pname or p.fetched) self.packages."x86_64-linux"')
    assert got["default"] == got["ipex-integration"] == "ipex-integration"
    assert got["comfyui-ipex"] == "comfyui-ipex" and got["ipex-benchmarks"] == "ipex-benchmarks"
    wraps = _outputs(stub_dir, 'let p = self.packages."x86_64-linux"; in { c = p.comfyui-ipex.wrap; o = p.ollama-ipex.wrap; }')
    assert wraps["c"] == ["--set-default", "COMFYUI_PATH", "/nix/store/00000000000000000000000000000000-ComfyUI"]
    assert wraps["o"] == ["--suffix", "PATH", ":", "/nix/store/00000000000000000000000000000000-ollama/bin"]


def test_intel_xpu_overlay_has_the_seed_shape(stub_dir):
    got = _outputs(stub_dir, """
      let pkgs = import nixpkgs { system = "x86_64-linux"; overlays = [ self.overlays.intel-xpu ]; };
      in { sets = builtins.attrNames pkgs.intel-xpu; aliases = [ pkgs.comfyui-ipex.pname pkgs.ipex-benchmarks.pname ];
           comfyui = pkgs.intel-xpu.comfyui.pname; ollama = pkgs.intel-xpu.ollama.pname;
           ollamaPath = builtins.elemAt pkgs.intel-xpu.ollama.wrap 3; }
    """)
    assert {"comfyui", "ollama"} <= set(got["sets"])
    assert got["aliases"] == ["comfyui-ipex", "ipex-benchmarks"]
    assert (got["comfyui"], got["ollama"]) == ("comfyui-ipex", "ollama-ipex")
    assert got["ollamaPath"].endswith("-ollama-vulkan/bin")  # Intel: Ollama's Vulkan backend


def test_nixos_module_imports_both_services(stub_dir):
    got = _outputs(stub_dir, "map baseNameOf (map toString self.nixosModules.default.imports)")
    assert got == ["comfyui-ipex.nix", "ollama-ipex.nix"]


def test_comfyui_nodes_come_from_the_lock(stub_dir):
    got = _outputs(stub_dir, 'builtins.mapAttrs (n: v: v.rev) self.legacyPackages."x86_64-linux".comfyui-nodes')
    lock = json.loads((ROOT / "nodes.lock.json").read_text())
    assert got == {n: e["rev"] for n, e in lock["nodes"].items()}
