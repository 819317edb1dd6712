"""`ipex up`, prepared: the device ranking, the placement, then each program's launch. Nothing is started.

The LLM side goes through the engine switch (llama/engine.py): Ollama (`ollama/launch.prepare_launch`) or
llama.cpp's llama-server (`llama/launch.prepare_llama_launch`), each on the device the placement gave it.

The benchmark results only rank the GPUs (bench.ranking); an unreadable results file that the user did not
name is skipped with a notice, one they named is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

from ..bench.ranking import DeviceRanking, find_results, load_ranking
from ..comfyui.prepare import PreparedLaunch, Resolver, prepare_launch
from ..errors import UsageError
from ..hardware.model import HardwareReport
from ..llama.engine import EngineFlags
from .placement import Placement, place

if TYPE_CHECKING:
    from ..llama.launch import LlamaLaunch
    from ..ollama.launch import OllamaLaunch

PROG = "ipex up"
LLM_NAMES = {"ollama": "Ollama", "llama-server": "llama-server"}  # as the placement and the dry run say it
JSON_KEYS = {"ollama": "ollama", "llama-server": "llama_server"}


@dataclass(frozen=True)
class PreparedUp:
    placement: Placement
    comfyui: PreparedLaunch
    llm: "OllamaLaunch | LlamaLaunch"
    engine: str = "ollama"  # llama/engine.ENGINES
    notices: tuple[str, ...] = ()  # warnings about the inputs (a results file skipped)

    @property
    def llm_name(self) -> str:
        return LLM_NAMES[self.engine]

    @property
    def llm_where(self) -> str:
        """Where the LLM server runs, as its launch says it ("XPU device 0 (...) via sycl")."""
        return self.llm.where if self.engine == "llama-server" else self.llm.server.where

    @property
    def llm_warnings(self) -> tuple[str, ...]:
        return tuple(self.llm.server.warnings)

    def to_dict(self) -> dict:
        comfy = self.comfyui
        return {"engine": self.engine, "placement": self.placement.to_dict(),
                "comfyui": {"checkout": comfy.checkout.to_dict(), "plan": comfy.plan.to_dict(),
                            "launch": comfy.spec.to_dict()},
                JSON_KEYS[self.engine]: self.llm.to_dict()}


def read_ranking(results: str | None, environ: Mapping[str, str]) -> tuple[DeviceRanking | None, tuple[str, ...]]:
    """The ranking of `results` (else the newest results under the data dir), and notices."""
    path = find_results(results, environ)
    if path is None:
        return None, ()
    try:
        return load_ranking(path), ()
    except UsageError:
        if results:
            raise
        return None, (f"ignoring unreadable results file {path}",)


def prepare_up(
    *,
    hardware: HardwareReport,
    environ: Mapping[str, str],
    comfyui_argv: Sequence[str] = (),
    comfyui_device: str | None = None,
    ollama_device: str | None = None,
    results: str | None = None,
    comfyui: str | None = None,
    disable_ipex: bool = False,
    ollama_bin: str | None = None,
    host: str | None = None,
    engine: EngineFlags | None = None,
    resolve: Resolver | None = None,
) -> PreparedUp:
    """Place ComfyUI and the LLM server on `hardware`'s GPUs and prepare both launches (ComfyUI's checks
    first). `engine` (default: Ollama) picks the LLM server; `ollama_device` and `host` are its device and
    address whichever it is."""
    engine = engine or EngineFlags()
    if engine.is_llama and ollama_bin is not None:
        raise UsageError("--ollama-bin goes with --engine ollama", hint="use --llama-server PATH")
    llama_address = llama_host(host) if engine.is_llama else None  # bad input before any slow lookup
    ranking, notices = read_ranking(results, environ)
    placement = place(hardware, comfyui=comfyui_device, ollama=ollama_device, ranking=ranking,
                      llm=LLM_NAMES[engine.engine])
    comfy = prepare_launch(placement.comfyui, comfyui_argv, comfyui=comfyui, prog=PROG, disable_ipex=disable_ipex,
                           environ=environ, hardware=hardware, resolve=resolve)
    if engine.is_llama:
        from ..llama.launch import prepare_llama_launch

        address, port = llama_address
        llm = prepare_llama_launch(placement.ollama, model=engine.model, environ=environ, binary=engine.llama_server,
                                   host=address, port=port, hardware=hardware)
    else:
        from ..ollama.launch import prepare_launch as prepare_ollama

        llm = prepare_ollama(placement.ollama, environ=environ, ollama_bin=ollama_bin, host=host, hardware=hardware)
    return PreparedUp(placement, comfy, llm, engine.engine, notices)


def llama_host(host: str | None) -> tuple[str, int]:
    """llama-server's `--host HOST:PORT` (default llama-server's own 127.0.0.1:8080)."""
    from ..llama.env import DEFAULT_PORT
    from ..net import split_host_port

    return split_host_port(host, default_port=DEFAULT_PORT)
