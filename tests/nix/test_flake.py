"""flake.nix as a NixOS user meets it, offline: `nix flake check --no-build` and `nix flake show` with nixpkgs
overridden by the stand-in (tests/nix/fixture: the real lib, stand-in packages), and its outputs evaluated:
each package's command, source, wrappers, the intel-xpu overlay, the VM checks, the lock.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .nixeval import ROOT, needs_current_nix

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPTS = PYPROJECT["project"]["scripts"]
LOCK = json.loads((ROOT / "nodes.lock.json").read_text())
PACKAGES = {"ipex-integration": "ipex", "ipex-benchmarks": "ipex-benchmark", "comfyui-ipex": "comfyui-ipex",
            "ollama-ipex": "ollama-ipex"}


def test_flake_lock_pins_nixos_unstable():
    """Defect 1: the nixpkgs input is locked (a public pair of rev and narHash; docs/nix.md says whose)."""
    lock = json.loads((ROOT / "flake.lock").read_text())
    assert lock["version"] == 7 and lock["nodes"]["root"]["inputs"] == {"nixpkgs": "nixpkgs"}
    node = lock["nodes"]["nixpkgs"]
    assert node["original"] == {"owner": "NixOS", "repo": "nixpkgs", "ref": "nixos-unstable", "type": "github"}
    locked = node["locked"]
    assert locked["type"] == "github" and (locked["owner"], locked["repo"]) == ("NixOS", "nixpkgs")
    assert re.fullmatch(r"[0-9a-f]{40}", locked["rev"])
    assert re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", locked["narHash"])
    assert locked["rev"] in (ROOT / "docs" / "nix.md").read_text()



@pytest.fixture(scope="module")
def outputs(stand_in):
    return stand_in.evaluate("""
      let
        p = flake.packages.x86_64-linux;
        xpu = standIn { overlays = [ flake.overlays.intel-xpu ]; };
        checks = flake.checks.x86_64-linux;
        nodeUnit = check: service: check.nodes.machine.config.systemd.services.${service}.serviceConfig.ExecStart;
      in {
        names = builtins.attrNames p;
        main = builtins.mapAttrs (n: v: v.meta.mainProgram or null) (removeAttrs p (builtins.filter
          (n: lib.hasPrefix "comfyui-node-" n) (builtins.attrNames p)));
        exe = builtins.mapAttrs (n: v: lib.getExe v) { inherit (p) ipex-integration ipex-benchmarks comfyui-ipex ollama-ipex; };
        out = builtins.mapAttrs (n: v: "${v}") { inherit (p) ipex-integration ipex-benchmarks comfyui-ipex ollama-ipex; };
        drv = builtins.mapAttrs (n: v: v.drvPath) p;
        src = "${p.ipex-integration.src}";
        pnames = builtins.mapAttrs (n: v: v.pname or v.repo) p;
        deps = { comfyui = p.comfyui-ipex.dependencyNames; bench = p.ipex-benchmarks.dependencyNames;
                 base = p.ipex-integration.dependencyNames; build = p.ipex-integration.buildSystemNames; };
        wraps = { c = p.comfyui-ipex.makeWrapperArgs; o = p.ollama-ipex.makeWrapperArgs; };
        xpu = { sets = builtins.attrNames xpu.intel-xpu; aliases = [ xpu.comfyui-ipex.pname xpu.ipex-benchmarks.pname ];
                comfyui = xpu.intel-xpu.comfyui.pname; ollama = xpu.intel-xpu.ollama.pname;
                ollamaPath = builtins.elemAt xpu.intel-xpu.ollama.makeWrapperArgs 3; };
        modules = map (m: baseNameOf (toString m)) flake.nixosModules.default.imports;
        nodes = builtins.mapAttrs (n: v: v.rev) flake.legacyPackages.x86_64-linux.comfyui-nodes;
        checks = builtins.mapAttrs (n: c: { drv = c.drvPath; script = c.testScript; }) checks;
        checkUnits = { comfyui = nodeUnit checks.comfyui-ipex-cpu "comfyui-ipex";
                       ollama = nodeUnit checks.ollama-ipex-cpu "ollama-ipex"; };
      }""")


@needs_current_nix
def test_nix_flake_check_passes_offline(stand_in, tmp_path):
    repo = stand_in.copy_repo()
    done = stand_in.run("nix", "flake", "check", "--no-build", "--no-write-lock-file",
                        "--override-input", "nixpkgs", f"path:{stand_in.fixture}", f"path:{repo}")
    assert done.returncode == 0, done.stderr[-6000:]
    for output in ("packages.x86_64-linux.comfyui-ipex", "checks.x86_64-linux.comfyui-ipex-cpu",
                   "checks.x86_64-linux.ollama-ipex-cpu", "nixosModules.default"):
        assert output in done.stderr, output
    show = stand_in.run("nix", "flake", "show", "--json", "--no-write-lock-file",
                        "--override-input", "nixpkgs", f"path:{stand_in.fixture}", f"path:{repo}")
    assert show.returncode == 0, show.stderr[-6000:]
    tree = json.loads(show.stdout)
    assert set(PACKAGES) | {"default"} <= set(tree["packages"]["x86_64-linux"])
    assert set(tree["checks"]["x86_64-linux"]) == {"comfyui-ipex-cpu", "ollama-ipex-cpu"}
    assert set(tree["overlays"]) == {"default", "intel-xpu"}
    assert set(tree["nixosModules"]) == {"default", "comfyui-ipex", "ollama-ipex"}


@needs_current_nix
def test_packages_have_the_seed_names(outputs):
    assert set(outputs["names"]) == set(PACKAGES) | {"default"} | {f"comfyui-node-{n}" for n in LOCK["nodes"]}
    assert all(d.startswith("/nix/store/") and d.endswith(".drv") for d in outputs["drv"].values())


@needs_current_nix
def test_each_package_runs_its_own_command(outputs):
    """Defect 2: `nix run .#X` starts meta.mainProgram, which must be X's own command from pyproject.toml."""
    assert outputs["main"] == {**PACKAGES, "default": "ipex"}
    assert set(outputs["main"].values()) <= set(SCRIPTS)
    for name, program in PACKAGES.items():
        assert outputs["exe"][name] == f"{outputs['out'][name]}/bin/{program}"


