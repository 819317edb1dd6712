"""An op's headline rate over the recorded runs: a PNG line chart, or sparklines for a terminal."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Sequence

from ...state import atomic_write_bytes
from ..history import TrendPoint
from .charts import _figure, _png

SPARKS = "▁▂▃▄▅▆▇█"


def series(points: Sequence[TrendPoint]) -> dict[tuple[str, str], list[TrendPoint]]:
    """Points grouped by (device label, spec key), each oldest first."""
    out: dict[tuple[str, str], list[TrendPoint]] = {}
    for p in points:
        out.setdefault((p.device, p.key), []).append(p)
    return out


def sparkline(values: Sequence[float]) -> str:
    lo, hi = min(values), max(values)
    if hi <= lo:
        return SPARKS[len(SPARKS) // 2] * len(values)
    return "".join(SPARKS[round((v - lo) / (hi - lo) * (len(SPARKS) - 1))] for v in values)


def sparkline_text(points: Sequence[TrendPoint]) -> str:
    """One line per series: device, spec, the sparkline, first -> last value and run ids."""
    lines = []
    for (device, key), pts in series(points).items():
        values = [p.rate for p in pts]
        unit = pts[-1].unit
        lines.append(
            f"{device}  {key}  {sparkline(values)}  {values[0]:,.4g} -> {values[-1]:,.4g} {unit}"
            f"  ({len(pts)} runs, #{pts[0].run_id}..#{pts[-1].run_id})"
        )
    return "\n".join(lines)


def _when(created: str) -> _dt.datetime:
    try:
        return _dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return _dt.datetime.fromtimestamp(0, _dt.timezone.utc)


def trend_png(points: Sequence[TrendPoint], title: str) -> bytes:
    fig = _figure(9, 4.8)
    ax = fig.add_subplot()
    units = {p.unit for p in points}
    for (device, key), pts in series(points).items():
        xs = [_when(p.created) for p in pts]
        ax.plot(xs, [p.rate for p in pts], marker="o", ms=3, lw=1.2, label=f"{device} {key}")
        for x, p in zip(xs, pts):
            ax.annotate(f"#{p.run_id}", (x, p.rate), fontsize=6, xytext=(2, 3), textcoords="offset points")
    ax.set_xlabel("run created (UTC)")
    fig.autofmt_xdate()
    ax.set_ylabel(" / ".join(sorted(units)))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="best")
    return _png(fig)


def write_trend_png(points: Sequence[TrendPoint], path: str | Path, title: str) -> Path:
    return atomic_write_bytes(Path(path), trend_png(points, title))
