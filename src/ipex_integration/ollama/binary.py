"""Find the ollama binary (--ollama-bin, config, PATH) and tell which build it is.

The build decides how Ollama is pointed at a GPU (see env.py):
- upstream (ollama.com, distributions): backends are libraries in `lib/ollama/<backend>/` beside the binary
  (`cuda_v12`, `cuda_v13`, `rocm`, `vulkan`), found the way Ollama itself looks for them (ml/path.go:
  <bin>/../lib/ollama, <bin>/lib/ollama, <bin>/build/lib/ollama). Intel GPUs go through the Vulkan backend.
- ipex-llm's build (Intel's SYCL port, based on Ollama 0.5-0.6): its version reads like
  `0.5.4-ipexllm-20250331` and it ships libggml-sycl. Intel GPUs only.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable, Mapping

from ..errors import ConfigError
from ..paths import config_dir
from ..proc import Runner, run_command
from . import OllamaBinaryError, OllamaError

CONFIG_NAME = "config.toml"
CONFIG_TABLE = "ollama"
CONFIG_KEY = "bin"
VERSION_TIMEOUT_S = 15.0
# `ollama --version` asks the server at OLLAMA_HOST for its version and prints the binary's own only where the
# two differ. Pointed at a port nobody listens on (9, discard) it always prints the binary's ("client") version.
UNREACHABLE_HOST = "127.0.0.1:9"
INSTALL_HINT = (
    "install Ollama (https://ollama.com/download; Intel GPUs: 0.12.11 or newer has the Vulkan backend, or "
    "ipex-llm's Ollama portable build), then pass --ollama-bin PATH or put it on PATH"
)

_VERSION_PATTERNS = (
    re.compile(r"client version is\s+(\S+)"),  # a server of another version answered, or none did
    re.compile(r"ollama version is\s+(\S+)"),
)
_IPEX_MARKERS = ("ipexllm", "ipex-llm", "ggml_sycl_init")


class Flavour(str, Enum):
    UPSTREAM = "upstream"  # ollama.com and distribution builds: CUDA / ROCm / Vulkan backends as libraries
    IPEX_LLM = "ipex-llm"  # ipex-llm's SYCL build for Intel GPUs


@dataclass(frozen=True)
class OllamaBuild:
    """What `identify_build` learned. `backends` None means no backend library was found beside the binary
    (a build that links them elsewhere, or a CPU-only one): we cannot tell what it can drive."""

    path: str  # as found
    real_path: str  # symlinks resolved: where Ollama itself looks for its libraries
    found_by: str  # "--ollama-bin", "config.toml [ollama] bin", "PATH"
    version: str
    flavour: Flavour
    backends: tuple[str, ...] | None  # sorted subset of "cuda", "rocm", "sycl", "vulkan"
    lib_dir: str | None = None
    evidence: tuple[str, ...] = ()  # what the flavour and backends were read from

    @property
    def intel_path(self) -> str | None:
        """How this build drives an Intel GPU: "sycl", "vulkan", or None (it cannot)."""
        if self.flavour is Flavour.IPEX_LLM:
            return "sycl"
        if self.backends is None or "vulkan" in self.backends:
            return "vulkan"  # unknown backends: upstream's Intel path is Vulkan (warned about in env.py)
        return None

    @property
    def can_cuda(self) -> bool | None:
        if self.flavour is Flavour.IPEX_LLM:
            return False
        return None if self.backends is None else "cuda" in self.backends

    @property
    def label(self) -> str:
        backends = "backends unknown" if self.backends is None else ("+".join(self.backends) or "CPU only")
        return f"ollama {self.version} ({self.flavour.value}, {backends})"

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "real_path": self.real_path,
            "found_by": self.found_by,
            "version": self.version,
            "flavour": self.flavour.value,
            "backends": list(self.backends) if self.backends is not None else None,
            "intel_path": self.intel_path,
            "lib_dir": self.lib_dir,
            "evidence": list(self.evidence),
        }


# --------------------------------------------------------------------------------------------- finding


def configured_binary(environ: Mapping[str, str] | None = None) -> str | None:
    """`[ollama] bin = "..."` of config.toml, or None."""
    path = config_dir(environ) / CONFIG_NAME
    from ..state import read_toml

    data = read_toml(path, what="config file", fix=f"fix or delete {path}", default={})
    table = data.get(CONFIG_TABLE, {})
    value = table.get(CONFIG_KEY) if isinstance(table, dict) else None
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{path}: [{CONFIG_TABLE}] {CONFIG_KEY} must be a string path", hint=f"fix {path}")
    return value or None


def find_binary(
    explicit: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    which: Callable[..., str | None] = shutil.which,
) -> tuple[str, str]:
    """(path, found_by): --ollama-bin, else config.toml's [ollama] bin, else `ollama` on PATH."""
    environ = os.environ if environ is None else environ
    if explicit is not None:
        return _checked(str(explicit), "--ollama-bin"), "--ollama-bin"
    configured = configured_binary(environ)
    if configured:
        where = f"config.toml [{CONFIG_TABLE}] {CONFIG_KEY}"
        return _checked(os.path.expanduser(configured), where), where
    found = which("ollama", path=environ.get("PATH", os.defpath))
    if found:
        return found, "PATH"
    raise OllamaError("ollama not found: no --ollama-bin, no [ollama] bin in config.toml, not on PATH",
                      hint=INSTALL_HINT)


