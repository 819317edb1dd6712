"""`ipex up`, prepared: the device ranking, the placement, then each program's launch. Nothing is started.

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
from .placement import Placement, place

if TYPE_CHECKING:
    from ..ollama.launch import OllamaLaunch

PROG = "ipex up"


@dataclass(frozen=True)
class PreparedUp:
    placement: Placement
    comfyui: PreparedLaunch
    ollama: "OllamaLaunch"
    notices: tuple[str, ...] = ()  # warnings about the inputs (a results file skipped)

    def to_dict(self) -> dict:
        comfy = self.comfyui
        return {"placement": self.placement.to_dict(),
                "comfyui": {"checkout": comfy.checkout.to_dict(), "plan": comfy.plan.to_dict(),
                            "launch": comfy.spec.to_dict()},
                "ollama": self.ollama.to_dict()}


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
    resolve: Resolver | None = None,
) -> PreparedUp:
    """Place ComfyUI and Ollama on `hardware`'s GPUs and prepare both launches (ComfyUI's checks first)."""
    from ..ollama.launch import prepare_launch as prepare_ollama

    ranking, notices = read_ranking(results, environ)
    placement = place(hardware, comfyui=comfyui_device, ollama=ollama_device, ranking=ranking)
    comfy = prepare_launch(placement.comfyui, comfyui_argv, comfyui=comfyui, prog=PROG, disable_ipex=disable_ipex,
                           environ=environ, hardware=hardware, resolve=resolve)
    ollama = prepare_ollama(placement.ollama, environ=environ, ollama_bin=ollama_bin, host=host, hardware=hardware)
    return PreparedUp(placement, comfy, ollama, notices)
