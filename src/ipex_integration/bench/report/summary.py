"""The report's first lines: per device, the headline numbers of what ran.

One function per workload turns that workload's rows into `Headline`s; HEADLINES maps workload names to them,
so a new workload (ComfyUI end-to-end, LLM serving) adds its headline by adding one entry. Each headline
names a `metric` (and dtype) under which reference points are looked up in data/reference_numbers.toml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from ..model import BenchReport
from .metrics import CEILING_COPY_OPS, MATMUL_OPS, DerivedRow, derive_run
from .peaks import PEAK_DTYPES, PeakTable


@dataclass(frozen=True)
class Headline:
    metric: str  # reference key: "matmul_tflops", "d2d_gbps", "sd15_512_its", "sd_pipeline_its", ...
    label: str  # what the cell is titled: "matmul bf16", "SD1.5 UNet step"
    value: float
    unit: str
    detail: str  # the spec that gave it: "8192x8192x8192", "512x512 b2 [cfg]"
    pct_peak: float | None = None
    dtype: str | None = None


@dataclass(frozen=True)
class DeviceSummary:
    device: str  # DeviceRun.label
    headlines: tuple[Headline, ...]
    error: str | None = None
    failed: int = 0


def _best(rows: Iterable[DerivedRow], value: Callable[[DerivedRow], float | None]) -> DerivedRow | None:
    scored = [(v, r) for r in rows if r.status == "ok" and (v := value(r))]
    return max(scored, key=lambda vr: vr[0])[1] if scored else None


def _tensor(rows: list[DerivedRow]) -> list[Headline]:
    out = []
    matmuls = [r for r in rows if r.op in MATMUL_OPS and r.op == "matmul"] or [r for r in rows if r.op in MATMUL_OPS]
    dtypes = sorted({r.dtype for r in matmuls}, key=lambda d: PEAK_DTYPES.index(d) if d in PEAK_DTYPES else 99)
    for dtype in dtypes:
        best = _best((r for r in matmuls if r.dtype == dtype), lambda r: r.tflops)
        if best is not None:
            out.append(Headline("matmul_tflops", f"matmul {dtype}", best.tflops, "TFLOP/s", best.shape,
                                best.pct_peak, dtype))
    best = _best((r for r in rows if r.op in CEILING_COPY_OPS), lambda r: r.gbps)
    if best is not None:
        out.append(Headline("d2d_gbps", "d2d copy", best.gbps, "GB/s", best.shape, best.pct_peak))
    return out


def _sd_model(op: str) -> str:
    return op.split("_")[0]


def _sd(rows: list[DerivedRow]) -> list[Headline]:
    out = []
    for suffix, what in (("_unet_step", "UNet step"), ("_pipeline", "pipeline")):
        for model in dict.fromkeys(_sd_model(r.op) for r in rows if r.op.endswith(suffix)):
            group = [r for r in rows if r.op == f"{model}{suffix}"]
            # eager, not graph replay: the graph figure is shown in the table but is not what a WebUI runs
            plain = [r for r in group if "graph" not in r.variant] or group
            best = _best(plain, lambda r: r.its)
            if best is None:
                continue
            metric = f"{model}_512_its" if best.shape.startswith("512x512") else f"{model}_its"
            name = {"sd15": "SD1.5", "sdxl": "SDXL"}.get(model, model)
            variant = f" [{best.variant}]" if best.variant else ""
            out.append(Headline(metric, f"{name} {what}", best.its, "it/s", f"{best.dtype} {best.shape}{variant}"))
    return out


def _comfyui(rows: list[DerivedRow]) -> list[Headline]:
    best = _best(rows, lambda r: r.its)
    return [Headline("comfyui_its", f"ComfyUI {best.op}", best.its, "it/s", best.shape)] if best else []


def _llm(rows: list[DerivedRow]) -> list[Headline]:
    out = []
    for op, label in (("eval", "LLM generation"), ("prompt_eval", "LLM prompt")):
        best = _best((r for r in rows if r.op == op), lambda r: r.its)
        if best is not None:
            out.append(Headline(f"llm_{op}_tokens_s", label, best.its, "tokens/s", best.shape))
    return out


# workload name -> its headlines. Order here is the order of the summary's columns.
HEADLINES: dict[str, Callable[[list[DerivedRow]], list[Headline]]] = {
    "tensor": _tensor,
    "sd": _sd,
    "comfyui": _comfyui,
    "llm": _llm,
}


def summarize(report: BenchReport, table: PeakTable | None = None) -> list[DeviceSummary]:
    """One DeviceSummary per device run, in the report's order."""
    out = []
    for run in report.runs:
        mine = derive_run(run, table)
        headlines: list[Headline] = []
        for workload, fn in HEADLINES.items():
            headlines += fn([r for r in mine if r.workload == workload])
        failed = sum(r.status == "failed" for r in mine)
        out.append(DeviceSummary(run.label, tuple(headlines), run.error, failed))
    return out
