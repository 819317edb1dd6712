"""The NixOS modules under the real module system (nixpkgs lib, the NixOS options they set, stand-in packages):
option types and defaults, assertions, the units they generate, and agreement with the CLI (backend choices,
the flags their units pass, parsed by the launchers' own flag parser, unit names and hardening).

Every configuration is evaluated in one Nix call per test module (CASES), so the whole file costs a few seconds.
"""

from __future__ import annotations

import json
import shlex

import pytest

from ipex_integration.plan.flags import DEVICE_CHOICES, split_device_flags
from ipex_integration.plan.policy import PRIORITY
from ipex_integration.runtime.model import Backend
from ipex_integration.service.units import (
    DEFAULT_PORTS, DEVICE_GROUPS, INTEL_DEVICE_ALLOW, NVIDIA_DEVICE_ALLOW, UNIT_NAMES, UnitSpec, device_flags,
    render_unit,
)

from .nixeval import ROOT, needs_current_nix

pytestmark = needs_current_nix

SERVICES = {"comfyui": "comfyui-ipex", "ollama": "ollama-ipex"}
SHARED_OPTIONS = {"enable", "package", "backend", "device", "listenAddress", "port", "dataDir", "extraArgs",
                  "environment", "openFirewall"}
STORE = "/nix/store/"
UNIT_BACKENDS = [("xpu", 1), ("cuda", 0), ("cpu", None), ("auto", None)]
LOCKED_NODES = sorted(json.loads((ROOT / "nodes.lock.json").read_text())["nodes"])


def _nix(value) -> str:
    return json.dumps(value) if value is not None else "null"


def _unit_case(service: str, backend: str, device) -> str:
    nodes = "customNodes = [ \"comfyui_controlnet_aux\" ];" if service == "comfyui-ipex" else ""
    return f"""cfg {{ services.{service} = {{
        enable = true; backend = "{backend}"; device = {_nix(device)}; port = 9999; listenAddress = "::1";
        extraArgs = [ "--x y" ]; {nodes} }}; }}"""