def test_the_command_nix_run_starts_prints_the_gpu_help():
    """`nix run .#comfyui-ipex -- --help-gpu` runs pyproject's comfyui-ipex entry point; here the same entry
    point from the test environment (what differs under Nix is only the wrapper around it)."""
    module, func = SCRIPTS[PACKAGES["comfyui-ipex"]].split(":")
    done = subprocess.run([sys.executable, "-c", f"import sys; from {module} import {func} as m; sys.exit(m())",
                           "--help-gpu"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("GPU selection") and "--intel-device" in done.stdout


@needs_current_nix
def test_the_source_has_what_the_wheel_is_built_from(outputs, stand_in):
    """Defect 3: LICENSE is pyproject.toml's license-files, so it must be in the source."""
    assert "LICENSE" in PYPROJECT["project"]["license-files"]
    source = stand_in.physical(outputs["src"])
    assert {p.name for p in source.iterdir()} == {"LICENSE", "README.md", "pyproject.toml", "src"}
    assert (source / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()


@needs_current_nix
def test_package_variants_dependencies_and_wrappers(outputs):
    assert outputs["pnames"]["default"] == outputs["pnames"]["ipex-integration"] == "ipex-integration"
    assert outputs["deps"]["build"] == ["setuptools"]
    assert {"torch", "safetensors", "aiohttp", "sqlalchemy", "alembic"} <= set(outputs["deps"]["comfyui"])
    assert {"torch", "diffusers", "matplotlib"} <= set(outputs["deps"]["bench"]) and "pandas" not in outputs["deps"]["bench"]
    assert "torch" not in outputs["deps"]["base"]
    c, o = outputs["wraps"]["c"], outputs["wraps"]["o"]
    assert c[:2] == ["--set-default", "COMFYUI_PATH"] and c[2].endswith("-source-ComfyUI")
    # The flake's own pkgs have no cudaSupport: "auto" gets the Vulkan ollama (defect 4).
    assert o[:3] == ["--suffix", "PATH", ":"] and o[3].endswith("-ollama-vulkan/bin")


@needs_current_nix
def test_intel_xpu_overlay_has_the_seed_shape(outputs):
    got = outputs["xpu"]
    assert {"comfyui", "ollama", "benchmarks", "ipex-integration", "nodes"} <= set(got["sets"])
    assert got["aliases"] == ["comfyui-ipex", "ipex-benchmarks"]
    assert (got["comfyui"], got["ollama"]) == ("comfyui-ipex", "ollama-ipex")
    assert got["ollamaPath"].endswith("-ollama-vulkan/bin")


@needs_current_nix
def test_nixos_module_imports_both_services(outputs):
    assert outputs["modules"] == ["comfyui-ipex.nix", "ollama-ipex.nix"]


@needs_current_nix
def test_comfyui_nodes_come_from_the_lock(outputs):
    assert outputs["nodes"] == {n: e["rev"] for n, e in LOCK["nodes"].items()}


@needs_current_nix
def test_vm_checks_evaluate_as_far_as_the_stand_in_allows(outputs):
    """The VM tests need KVM and the real nixpkgs; here their nodes' configurations pass the module system and
    their assertions, and the scripts wait for the right ports."""
    checks = outputs["checks"]
    assert all(c["drv"].endswith(".drv") for c in checks.values())
    comfy = checks["comfyui-ipex-cpu"]["script"]
    assert "wait_for_open_port(8188" in comfy and "/prompt" in comfy and "make-checkpoint.py" in comfy
    assert "wait_for_open_port(11434" in checks["ollama-ipex-cpu"]["script"]
    assert " --cpu " in outputs["checkUnits"]["comfyui"] and " --cpu " in outputs["checkUnits"]["ollama"]


def test_package_dependencies_are_pyprojects(outputs):
    """The Nix package installs what pyproject.toml declares (a dependency added on one side only, as
    filelock/tomlkit/packaging were this round, fails here)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    declared = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    assert {canonicalize_name(n) for n in outputs["deps"]["base"]} >= declared
