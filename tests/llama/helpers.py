"""Shared pieces of the llama.cpp tests: a fake llama-server install (tests/fakes/fake_llama_server.py behind a
real `bin/llama-server`, with the backend libraries of a build beside it) and a model file."""

from __future__ import annotations

import sys
from pathlib import Path

FAKE = Path(__file__).resolve().parents[1] / "fakes" / "fake_llama_server.py"


def install(root: Path, libraries: tuple[str, ...] = ()) -> Path:
    """`root/bin/llama-server` running the fake with this interpreter; `libraries` (libggml-sycl.so, ...) beside
    it tell identify_build the build's backends, as a release archive's do."""
    (root / "bin").mkdir(parents=True)
    binary = root / "bin" / "llama-server"
    binary.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    binary.chmod(0o755)
    for name in libraries:
        (root / "bin" / name).write_bytes(b"\x7fELF")
    return binary


def model_file(path: Path) -> str:
    """A file standing for a .gguf model (the fake only lists its path; prepare checks that it exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF")
    return str(path)
