"""Find `llama-server` and tell its build: which GPU backends it can drive.

llama.cpp builds name themselves in `llama-server --version` (`version: 6123 (1a2b3c4d)`, `built with ...`);
builds with dynamically loaded backends (GGML_BACKEND_DL, the release archives) print
`load_backend: loaded CUDA backend from .../libggml-cuda.so` there and ship the backends as `libggml-<name>.so`
beside the binary (or in ../lib); static builds link them, which `ldd` shows (libggml-cuda.so, or the runtime
libraries themselves: libcudart, libsycl, libvulkan). All three are read; each backend found names its evidence.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from ..proc import Runner, run_command
from . import LlamaError

BINARY = "llama-server"
ENV_VAR = "LLAMA_SERVER"
VERSION_TIMEOUT_S = 30.0
LDD_TIMEOUT_S = 10.0
INSTALL_HINT = ("install llama.cpp's llama-server (a release archive from github.com/ggml-org/llama.cpp, or build "
                "it with -DGGML_CUDA=ON / -DGGML_SYCL=ON / -DGGML_VULKAN=ON), then pass --llama-server PATH, set "
                f"${ENV_VAR}, or put it on PATH")
BACKENDS = ("cuda", "sycl", "vulkan", "rocm", "metal", "cpu")

_VERSION = re.compile(r"^version:\s*(\d+)\s*\(([0-9a-f]+)\)", re.MULTILINE)
_BUILT_WITH = re.compile(r"^built with (.+)$", re.MULTILINE)
_LOADED = re.compile(r"load_backend: loaded (\w+) backend from (\S+)")
# library name (ggml's backend library, or the runtime it links) -> backend
_LIBRARIES = (
    (re.compile(r"libggml-cuda\b"), "cuda"), (re.compile(r"libcudart\.so|libcublas\.so"), "cuda"),
    (re.compile(r"libggml-sycl\b"), "sycl"), (re.compile(r"libsycl\.so"), "sycl"),
    (re.compile(r"libggml-vulkan\b"), "vulkan"), (re.compile(r"libvulkan\.so"), "vulkan"),
    (re.compile(r"libggml-hip\b"), "rocm"), (re.compile(r"libamdhip64\.so"), "rocm"),
    (re.compile(r"libggml-metal\b"), "metal"),
    (re.compile(r"libggml-cpu\b"), "cpu"),
)
_LOADED_NAMES = {"CUDA": "cuda", "SYCL": "sycl", "Vulkan": "vulkan", "ROCm": "rocm", "HIP": "rocm",
                 "Metal": "metal", "CPU": "cpu"}


@dataclass(frozen=True)
class LlamaServerBuild:
    path: str
    real_path: str
    found_by: str  # "--llama-server", "$LLAMA_SERVER", "PATH"
    version: str | None  # llama.cpp's build number, e.g. "6123"
    commit: str | None
    compiler: str | None
    backends: tuple[str, ...]  # sorted subset of BACKENDS
    evidence: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        gpus = [b for b in self.backends if b != "cpu"]
        version = f"b{self.version}" if self.version else "unknown version"
        return f"llama.cpp {version} ({'+'.join(gpus) or 'CPU only'})"

    def has(self, backend: str) -> bool:
        return backend in self.backends

    @property
    def intel_path(self) -> str | None:
        """SYCL where the build has it (llama.cpp's fastest Intel path for many models), else Vulkan."""
        return "sycl" if self.has("sycl") else "vulkan" if self.has("vulkan") else None

    def to_dict(self) -> dict:
        return {"path": self.path, "real_path": self.real_path, "found_by": self.found_by, "version": self.version,
                "commit": self.commit, "compiler": self.compiler, "backends": list(self.backends),
                "label": self.label, "evidence": list(self.evidence)}


def find_llama_server(explicit: str | None, *, environ: Mapping[str, str],
                      which: Callable[[str], str | None] = shutil.which) -> tuple[str, str]:
    """(path, found by): --llama-server, then $LLAMA_SERVER, then PATH. LlamaError with the fix when none."""
    for value, how in ((explicit, "--llama-server"), (environ.get(ENV_VAR), f"${ENV_VAR}")):
        if value:
            path = which(value) if os.sep not in value else value
            if path is None or not Path(path).is_file():
                raise LlamaError(f"{how} {value}: no such program", hint=INSTALL_HINT)
            return path, how
    found = which(BINARY)
    if found is None:
        raise LlamaError(f"no {BINARY} found (--llama-server, ${ENV_VAR}, PATH)", hint=INSTALL_HINT)
    return found, "PATH"


def parse_version_output(text: str) -> tuple[str | None, str | None, str | None, dict[str, str]]:
    """(build number, commit, compiler, {backend: evidence}) from `llama-server --version`'s output."""
    match = _VERSION.search(text)
    built = _BUILT_WITH.search(text)
    loaded = {}
    for name, where in _LOADED.findall(text):
        backend = _LOADED_NAMES.get(name, name.lower())
        loaded.setdefault(backend, f"--version loaded {where}")
    return (match.group(1) if match else None, match.group(2) if match else None,
            built.group(1).strip() if built else None, loaded)


def backends_from_libraries(names: list[str], source: str) -> dict[str, str]:
    """{backend: evidence} for library names (files beside the binary, or lines of `ldd`)."""
    found: dict[str, str] = {}
    for name in names:
        for pattern, backend in _LIBRARIES:
            if pattern.search(name):
                found.setdefault(backend, f"{source}: {name.strip().split()[0]}")
    return found


def library_files(real_path: Path) -> list[str]:
    """The ggml backend libraries where llama.cpp's loader looks: beside the binary and in ../lib."""
    names: list[str] = []
    for folder in (real_path.parent, real_path.parent.parent / "lib"):
        try:
            names += sorted(p.name for p in folder.iterdir() if p.name.startswith("libggml-"))
        except OSError:
            continue
    return names


def identify_build(path: str, found_by: str, *, runner: Runner = run_command,
                   environ: Mapping[str, str] | None = None) -> LlamaServerBuild:
    """Run `--version` (and `ldd`) and read the libraries beside it. LlamaError when it does not run."""
    real = Path(path).resolve()
    result = runner([path, "--version"], timeout=VERSION_TIMEOUT_S, env=dict(environ) if environ is not None else None)
    if result.not_found:
        raise LlamaError(f"cannot run {path}: {result.stderr.strip() or 'not found'}", hint=INSTALL_HINT)
    text = result.stdout + "\n" + result.stderr  # llama.cpp prints its version to stderr
    version, commit, compiler, loaded = parse_version_output(text)
    if version is None and not result.ok:
        last = (text.strip().splitlines() or ["no output"])[-1]
        raise LlamaError(f"{path} --version failed (exit {result.returncode}): {last}",
                         hint="is it llama.cpp's llama-server? " + INSTALL_HINT)
    found = dict(loaded)
    for backend, why in backends_from_libraries(library_files(real), f"beside {real.parent}").items():
        found.setdefault(backend, why)
    ldd = runner(["ldd", str(real)], timeout=LDD_TIMEOUT_S)
    if ldd.ok:
        for backend, why in backends_from_libraries(ldd.stdout.splitlines(), "ldd").items():
            found.setdefault(backend, why)
    found.setdefault("cpu", "always built")  # ggml's CPU backend is part of every build
    backends = tuple(sorted(found, key=lambda b: (BACKENDS.index(b) if b in BACKENDS else len(BACKENDS), b)))
    return LlamaServerBuild(path=path, real_path=str(real), found_by=found_by, version=version, commit=commit,
                            compiler=compiler, backends=backends,
                            evidence=tuple(f"{b}: {found[b]}" for b in backends))


def find_and_identify(explicit: str | None, *, environ: Mapping[str, str],
                      runner: Runner = run_command) -> LlamaServerBuild:
    path, how = find_llama_server(explicit, environ=environ)
    return identify_build(path, how, runner=runner, environ=environ)
