"""matplotlib charts of a report, as PNG bytes: per-op bars across devices and a roofline per device.

matplotlib is imported inside the functions (importing the package stays cheap), and figures are drawn
with the Agg canvas directly, never through pyplot, so no global backend is switched and nothing opens
a window.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

from ...state import write_bytes
from ...errors import IpexError
from ..model import BenchReport, DeviceRun, Status
from .metrics import DerivedRow, derive, measured_ceilings, primary_rate, rate_in
from .peaks import PeakTable, peak_for

_DTYPE_COLORS = {"fp32": "#1f77b4", "tf32": "#ff7f0e", "fp16": "#2ca02c", "bf16": "#d62728", "-": "#7f7f7f"}
_DPI = 110
# One color per device or run in the grouped bars (matplotlib's tab10, colour-blind friendlier first).
_SERIES_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


@dataclass(frozen=True)
class Chart:
    name: str  # file stem, e.g. "bars-tensor-matmul", "roofline-cuda-nvidia-h100-80gb-hbm3"
    title: str
    png: bytes


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "chart"


def _figure(width: float, height: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise IpexError(
            "charts need matplotlib, which is not installed",
            hint="install the benchmark extras: pip install 'ipex-integration[bench]'",
        ) from None
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def _config_label(row: DerivedRow) -> str:
    label = f"{row.dtype} {row.shape}"
    return f"{label} [{row.variant}]" if row.variant else label


def _panel(ax, group: list[DerivedRow], unit: str) -> None:
    """Grouped horizontal bars on one axis: a group per op/dtype/shape, a bar per device (or run)."""
    configs = list(dict.fromkeys(f"{r.op} {_config_label(r)}" for r in group))
    devices = list(dict.fromkeys(r.device for r in group))
    values = {(r.device, f"{r.op} {_config_label(r)}"): rate_in(r, unit) for r in group}
    bar_h = 0.8 / len(devices)
    top = max(values.values())
    low = min(v for v in values.values() if v > 0)
    log = top / low > 50  # a GPU next to a CPU, or a copy next to an add: on a linear axis small bars vanish
    for i, device in enumerate(devices):
        ys = [c - 0.4 + bar_h * (i + 0.5) for c in range(len(configs))]
        xs = [values.get((device, cfg)) or 0.0 for cfg in configs]
        bars = ax.barh(ys, xs, height=bar_h * 0.92, label=device, color=_SERIES_COLORS[i % len(_SERIES_COLORS)])
        for bar, x in zip(bars, xs):
            if x:
                at = x * 1.05 if log else x + top * 0.01
                ax.text(at, bar.get_y() + bar.get_height() / 2, f"{x:,.3g}", va="center", fontsize=7)
    ax.set_yticks(range(len(configs)), configs, fontsize=8)
    ax.set_ylim(len(configs) - 0.5, -0.5)  # first config on top
    if log:
        ax.set_xscale("log")
        ax.set_xlim(low / 3, top * 6)
        ax.set_xlabel(f"{unit} (log scale)", fontsize=8)
    else:
        ax.set_xlim(0, top * 1.18)
        ax.set_xlabel(unit, fontsize=8)
    ax.grid(axis="x", alpha=0.3)


def bar_charts(rows: list[DerivedRow]) -> list[Chart]:
    """One chart per workload: a panel per unit (TFLOP/s, GB/s, it/s), each with grouped bars that put the
    devices (or runs) side by side for every op/dtype/shape."""
    by_workload: dict[str, list[DerivedRow]] = {}
    for row in rows:
        if primary_rate(row) is not None:
            by_workload.setdefault(row.workload, []).append(row)
    charts = []
    for workload, wrows in by_workload.items():
        panels: dict[str, list[DerivedRow]] = {}
        for row in wrows:
            panels.setdefault(primary_rate(row)[1], []).append(row)
        devices = len({r.device for r in wrows})
        heights = [len({(r.op, _config_label(r)) for r in group}) * max(1, devices) for group in panels.values()]
        fig = _figure(9, max(2.4, 0.8 + 0.95 * len(panels) + 0.24 * sum(heights)))
        axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=[h + 2 for h in heights])[:, 0]
        for ax, (unit, group) in zip(axes, panels.items()):
            _panel(ax, group, unit)
        axes[0].set_title(workload, fontsize=10)
        if devices > 1:
            axes[0].legend(fontsize=7, loc="lower right")
        units = ", ".join(panels)
        charts.append(Chart(f"bars-{slug(workload)}", f"{workload} ({units})", _png(fig)))
    return charts


def _roof_xs(lo: float, hi: float, n: int = 200) -> list[float]:
    a, b = math.log10(lo), math.log10(hi)
    return [10 ** (a + (b - a) * i / (n - 1)) for i in range(n)]


def roofline_chart(run: DeviceRun, table: PeakTable | None = None) -> Chart | None:
    """Achieved TFLOP/s against arithmetic intensity, under the datasheet roofs (solid) and the roofs this
    suite measured (dashed: best d2d copy, best matmul per dtype). None when nothing has both counts."""
    points = [
        (m.arithmetic_intensity, m.tflops, m.spec)
        for m in run.measurements
        if m.status is Status.OK and m.arithmetic_intensity and m.tflops
    ]
    if not points:
        return None
    peak = peak_for(run.device_name, table)
    ceilings = measured_ceilings(run)
    roofs: list[tuple[str, float | None, dict[str, float], str]] = []
    if peak is not None:
        roofs.append(("datasheet", peak.memory_gbps, dict(peak.tflops), "-"))
    if ceilings.bandwidth_gbps or ceilings.compute_tflops:
        roofs.append(("measured", ceilings.bandwidth_gbps, dict(ceilings.compute_tflops), "--"))
    intensities = [p[0] for p in points]
    ridges = [tf * 1e3 / bw for _, bw, comp, _ in roofs if bw for tf in comp.values()]
    lo = min(intensities + ridges) / 4
    hi = max(intensities + ridges) * 4
    xs = _roof_xs(lo, hi)

    fig = _figure(8, 5.2)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_yscale("log")
    for kind, bandwidth, compute, style in roofs:
        # dtypes with the same roof (bf16 and fp16 on most parts) share one line
        by_value: dict[float, list[str]] = {}
        for dtype, tf in sorted(compute.items()):
            by_value.setdefault(tf, []).append(dtype)
        for tf, dtypes in sorted(by_value.items(), reverse=True):
            ys = [min(tf, bandwidth * x / 1e3) if bandwidth else tf for x in xs]
            color = _DTYPE_COLORS.get(dtypes[0], "#444444")
            name = "/".join(dtypes)
            ax.plot(xs, ys, style, color=color, lw=1.2, alpha=0.8, label=f"{kind} {name} roof ({tf:,.4g} TFLOP/s)")
        if bandwidth:
            ys = [bandwidth * x / 1e3 for x in xs]
            ax.plot(xs, ys, style, color="black", lw=0.8, alpha=0.5, label=f"{kind} bandwidth ({bandwidth:,.4g} GB/s)")
    for intensity, tflops, spec in points:
        ax.scatter([intensity], [tflops], color=_DTYPE_COLORS.get(spec.dtype, "#444444"), s=22, zorder=3)
        ax.annotate(
            f"{spec.op} {spec.dtype}", (intensity, tflops), fontsize=6, xytext=(3, 3), textcoords="offset points"
        )
    all_y = [p[1] for p in points] + [tf for _, _, comp, _ in roofs for tf in comp.values()]
    ax.set_ylim(min(all_y) / 5, max(all_y) * 2)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("arithmetic intensity (flop / byte)")
    ax.set_ylabel("achieved TFLOP/s")
    title = f"roofline: {run.label}"
    if peak is None:
        title += "\n(no datasheet peak known: measured roofs only)"
    ax.set_title(title, fontsize=10)
    ax.grid(which="both", alpha=0.2)
    ax.legend(fontsize=6, loc="lower right")
    return Chart(f"roofline-{slug(run.label)}", f"roofline: {run.label}", _png(fig))


def build_charts(report: BenchReport, table: PeakTable | None = None) -> list[Chart]:
    charts = bar_charts(derive(report, table))
    charts += [c for run in report.runs if (c := roofline_chart(run, table)) is not None]
    # Two cards of one model share a label: keep their file names apart.
    seen: dict[str, int] = {}
    unique = []
    for chart in charts:
        seen[chart.name] = seen.get(chart.name, 0) + 1
        if seen[chart.name] > 1:
            chart = Chart(f"{chart.name}-{seen[chart.name]}", chart.title, chart.png)
        unique.append(chart)
    return unique


def write_pngs(
    report: BenchReport, out_dir: str | Path, table: PeakTable | None = None, *, suffix: str = ""
) -> list[Path]:
    """Save every chart as `<name><suffix>.png` in out_dir (atomically); returns the paths written. The
    suffix is the run's number (`-2`) when an earlier run's results share the folder."""
    out = Path(out_dir)
    return [write_bytes(out / f"{c.name}{suffix}.png", c.png, what="chart") for c in build_charts(report, table)]