def _cases() -> dict[str, str]:
    cases = {}
    for program, service in SERVICES.items():
        cases[f"{program}-options"] = f"builtins.attrNames (cfg {{ }}).options.services.{service}"
        cases[f"{program}-backend-values"] = f"(cfg {{ }}).options.services.{service}.backend.type.functor.payload.values"
        cases[f"{program}-defaults"] = f"""let c = (cfg {{ services.{service}.enable = true; }}).config.services.{service};
            in {{ inherit (c) backend device listenAddress port dataDir openFirewall extraArgs environment; }}"""
        cases[f"{program}-disabled"] = f"(cfg {{ }}).config.systemd.services"
        for backend, device in UNIT_BACKENDS:
            key = f"{program}-unit-{backend}-{device}"
            cases[key] = f"""let e = {_unit_case(service, backend, device)}; in {{
                unit = e.config.systemd.services.{service}; text = e.units.{service};
                graphics = e.config.hardware.graphics.enable;
                graphicsPackages = map (p: p.name) e.config.hardware.graphics.extraPackages;
                failed = e.failedAssertions; }}"""
        # Wrong types and values stop evaluation, as on NixOS.
        for name, setting in {"port": "port = 70000;", "backend": 'backend = "rocm";', "device": "device = -1;"}.items():
            cases[f"{program}-rejects-{name}"] = f"""(builtins.tryEval (builtins.deepSeq
                (cfg {{ services.{service} = {{ enable = true; {setting} }}; }}).config.systemd.services.{service}
                true)).success"""
        cases[f"{program}-assert-device"] = (
            f'(cfg {{ services.{service} = {{ enable = true; backend = "cpu"; device = 1; }}; }}).failedAssertions')
        cases[f"{program}-assert-datadir"] = (
            f'(cfg {{ services.{service} = {{ enable = true; dataDir = "/srv/x"; }}; }}).failedAssertions')
        other = program  # nixpkgs' services.comfyui / services.ollama
        cases[f"{program}-assert-port-clash"] = (
            f"(cfg {{ services.{service}.enable = true; services.{other}.enable = true; }}).failedAssertions")
        cases[f"{program}-assert-port-moved"] = (
            f"(cfg {{ services.{service} = {{ enable = true; port = 9000; }}; services.{other}.enable = true; }})"
            ".failedAssertions")
        cases[f"{program}-no-overlay"] = f"""let e = evalNixOS (standIn {{ }}) [ flake.nixosModules.default
            {{ services.{service}.enable = true; }} ]; in e.config.systemd.services.{service}.serviceConfig.ExecStart"""
    cases["comfyui-bad-node"] = """(builtins.tryEval (builtins.deepSeq (cfg { services.comfyui-ipex = {
        enable = true; customNodes = [ "no-such-node" ]; }; }).config.systemd.services true)).success"""
    cases["comfyui-node-values"] = ("(cfg { }).options.services.comfyui-ipex.customNodes.type"
                                    ".nestedTypes.elemType.functor.payload.values")
    cases["ollama-models"] = "(cfg { services.ollama-ipex.enable = true; }).config.systemd.services.ollama-ipex.environment"
    # Which ollama each backend gets (plain pkgs.ollama has no Vulkan, so "auto" must not get it).
    for backend in ("auto", "xpu", "cuda", "cpu"):
        cases[f"ollama-build-{backend}"] = f"""let c = (cfg {{ services.ollama-ipex = {{ enable = true;
            backend = "{backend}"; }}; }}).config.services.ollama-ipex; in {{
            bin = c.ollamaPackage.name; wrapper = c.package.makeWrapperArgs; ollama = "${{c.ollamaPackage}}"; }}"""
    cases["ollama-build-auto-cuda-config"] = """(evalNixOS
        (standIn { config.cudaSupport = true; overlays = [ flake.overlays.default ]; })
        [ flake.nixosModules.default { services.ollama-ipex.enable = true; } ]).config.services.ollama-ipex.ollamaPackage.name"""
    # A user's overlay reaches the services (their comfyui-ipex, their Vulkan ollama).
    cases["user-overlay"] = """let
        mine = final: prev: {
          comfyui-ipex = prev.comfyui-ipex.override { description = "my own"; };
          ollama-vulkan = prev.ollama.override { acceleration = "mine"; };
        };
        pkgs = standIn { overlays = [ flake.overlays.default mine ]; };
        e = evalNixOS pkgs [ flake.nixosModules.default {
          services.comfyui-ipex.enable = true; services.ollama-ipex = { enable = true; backend = "xpu"; }; } ];
      in {
        comfyui = "${pkgs.comfyui-ipex}";
        exec = e.config.systemd.services.comfyui-ipex.serviceConfig.ExecStart;
        ollamaExec = e.config.systemd.services.ollama-ipex.serviceConfig.ExecStart;
      }"""
    cases["unit-names"] = ("builtins.attrNames (cfg { services.comfyui-ipex.enable = true; "
                           "services.ollama-ipex.enable = true; }).config.systemd.services")
    cases["hardening"] = "(import ./nix/modules/common.nix).hardening"
    return cases


@pytest.fixture(scope="module")
def got(stand_in):
    body = "\n".join(f"  {json.dumps(k)} = {v};" for k, v in _cases().items())
    return stand_in.evaluate(f"""
      let
        pkgs = standIn {{ overlays = [ flake.overlays.default ]; }};
        cfg = extra: evalNixOS pkgs [ flake.nixosModules.default extra ];
      in {{
      {body}
      }}""")


@pytest.mark.parametrize("program", SERVICES)
def test_option_names(got, program):
    expected = SHARED_OPTIONS | ({"customNodes"} if program == "comfyui" else {"ollamaPackage"})
    assert set(got[f"{program}-options"]) == expected


@pytest.mark.parametrize("program", SERVICES)
def test_backend_choices_and_defaults_match_the_cli(got, program):
    values = got[f"{program}-backend-values"]
    assert values == list(DEVICE_CHOICES)
    assert set(values) == {"auto"} | {b.value for b in PRIORITY}
    d = got[f"{program}-defaults"]
    assert d["backend"] == "auto" and d["device"] is None
    assert d["listenAddress"] == "127.0.0.1" and d["openFirewall"] is False
    assert d["port"] == DEFAULT_PORTS[program]  # the same as `ipex service install`; clashes are asserted
    assert d["dataDir"] == f"/var/lib/{SERVICES[program]}" and d["extraArgs"] == [] and d["environment"] == {}


@pytest.mark.parametrize("program", SERVICES)
def test_the_module_system_rejects_wrong_values(got, program):
    for name in ("port", "backend", "device"):
        assert got[f"{program}-rejects-{name}"] is False, name


def test_custom_node_choices_are_the_locked_nodes(got):
    assert sorted(got["comfyui-node-values"]) == LOCKED_NODES
    assert got["comfyui-bad-node"] is False


