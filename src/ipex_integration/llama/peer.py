"""A real OpenAI-compatible server for tests and benchmarks: llama-cpp-python's `python -m llama_cpp.server`
with the tiny model of model_file.py, on loopback, started and stopped through the supervisor.

    with LlamaPeer.start() as peer:      # LlamaError when llama_cpp is missing or the server does not start
        OpenAIClient(peer.url).chat(peer.model, ...)

llama-cpp-python 0.3 serves one request at a time (a lock around the model) and by default aborts a streamed
reply when the next request arrives (`interrupt_requests`); the peer turns that off, so concurrent requests
queue as they would on a busy single-slot server instead of cutting each other short.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from ..proc import Runner, run_command
from . import LlamaError
from .model_file import ModelRecipe, cached_model
from .serve import LlamaServeSpec, LlamaServer, default_log_path, served_models

LLAMA_CPP_PYTHON = "llama-cpp-python[server]==0.3.36"  # the version this peer was checked against
PROBE_TIMEOUT_S = 60.0  # importing llama_cpp loads its shared libraries
_PROBE = ("import importlib.metadata as m, llama_cpp, uvicorn, fastapi, sse_starlette, starlette_context, "
          "pydantic_settings; print(m.version('llama_cpp_python'))")


def llama_cpp_version(python: str = sys.executable, runner: Runner = run_command) -> tuple[str | None, str]:
    """(version, "") when `python` can run llama-cpp-python's server, else (None, why not)."""
    result = runner([python, "-c", _PROBE], timeout=PROBE_TIMEOUT_S)
    if result.ok:
        return result.stdout.strip().splitlines()[-1], ""
    last = (result.stderr.strip().splitlines() or ["no output"])[-1]
    return None, f"{python} cannot import llama-cpp-python's server ({last})"


def pick_free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS's choice); the server binds it moments later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def peer_spec(model: str | Path, *, port: int, python: str = sys.executable, host: str = "127.0.0.1",
              environ: Mapping[str, str] | None = None, log_path: str | Path | None = None,
              n_ctx: int = 2048, threads: int | None = None) -> LlamaServeSpec:
    import os

    base = dict(os.environ if environ is None else environ)
    argv = [python, "-m", "llama_cpp.server", "--model", str(model), "--host", host, "--port", str(port),
            "--n_ctx", str(n_ctx), "--seed", "0", "--interrupt_requests", "False", "--n_gpu_layers", "0"]
    if threads is not None:
        argv += ["--n_threads", str(threads)]
    log = Path(log_path) if log_path is not None else default_log_path(port, environ)
    return LlamaServeSpec(kind="llama-cpp-python", argv=tuple(argv), env=base, host=host, port=port,
                          log_path=str(log), model=str(model),
                          reasons=("llama-cpp-python's OpenAI-compatible server on the CPU (the test peer)",))


@dataclass
class LlamaPeer:
    server: LlamaServer
    version: str

    @property
    def url(self) -> str:
        return self.server.spec.url

    @property
    def model(self) -> str:
        """The model id the server lists (llama-cpp-python: the --model path as given)."""
        return self.server.spec.model

    @classmethod
    def start(cls, *, python: str = sys.executable, recipe: ModelRecipe = ModelRecipe(),
              environ: Mapping[str, str] | None = None, log_path: str | Path | None = None,
              timeout: float = 60.0, threads: int | None = None,
              sink: Callable[[str], None] | None = None) -> LlamaPeer:
        version, why = llama_cpp_version(python)
        if version is None:
            raise LlamaError(why, hint=f"pip install '{LLAMA_CPP_PYTHON}' (a 10-15 minute build from source), "
                                       "or run benchmarks/llama_server_peer.py --build")
        model = cached_model(recipe, environ=environ)
        spec = peer_spec(model, port=pick_free_port(), python=python, environ=environ, log_path=log_path,
                         threads=threads)
        server = LlamaServer(spec, sink=sink)
        server.start()
        try:
            server.wait_ready(timeout)
            if spec.model not in served_models(spec.url):
                raise LlamaError(f"{spec.url}/v1/models does not list {spec.model}")
        except BaseException:
            server.stop()
            raise
        return cls(server, version)

    def stop(self) -> int | None:
        return self.server.stop()

    def __enter__(self) -> LlamaPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
