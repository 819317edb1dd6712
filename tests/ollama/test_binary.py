"""Finding the ollama binary and identifying its build: real files, the fake run for real."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ipex_integration.errors import ConfigError
from ipex_integration.ollama import OllamaError
from ipex_integration.ollama.binary import Flavour, find_binary, identify_build, parse_version
from ipex_integration.paths import config_dir


def test_flag_wins_over_config_and_path(ollama_bin, tmp_path):
    flag, configured, on_path = ollama_bin("upstream"), ollama_bin("cuda-only"), ollama_bin("ipex-llm")
    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / "config.toml").write_text(f'[comfyui]\npath = "/x"\n\n[ollama]\nbin = "{configured}"\n')
    environ = {**os.environ, "PATH": str(on_path.parent)}
    assert find_binary(str(flag), environ=environ) == (str(flag), "--ollama-bin")
    assert find_binary(None, environ=environ) == (str(configured), "config.toml [ollama] bin")
    (config_dir() / "config.toml").write_text('[comfyui]\npath = "/x"\n')
    assert find_binary(None, environ=environ) == (str(on_path), "PATH")


def test_not_found_anywhere(tmp_path):
    with pytest.raises(OllamaError, match="ollama not found: no --ollama-bin") as info:
        find_binary(None, environ={**os.environ, "PATH": str(tmp_path)})
    assert "ollama.com/download" in info.value.hint


@pytest.mark.parametrize(("setup", "message"), [
    (lambda p: None, "no such file"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_text("#!/bin/sh\n"), "is not executable"),
])
def test_bad_flag_values(tmp_path, setup, message):
    target = tmp_path / "ollama"
    setup(target)
    with pytest.raises(OllamaError, match=message):
        find_binary(str(target), environ={})


def test_bad_config_is_a_config_error(tmp_path):
    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / "config.toml").write_text("[ollama\nbin = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        find_binary(None, environ={**os.environ, "PATH": str(tmp_path)})


@pytest.mark.parametrize(("layout", "backends", "intel_path", "can_cuda"), [
    ("upstream", ("cuda", "vulkan"), "vulkan", True),
    ("cuda-only", ("cuda",), None, True),
    ("vulkan-only", ("vulkan",), "vulkan", False),
    ("cpu-only", (), None, False),
    ("bare", None, "vulkan", None),  # nothing beside it: unknown, upstream's Intel path assumed (with a warning)
])
def test_upstream_builds(ollama_bin, layout, backends, intel_path, can_cuda):
    binary = ollama_bin(layout)
    build = identify_build(str(binary), environ=dict(os.environ))
    assert build.version == "0.12.6"
    assert build.flavour is Flavour.UPSTREAM
    assert build.backends == backends
    assert build.intel_path == intel_path
    assert build.can_cuda is can_cuda


def test_ipex_llm_build_by_version_text(ollama_bin):
    binary = ollama_bin("bare")
    build = identify_build(str(binary), environ={**os.environ, "FAKE_OLLAMA_VERSION": "0.5.4-ipexllm-20250331"})
    assert build.flavour is Flavour.IPEX_LLM and build.version == "0.5.4-ipexllm-20250331"
    assert build.intel_path == "sycl" and build.can_cuda is False
    assert "--version mentions 'ipexllm'" in build.evidence


def test_ipex_llm_build_by_its_libraries(ollama_bin):
    build = identify_build(str(ollama_bin("ipex-llm")), environ=dict(os.environ))  # version says nothing
    assert build.flavour is Flavour.IPEX_LLM and build.backends == ("sycl",)


def test_symlinked_binary_is_resolved_like_ollama_does(ollama_bin, tmp_path):
    real = ollama_bin("upstream")
    link_dir = tmp_path / "usr-local-bin"
    link_dir.mkdir()
    (link_dir / "ollama").symlink_to(real)
    build = identify_build(str(link_dir / "ollama"), environ=dict(os.environ))
    assert build.real_path == str(real) and build.backends == ("cuda", "vulkan")


def test_version_is_the_binarys_even_when_another_server_runs(ollama_bin, fake_server):
    """`ollama --version` prints the server's version; identify_build must get the binary's own."""
    url = fake_server(FAKE_OLLAMA_VERSION="0.11.0")
    environ = {**os.environ, "OLLAMA_HOST": url.removeprefix("http://")}
    build = identify_build(str(ollama_bin("upstream")), environ=environ)
    assert build.version == "0.12.6"


@pytest.mark.parametrize(("script", "said"), [
    ("", "printed nothing"),  # /bin/true-like
    ("echo 'Python 3.11.9'", "printed 'Python 3.11.9'"),
    ("echo usage: foo >&2; exit 2", "printed 'usage: foo' (exit code 2)"),
])
def test_not_ollama(tmp_path, script, said):
    fake = tmp_path / "ollama"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    with pytest.raises(OllamaError, match="is not ollama") as info:
        identify_build(str(fake), environ={})
    assert said in info.value.message
    assert "\n" not in info.value.message


def test_bin_true_is_not_ollama():
    if not Path("/bin/true").exists():
        pytest.skip("no /bin/true")
    with pytest.raises(OllamaError, match="/bin/true is not ollama"):
        identify_build("/bin/true", environ={})


def test_parse_version_variants():
    assert parse_version("ollama version is 0.12.3\n") == "0.12.3"
    assert parse_version("ollama version is 0.11.0\nWarning: client version is 0.12.3\n") == "0.12.3"
    assert parse_version("Warning: could not connect to a running Ollama instance\n"
                         "Warning: client version is 0.5.4-ipexllm-20250331\n") == "0.5.4-ipexllm-20250331"
    assert parse_version("ggml_sycl_init: found 1 SYCL devices:\nollama version is 0.3.6-ipexllm-20240827") \
        == "0.3.6-ipexllm-20240827"
    assert parse_version("true (GNU coreutils) 9.1") is None