@pytest.mark.parametrize("backend,device", [("auto", None), ("cpu", None), ("cuda", None), ("cuda", 0), ("cuda", 3),
                                            ("xpu", None), ("xpu", 1)])
def test_nix_device_flags_mean_the_same_to_the_launcher(stand_in, backend, device):
    flags = stand_in.evaluate(f'(import ./nix/modules/common.nix).deviceFlags "{backend}" {_nix(device)}')
    parsed, rest = split_device_flags(flags)
    assert rest == []
    request = parsed.to_request({})
    assert request.backend == (None if backend == "auto" else Backend(backend))
    assert (request.cuda_device if backend == "cuda" else request.intel_device) == device
    if backend != "auto":
        assert flags == device_flags(Backend(backend), device)  # `ipex service install` writes the same


@pytest.mark.parametrize("program", SERVICES)
@pytest.mark.parametrize("backend,device", UNIT_BACKENDS)
def test_module_unit_runs_the_launcher_with_its_flags(got, program, backend, device):
    service = SERVICES[program]
    case = got[f"{program}-unit-{backend}-{device}"]
    assert case["failed"] == []
    unit = case["unit"]
    argv = shlex.split(unit["serviceConfig"]["ExecStart"])
    assert argv[0].startswith(STORE) and argv[0].endswith(f"-{service}-0.1.0/bin/{service}")
    words = argv[1:]
    if program == "ollama":
        assert words[0] == "serve" and words[words.index("--host") + 1] == "[::1]:9999"
        assert words[words.index("--ollama-bin") + 1].endswith("/bin/ollama")
        words = words[1:]
    else:
        assert words[words.index("--listen") + 1] == "::1" and words[words.index("--port") + 1] == "9999"
        assert words[words.index("--base-directory") + 1] == f"/var/lib/{service}"
        # Not beside ComfyUI in the read-only store (defect 5).
        assert words[words.index("--database-url") + 1] == f"sqlite:////var/lib/{service}/user/comfyui.db"
        assert f"-source-comfyui_controlnet_aux {f'/var/lib/{service}'}/custom_nodes/comfyui_controlnet_aux" \
            in unit["preStart"]
    assert words[-1] == "--x y"
    parsed, _ = split_device_flags(words)
    request = parsed.to_request({})
    assert request.backend == (None if backend == "auto" else Backend(backend))
    if backend != "auto":
        assert (request.cuda_device if backend == "cuda" else request.intel_device) == device

    config = unit["serviceConfig"]
    assert config["DynamicUser"] is True and config["StateDirectory"] == service
    assert unit["environment"]["HOME"] == f"/var/lib/{service}"
    assert unit["environment"]["SYCL_CACHE_DIR"] == f"/var/lib/{service}/sycl-cache"
    assert config["SupplementaryGroups"] == list(DEVICE_GROUPS)
    allowed = {"cuda": NVIDIA_DEVICE_ALLOW, "xpu": INTEL_DEVICE_ALLOW, "cpu": (),
               "auto": NVIDIA_DEVICE_ALLOW + INTEL_DEVICE_ALLOW}[backend]
    assert config["DeviceAllow"] == [f"{d} rw" for d in allowed]
    # The rendered unit: one DeviceAllow line per device, as NixOS writes list values.
    text = case["text"]
    assert [line for line in text.splitlines() if line.startswith("DeviceAllow=")] == \
        [f"DeviceAllow={d} rw" for d in allowed]
    assert "SystemCallFilter=@system-service" in text and "ProtectProc=invisible" in text
    assert "PrivateIPC=true" in text and "ProcSubset" not in text and "ReadWritePaths" not in text

    # Intel backends switch the graphics stack on (Vulkan for Ollama; Level Zero for torch.xpu in ComfyUI).
    intel = backend in ("auto", "xpu")
    assert case["graphics"] is intel
    wanted = {"intel-compute-runtime", "level-zero"} if intel and program == "comfyui" else set()
    assert set(case["graphicsPackages"]) == wanted


def test_module_unit_names_are_the_cli_unit_names(got):
    # The NixOS modules cover ComfyUI and Ollama; `ipex service` also writes a llama-server unit (no module yet).
    assert [f"{n}.service" for n in got["unit-names"]] == sorted(UNIT_NAMES[p] for p in SERVICES)


@pytest.mark.parametrize("program", SERVICES)
def test_disabled_module_defines_no_unit(got, program):
    assert got[f"{program}-disabled"] == {}


