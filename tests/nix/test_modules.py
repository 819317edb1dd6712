"""The NixOS modules agree with the CLI: option names, backend choices, the flags their units pass (parsed by
the launchers' own flag parser), unit names and hardening (the same as `ipex service install` renders)."""

from __future__ import annotations

import json
import shlex

import pytest

from ipex_integration.plan.flags import DEVICE_CHOICES, split_device_flags
from ipex_integration.plan.policy import PRIORITY
from ipex_integration.runtime.model import Backend
from ipex_integration.service.units import (
    DEVICE_GROUPS, INTEL_DEVICE_ALLOW, NVIDIA_DEVICE_ALLOW, UNIT_NAMES, UnitSpec, device_flags, render_unit,
)

from .nixeval import ROOT, evaluate, module_expr, needs_nix

pytestmark = needs_nix

COMMON = "(import ./nix/modules/common.nix)"
MODULES = {"comfyui": ("comfyui-ipex.nix", "comfyui-ipex"), "ollama": ("ollama-ipex.nix", "ollama-ipex")}
SHARED_OPTIONS = {"enable", "package", "backend", "device", "listenAddress", "port", "dataDir", "extraArgs",
                  "environment", "openFirewall"}


@pytest.mark.parametrize("program", MODULES)
def test_option_names(program):
    module, service = MODULES[program]
    names = evaluate(f"builtins.attrNames ({module_expr(module, service)}).options.services.{service}")
    expected = SHARED_OPTIONS | ({"customNodes"} if program == "comfyui" else set())
    assert set(names) == expected


@pytest.mark.parametrize("program", MODULES)
def test_backend_choices_and_defaults_match_the_cli(program):
    module, service = MODULES[program]
    opts = evaluate(f"""let o = ({module_expr(module, service)}).options.services.{service}; in {{
        backend = o.backend.type.values; backendDefault = o.backend.default; listen = o.listenAddress.default;
        device = o.device.default; firewall = o.openFirewall.default; port = o.port.default; }}""")
    assert opts["backend"] == list(DEVICE_CHOICES)
    assert set(opts["backend"]) == {"auto"} | {b.value for b in PRIORITY}
    assert opts["backendDefault"] == "auto" and opts["device"] is None
    assert opts["listen"] == "127.0.0.1" and opts["firewall"] is False
    from ipex_integration.service.units import DEFAULT_PORTS

    assert opts["port"] == DEFAULT_PORTS[program]


def test_custom_node_choices_are_the_locked_nodes():
    values = evaluate(f"({module_expr('comfyui-ipex.nix', 'comfyui-ipex')})"
                      ".options.services.comfyui-ipex.customNodes.type.elem.values")
    lock = json.loads((ROOT / "nodes.lock.json").read_text())
    assert sorted(values) == sorted(lock["nodes"])


CASES = [("auto", None), ("cpu", None), ("cuda", None), ("cuda", 0), ("cuda", 3), ("xpu", None), ("xpu", 1)]


@pytest.mark.parametrize("backend,device", CASES)
def test_nix_device_flags_mean_the_same_to_the_launcher(backend, device):
    nix_device = "null" if device is None else str(device)
    flags = evaluate(f'{COMMON}.deviceFlags "{backend}" {nix_device}')
    parsed, rest = split_device_flags(flags)
    assert rest == []
    request = parsed.to_request({})
    assert request.backend == (None if backend == "auto" else Backend(backend))
    index = request.cuda_device if backend == "cuda" else request.intel_device
    assert index == device
    if backend != "auto":
        assert flags == device_flags(Backend(backend), device)  # `ipex service install` writes the same


