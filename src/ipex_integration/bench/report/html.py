"""A self-contained HTML report: one file, inline CSS, charts as base64 PNG data URIs, no scripts and no
external assets, so it opens the same from a mail attachment, a CI artifact or docs/results/."""

from __future__ import annotations

import base64
import json
import shlex
from html import escape
from typing import Any, Iterable

from ..model import BenchReport
from .charts import Chart, bar_charts, roofline_chart, slug, write_pngs  # noqa: F401 (write_pngs re-exported)
from .fmt import fmt_iqr, fmt_mib, fmt_ms, fmt_pct, fmt_rate
from .metrics import DerivedRow, derive
from .peaks import NO_PEAK, PeakTable, peak_for

__all__ = ["render_html", "write_pngs"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .86em; }
th, td { border: 1px solid #ddd; padding: .25em .55em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { color: #a00; } tr.skip td { color: #777; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; }
.warn { background: #fff3cd; border: 1px solid #e0c36c; padding: .6em; }
.noisy { color: #b36b00; font-weight: bold; }
figure { margin: 1em 0; } figure img { max-width: 100%; } figcaption { font-size: .85em; color: #555; }
.note { font-size: .85em; color: #555; }
"""


def _kv_table(data: dict[str, Any]) -> str:
    if not data:
        return "<p class=note>(none recorded)</p>"
    cells = []
    for key, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        cells.append(f"<tr><th>{escape(str(key))}</th><td>{escape(text)}</td></tr>")
    return "<table>" + "".join(cells) + "</table>"


def _img(chart: Chart) -> str:
    data = base64.b64encode(chart.png).decode("ascii")
    return (
        f'<figure id="{escape(chart.name)}"><img alt="{escape(chart.title)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{escape(chart.title)}</figcaption></figure>'
    )


def _row_class(row: DerivedRow) -> str:
    if row.status in ("failed", "oom"):
        return ' class="bad"'
    if row.status == "skipped":
        return ' class="skip"'
    return ""


def _results_table(rows: Iterable[DerivedRow]) -> str:
    head = (
        "<tr><th>device</th><th>op</th><th>dtype</th><th>shape</th><th>variant</th><th>status</th>"
        "<th>median</th><th>IQR</th><th>p95</th><th>n</th><th>rate</th><th>% peak</th><th>% measured</th>"
        "<th>peak mem</th><th>note</th></tr>"
    )
    body = []
    for r in rows:
        ok = r.status == "ok"
        note = r.reason if not ok else (r.peak_note or (f"{r.bound}-bound" if r.bound else ""))
        noisy = ' <span class="noisy" title="IQR/median above 10%">noisy</span>' if r.noisy else ""
        cells = [
            escape(r.device), escape(r.op), escape(r.dtype), escape(r.shape), escape(r.variant), escape(r.status),
        ]
        nums = [fmt_ms(r.median_ms), fmt_iqr(r) + noisy if ok else "-", fmt_ms(r.p95_ms), str(r.n or "-")]
        nums += [fmt_rate(r), fmt_pct(r.pct_peak), fmt_pct(r.pct_measured), fmt_mib(r.peak_memory_mib)]
        tds = "".join(f"<td>{c}</td>" for c in cells)
        tds += "".join(f'<td class="num">{n}</td>' for n in nums)
        tds += f"<td>{escape(note or '')}</td>"
        body.append(f"<tr{_row_class(r)}>{tds}</tr>")
    return "<table>" + head + "".join(body) + "</table>"


def _device_section(report: BenchReport, table: PeakTable | None) -> str:
    parts = ["<h2>Devices</h2>"]
    for run in report.runs:
        parts.append(f"<h3>{escape(run.label)}</h3>")
        if run.error:
            parts.append(f'<p class="warn">This device\'s run failed: {escape(run.error)}</p>')
        peak = peak_for(run.device_name, table)
        if peak is None:
            parts.append(f"<p class=note>Datasheet peaks: {NO_PEAK} for this device.</p>")
        else:
            numbers = ", ".join(f"{d} {v:,.4g} TFLOP/s" for d, v in peak.tflops.items())
            if peak.memory_gbps:
                numbers += f", {peak.memory_gbps:,.4g} GB/s"
            url = f' (<a href="{escape(peak.url)}">{escape(peak.url)}</a>)' if peak.url else ""
            parts.append(
                f"<p class=note>Datasheet peaks ({escape(peak.name)}): {escape(numbers)}. "
                f"Source: {escape(peak.source)}{url}.</p>"
            )
            if peak.sources:
                items = "".join(f"<li>{escape(k)}: {escape(v)}</li>" for k, v in peak.sources.items())
                parts.append(f"<ul class=note>{items}</ul>")
        parts.append("<h4>Device</h4>" + _kv_table(run.device))
        parts.append("<h4>Software</h4>" + _kv_table(run.software))
    return "".join(parts)


def render_html(report: BenchReport, table: PeakTable | None = None) -> str:
    rows = derive(report, table)
    charts = bar_charts(rows)
    rooflines = [c for run in report.runs if (c := roofline_chart(run, table)) is not None]
    title = "ipex-benchmark results"
    devices = ", ".join(run.label for run in report.runs)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}: {escape(devices)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Created {escape(report.created)} on {escape(devices or 'no device')}.</p>",
    ]
    if not report.complete:
        parts.append('<p class="warn">Incomplete run: this file holds what was measured before the run stopped.</p>')
    parts.append("<h2>Command</h2><pre>" + escape(shlex.join(report.command)) + "</pre>")
    parts.append("<h2>Configuration</h2>" + _kv_table(report.config))
    parts.append("<h2>System</h2>" + _kv_table(report.system))
    parts.append(_device_section(report, table))
    parts.append(
        "<h2>Results</h2><p class=note>Times are medians of the timed repetitions; IQR is relative to the "
        "median and marked <span class=noisy>noisy</span> above 10%. <b>% peak</b> compares the rate with the "
        "datasheet roof the op is nearer to (compute for flop-bound ops, DRAM bandwidth for byte-bound ones, "
        "i.e. achieved / min(peak, intensity x bandwidth)); <b>% measured</b> does the same against this "
        "suite's own best matmul (same dtype) and best device-to-device copy on the same device.</p>"
    )
    by_chart = {c.name: c for c in charts}
    for workload in dict.fromkeys(r.workload for r in rows):
        wrows = [r for r in rows if r.workload == workload]
        parts.append(f"<h3 id=\"workload-{escape(slug(workload))}\">{escape(workload)}</h3>")
        parts.append(_results_table(wrows))
        for op in dict.fromkeys(r.op for r in wrows):
            chart = by_chart.get(f"bars-{slug(workload)}-{slug(op)}")
            if chart is not None:
                parts.append(_img(chart))
    if rooflines:
        parts.append(
            "<h2>Rooflines</h2><p class=note>Each point is one op (achieved TFLOP/s at its flop/byte). Solid "
            "lines: datasheet roofs; dashed: the roofs this suite measured (best d2d copy, best matmul).</p>"
        )
        parts.extend(_img(c) for c in rooflines)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"