@pytest.mark.parametrize("program", SERVICES)
def test_assertions_reject_what_the_units_cannot_run(got, program):
    service = SERVICES[program]
    (device,) = got[f"{program}-assert-device"]
    assert device.startswith(f"services.{service}.device needs backend")
    (data,) = got[f"{program}-assert-datadir"]
    assert "dataDir must be below /var/lib" in data
    # nixpkgs' own service on the same default port (defect 7): stopped at evaluation, with the way out.
    (clash,) = got[f"{program}-assert-port-clash"]
    assert clash.startswith(f"services.{service}.port and services.{program}.port are both {DEFAULT_PORTS[program]}")
    assert got[f"{program}-assert-port-moved"] == []


@pytest.mark.parametrize("program", SERVICES)
def test_modules_work_without_the_overlay(got, program):
    assert got[f"{program}-no-overlay"].startswith(STORE)


def test_a_users_overlay_reaches_the_services(got):
    """Defect 6: the package defaults come from pkgs, so overlays and overrides apply."""
    case = got["user-overlay"]
    assert shlex.split(case["exec"])[0] == f"{case['comfyui']}/bin/comfyui-ipex"
    ollama_bin = shlex.split(case["ollamaExec"])
    assert ollama_bin[ollama_bin.index("--ollama-bin") + 1].endswith("-ollama-mine/bin/ollama")


@pytest.mark.parametrize(("backend", "build"), [("auto", "ollama-vulkan"), ("xpu", "ollama-vulkan"),
                                                ("cuda", "ollama-cuda"), ("cpu", "ollama")])
def test_each_backend_gets_an_ollama_that_reaches_its_gpu(got, backend, build):
    """Defect 4: "auto" on an Intel-only machine needs the Vulkan build; the package's PATH has the same one."""
    case = got[f"ollama-build-{backend}"]
    assert case["bin"] == build
    assert case["wrapper"] == ["--suffix", "PATH", ":", f"{case['ollama']}/bin"]


def test_auto_gets_cuda_where_nixpkgs_is_configured_for_it(got):
    assert got["ollama-build-auto-cuda-config"] == "ollama-cuda"


def test_ollama_keeps_its_models_in_the_state_directory(got):
    env = got["ollama-models"]
    assert env["OLLAMA_MODELS"] == "/var/lib/ollama-ipex/models" and env["HOME"] == "/var/lib/ollama-ipex"


def _python_hardening(backend: Backend) -> dict[str, str]:
    spec = UnitSpec("ollama", "system", "/usr/bin/ollama-ipex", backend, user="alice")
    body = render_unit(spec).split("# Hardening", 1)[1].split("[Install]", 1)[0]
    pairs = [line.split("=", 1) for line in body.splitlines()[1:] if "=" in line and not line.startswith("#")]
    merged: dict[str, str] = {}
    for k, v in pairs:  # a repeated key (SystemCallFilter) is a Nix list: its values joined by spaces
        merged[k] = f"{merged[k]} {v}" if k in merged else v
    return merged


def _normalise(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join(value) if isinstance(value, list) else str(value)


# Keys the Python units (service/units.py) gain in the same round; where they are there they must agree.
MIRRORED_LATER = {"SystemCallFilter", "ProtectProc", "PrivateIPC"}


def test_hardening_is_the_same_as_the_cli_units(got):
    nix = {k: _normalise(v) for k, v in got["hardening"].items()}
    assert nix["SystemCallFilter"] == "@system-service ~@privileged" and nix["ProtectProc"] == "invisible"
    assert nix["PrivateIPC"] == "yes"
    # ProcSubset=pid would hide /proc/meminfo and /proc/cpuinfo (ComfyUI's psutil.virtual_memory, Ollama's
    # memory discovery) and /proc/driver/nvidia (CUDA): never set on the Nix side.
    assert "ProcSubset" not in nix
    python = _python_hardening(Backend.CPU)
    # Per backend on the Python side; devices are checked per backend above.
    for key in ("DeviceAllow", "SupplementaryGroups", "ReadWritePaths", "ProcSubset"):
        python.pop(key, None)
    # By design: outside NixOS the service runs as a named user whose home holds the environments.
    assert python.pop("ProtectHome") == "read-only" and nix.pop("ProtectHome") == "yes"
    for key in MIRRORED_LATER - python.keys():
        nix.pop(key)
    assert python == nix