@pytest.mark.parametrize("program", MODULES)
@pytest.mark.parametrize("backend,device", [("xpu", 1), ("cuda", 0), ("cpu", None)])
def test_module_unit_runs_the_launcher_with_its_flags(program, backend, device):
    module, service = MODULES[program]
    nix_device = "null" if device is None else str(device)
    settings = (f'{{ backend = "{backend}"; device = {nix_device}; port = 9999; listenAddress = "::1"; '
                f'extraArgs = [ "--x y" ]; customNodes = [ "comfyui_controlnet_aux" ]; }}')
    unit = evaluate(f"({module_expr(module, service, settings)}).config.systemd.services.{service}")
    argv = shlex.split(unit["serviceConfig"]["ExecStart"])
    assert argv[0].endswith(f"-{service}/bin/{service}")
    words = argv[1:]
    if program == "ollama":
        assert words[0] == "serve" and words[words.index("--host") + 1] == "[::1]:9999"
        words = words[1:]
    else:
        assert words[words.index("--listen") + 1] == "::1" and words[words.index("--port") + 1] == "9999"
        assert words[words.index("--base-directory") + 1] == f"/var/lib/{service}"
        assert "ln -sfn /nix/store/00000000000000000000000000000000-comfyui_controlnet_aux" in unit["preStart"]
    assert words[-1] == "--x y"
    parsed, _ = split_device_flags(words)
    request = parsed.to_request({})
    assert request.backend is Backend(backend)
    assert (request.cuda_device if backend == "cuda" else request.intel_device) == device

    config = unit["serviceConfig"]
    assert config["DynamicUser"] is True and config["StateDirectory"] == service
    assert unit["environment"]["HOME"] == f"/var/lib/{service}"
    assert unit["environment"]["SYCL_CACHE_DIR"] == f"/var/lib/{service}/sycl-cache"
    assert config["SupplementaryGroups"] == list(DEVICE_GROUPS)
    allowed = {"cuda": NVIDIA_DEVICE_ALLOW, "xpu": INTEL_DEVICE_ALLOW, "cpu": ()}[backend]
    assert config["DeviceAllow"] == [f"{d} rw" for d in allowed]


def test_module_unit_names_are_the_cli_unit_names():
    for program, (module, service) in MODULES.items():
        names = evaluate(f"builtins.attrNames ({module_expr(module, service)}).config.systemd.services")
        assert [f"{n}.service" for n in names] == [UNIT_NAMES[program]]


def test_disabled_module_defines_no_unit():
    got = evaluate(f"({module_expr('ollama-ipex.nix', 'ollama-ipex', '{ enable = false; }')}).config")
    assert got == {}


def _python_hardening() -> dict[str, str]:
    spec = UnitSpec("ollama", "system", "/usr/bin/ollama-ipex", Backend.CPU, user="alice")
    text = render_unit(spec)
    body = text.split("# Hardening", 1)[1].split("[Install]", 1)[0]
    pairs = [line.split("=", 1) for line in body.splitlines()[1:] if "=" in line and not line.startswith("#")]
    merged: dict[str, str] = {}
    for k, v in pairs:  # a repeated key (SystemCallFilter) is a Nix list: its values joined by spaces
        merged[k] = f"{merged[k]} {v}" if k in merged else v
    return merged


def _normalise(value) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return " ".join(value)
    return str(value)


def test_hardening_is_the_same_as_the_cli_units():
    nix = {k: _normalise(v) for k, v in evaluate(f"{COMMON}.hardening").items()}
    python = _python_hardening()
    # By design: outside NixOS the service runs as a named user whose home holds the environments.
    assert python.pop("ProtectHome") == "read-only" and nix.pop("ProtectHome") == "yes"
    assert python == nix


@pytest.mark.parametrize(
    ("cfg", "failing"),
    [
        ('{ backend = "cuda"; device = 1; dataDir = "/var/lib/comfyui-ipex"; }', []),
        ('{ backend = "cpu"; device = 1; dataDir = "/var/lib/comfyui-ipex"; }', ["device needs backend"]),
        ('{ backend = "auto"; device = null; dataDir = "/srv/comfyui"; }', ["dataDir must be below /var/lib"]),
    ],
)
def test_shared_assertions_reject_what_the_units_cannot_run(cfg, failing):
    """Both modules assert through common.assertions: an index needs a GPU backend, and dataDir is the unit's
    StateDirectory, so it must sit below /var/lib."""
    checks = evaluate(f'{COMMON}.assertions "comfyui-ipex" {cfg}')
    failed = [c["message"] for c in checks if not c["assertion"]]
    assert len(failed) == len(failing)
    for message, wanted in zip(failed, failing):
        assert wanted in message and message.startswith("services.comfyui-ipex.")


def test_ollama_keeps_its_models_in_the_state_directory():
    _, service = MODULES["ollama"]
    unit = evaluate(f"({module_expr('ollama-ipex.nix', service)}).config.systemd.services.{service}.environment")
    assert unit["OLLAMA_MODELS"] == f"/var/lib/{service}/models" and unit["HOME"] == f"/var/lib/{service}"