def _checked(path: str, where: str) -> str:
    p = Path(path)
    if not p.exists():
        raise OllamaBinaryError(f"{where} {path}: no such file", hint=INSTALL_HINT)
    if p.is_dir():
        raise OllamaBinaryError(f"{where} {path} is a directory, not the ollama binary",
                                hint=f"pass the binary inside it, e.g. {p / 'bin' / 'ollama'}")
    if not os.access(p, os.X_OK):
        raise OllamaBinaryError(f"{where} {path} is not executable", hint=f"chmod +x {path}")
    return path


# --------------------------------------------------------------------------------------------- identifying


def identify_build(
    path: str,
    *,
    found_by: str = "--ollama-bin",
    runner: Runner = run_command,
    environ: Mapping[str, str] | None = None,
    timeout: float = VERSION_TIMEOUT_S,
) -> OllamaBuild:
    """Ask `path --version` and look at the libraries beside it. OllamaError if it is not ollama."""
    environ = os.environ if environ is None else environ
    env = {**environ, "OLLAMA_HOST": UNREACHABLE_HOST}
    result = runner([path, "--version"], timeout=timeout, env=env)
    if result.not_found:
        raise OllamaError(f"cannot run {path}: {result.stderr.strip() or 'not found'}", hint=INSTALL_HINT)
    if result.timed_out:
        raise OllamaError(f"{path} --version did not answer within {timeout:.0f} s: is it ollama?",
                          hint="pass --ollama-bin PATH of the ollama binary")
    text = f"{result.stdout}\n{result.stderr}"
    version = parse_version(text)
    if version is None:
        shown = next((line.strip() for line in text.splitlines() if line.strip()), "")
        said = f"printed {shown[:120]!r}" if shown else "printed nothing"
        raise OllamaError(f"{path} is not ollama: `{Path(path).name} --version` {said} "
                          f"(exit code {result.returncode})",
                          hint="pass --ollama-bin PATH of the ollama binary")
    real = os.path.realpath(path)
    lib_dir, backends, evidence = scan_backends(Path(real))
    markers = [m for m in _IPEX_MARKERS if m in text.lower()]
    ipex = bool(markers) or (backends is not None and "sycl" in backends)
    evidence = tuple(f"--version mentions {m!r}" for m in markers) + evidence
    return OllamaBuild(
        path=path,
        real_path=real,
        found_by=found_by,
        version=version,
        flavour=Flavour.IPEX_LLM if ipex else Flavour.UPSTREAM,
        backends=backends,
        lib_dir=lib_dir,
        evidence=evidence,
    )


def find_and_identify(
    explicit: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    runner: Runner = run_command,
) -> OllamaBuild:
    path, found_by = find_binary(explicit, environ=environ)
    return identify_build(path, found_by=found_by, runner=runner, environ=environ)


def parse_version(text: str) -> str | None:
    for pattern in _VERSION_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1)
    return None


def lib_candidates(real_binary: Path) -> list[Path]:
    """Where Ollama looks for lib/ollama on Linux (ml/path.go), plus the binary's own folder, where ipex-llm's
    portable build keeps its libraries."""
    exe_dir = real_binary.parent
    return [exe_dir.parent / "lib" / "ollama", exe_dir / "lib" / "ollama", exe_dir / "build" / "lib" / "ollama",
            exe_dir]


def scan_backends(real_binary: Path) -> tuple[str | None, tuple[str, ...] | None, tuple[str, ...]]:
    """(lib dir, backends, evidence). Backends None when no ggml library was found anywhere."""
    found: set[str] = set()
    evidence: list[str] = []
    lib_dir: str | None = None
    saw_ggml = False
    for candidate in lib_candidates(real_binary):
        if not candidate.is_dir():
            continue
        entries = _entries(candidate, depth=2)
        ggml = [e for e in entries if e.name.startswith("libggml")]
        backend_dirs = [e for e in entries if e.is_dir() and _backend_of_dir(e.name)]
        if candidate == real_binary.parent and not ggml:
            continue  # a plain bin/ folder says nothing
        if ggml or backend_dirs:
            lib_dir = lib_dir or str(candidate)
            saw_ggml = saw_ggml or bool(ggml) or bool(backend_dirs)
        for entry in entries:
            backend = _backend_of_dir(entry.name) if entry.is_dir() else _backend_of_lib(entry.name)
            if backend and backend not in found:
                found.add(backend)
                evidence.append(str(entry.relative_to(candidate.parent)) if entry.is_relative_to(candidate.parent)
                                else str(entry))
    return lib_dir, (tuple(sorted(found)) if saw_ggml else None), tuple(evidence)


def _entries(folder: Path, depth: int) -> list[Path]:
    out: list[Path] = []
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return out
    for child in children:
        out.append(child)
        if depth > 1 and child.is_dir() and not child.is_symlink():
            out += _entries(child, depth - 1)
    return out


def _backend_of_dir(name: str) -> str | None:
    if name.startswith("cuda_"):
        return "cuda"
    if name.startswith("rocm"):
        return "rocm"
    if name.startswith("vulkan"):
        return "vulkan"
    return None


def _backend_of_lib(name: str) -> str | None:
    for prefix, backend in (("libggml-cuda", "cuda"), ("libggml-hip", "rocm"), ("libggml-vulkan", "vulkan"),
                            ("libggml-sycl", "sycl")):
        if name.startswith(prefix) and ".so" in name:
            return backend
    return None
