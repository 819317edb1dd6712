"""A self-contained HTML report: one file, inline CSS, charts as base64 PNG data URIs, no scripts and no
external assets, so it opens the same from a mail attachment, a CI artifact or docs/results/.

Reading order: the summary (one line per device with its headline numbers next to public reference points),
then one chart per workload with the devices side by side, the per-op tables, and last, folded away, the
command, configuration, system and device facts."""

from __future__ import annotations

import base64
import json
import shlex
from html import escape
from typing import Any, Iterable

from ..model import BenchReport
from .charts import Chart, bar_charts, roofline_chart, slug, write_pngs  # noqa: F401 (write_pngs re-exported)
from .fmt import fmt_iqr, fmt_mib, fmt_ms, fmt_number, fmt_pct, fmt_rate
from .metrics import DerivedRow, derive
from .peaks import NO_PEAK, PeakTable, peak_for
from .references import Reference, references_for
from .summary import DeviceSummary, Headline, summarize

__all__ = ["render_html", "write_pngs"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1200px;
       color: #222; padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .86em; }
th, td { border: 1px solid #ddd; padding: .25em .55em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { color: #a00; } tr.skip td { color: #777; }
pre { background: #f6f6f6; padding: .6em; white-space: pre-wrap; overflow-wrap: anywhere; }
td.num { white-space: nowrap; } td pre { margin: 0; max-width: 70em; }
.scroll { max-width: 100%; overflow-x: auto; }
.warn { background: #fff3cd; border: 1px solid #e0c36c; padding: .6em; }
.noisy { color: #b36b00; font-weight: bold; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; } figcaption { font-size: .85em; color: #555; }
.note { font-size: .85em; color: #555; }
table.summary { font-size: .95em; } table.summary td { min-width: 7em; }
.big { font-size: 1.25em; font-weight: 600; font-variant-numeric: tabular-nums; }
.sub { display: block; font-size: .8em; color: #555; }
ul.refs { font-size: .85em; color: #444; padding-left: 1.2em; } ul.refs li { margin: .15em 0; }
details { margin: .8em 0; border: 1px solid #e3e3e3; border-radius: 4px; padding: .2em .8em; }
details > summary { cursor: pointer; } details > summary h2 { display: inline; border: 0; font-size: 1.15em; }
"""


def _kv_table(data: dict[str, Any]) -> str:
    if not data:
        return "<p class=note>(none recorded)</p>"
    cells = []
    for key, value in data.items():
        if isinstance(value, (dict, list)) and value:
            # nested facts (the device plans) as indented JSON that wraps, not one long line
            cell = "<pre>" + escape(json.dumps(value, indent=1, default=str)) + "</pre>"
        else:
            cell = escape(value if isinstance(value, str) else json.dumps(value, default=str))
        cells.append(f"<tr><th>{escape(str(key))}</th><td>{cell}</td></tr>")
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


def _results_table(rows: Iterable[DerivedRow], show_device: bool = True) -> str:
    """One row per measurement; the device column only where the report has more than one device."""
    head = (
        ("<tr><th>device</th>" if show_device else "<tr>") + "<th>op</th><th>dtype</th><th>shape</th><th>variant</th><th>status</th>"
        "<th>median</th><th>IQR</th><th>p95</th><th>n</th><th>rate</th><th>% peak</th><th>% measured</th>"
        "<th>peak mem</th><th>host RSS</th><th>note</th></tr>"
    )
    body = []
    for r in rows:
        ok = r.status == "ok"
        note = r.reason if not ok else (r.peak_note or (f"{r.bound}-bound" if r.bound else ""))
        noisy = ' <span class="noisy" title="IQR/median above 10%">noisy</span>' if r.noisy else ""
        cells = ([escape(r.device)] if show_device else []) + [
            escape(r.op), escape(r.dtype), escape(r.shape), escape(r.variant), escape(r.status),
        ]
        nums = [fmt_ms(r.median_ms), fmt_iqr(r) + noisy if ok else "-", fmt_ms(r.p95_ms), str(r.n or "-")]
        nums += [fmt_rate(r), fmt_pct(r.pct_peak), fmt_pct(r.pct_measured), fmt_mib(r.peak_memory_mib)]
        nums.append(fmt_mib(r.host_rss_mib))
        tds = "".join(f"<td>{c}</td>" for c in cells)
        tds += "".join(f'<td class="num">{n}</td>' for n in nums)
        tds += f"<td>{escape(note or '')}</td>"
        body.append(f"<tr{_row_class(r)}>{tds}</tr>")
    return "<table>" + head + "".join(body) + "</table>"


def _device_section(report: BenchReport, table: PeakTable | None) -> str:
    parts = []
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


def _headline_cell(h: Headline) -> str:
    pct = f"{h.pct_peak:.0f}% of peak · " if h.pct_peak is not None else ""
    return (f'<span class="big">{escape(fmt_number(h.value))}</span> {escape(h.unit)}'
            f'<span class="sub">{escape(pct + h.detail)}</span>')


def _summary_section(summaries: list[DeviceSummary], refs: tuple[Reference, ...] | None) -> str:
    """One row per device, one column per headline label (in first-seen order), then the reference points
    of every metric shown, each with its source."""
    labels = list(dict.fromkeys(h.label for s in summaries for h in s.headlines))
    parts = ["<h2 id=summary>Summary</h2>"]
    if not labels and not any(s.error for s in summaries):
        return "".join(parts) + "<p class=note>Nothing was measured successfully.</p>"
    head = "<tr><th>device</th>" + "".join(f"<th>{escape(label)}</th>" for label in labels) + "</tr>"
    body = []
    for s in summaries:
        cells = {h.label: h for h in s.headlines}
        status = ""
        if s.error:
            status = f'<span class="sub" style="color:#a00">run failed: {escape(s.error)}</span>'
        elif s.failed:
            status = f'<span class="sub" style="color:#a00">{s.failed} op(s) failed</span>'
        tds = "".join(f"<td>{_headline_cell(cells[label])}</td>" if label in cells else "<td>-</td>" for label in labels)
        body.append(f"<tr><th>{escape(s.device)}{status}</th>{tds}</tr>")
    parts.append('<div class="scroll"><table class="summary">' + head + "".join(body) + "</table></div>")
    shown: dict[tuple[str, str | None], str] = {}
    for s in summaries:
        for h in s.headlines:
            shown.setdefault((h.metric, h.dtype), f"{h.label} ({h.unit})")
    items = []
    for (metric, dtype), title in shown.items():
        found = references_for(metric, dtype, refs)
        if not found:
            continue
        points = "; ".join(
            f'{escape(r.device)} <b>{escape(r.text)}</b>'
            + (f' [<a href="{escape(r.url)}" title="{escape(r.measured)}">{escape(r.source)}</a>]' if r.url
               else f' [<span title="{escape(r.measured)}">{escape(r.source)}</span>]')
            for r in found
        )
        items.append(f"<li><b>{escape(title)}</b> elsewhere: {points}</li>")
    if items:
        parts.append(
            "<p class=note>Public reference points, for orientation only: other software, settings and clocks "
            "(hover a source for exactly what was measured; all of them are in data/reference_numbers.toml).</p>"
            f'<ul class="refs">{"".join(items)}</ul>'
        )
    return "".join(parts)


def _folded(title: str, body: str, anchor: str) -> str:
    return f'<details id="{anchor}"><summary><h2>{escape(title)}</h2></summary>{body}</details>'


def render_html(
    report: BenchReport, table: PeakTable | None = None, references: tuple[Reference, ...] | None = None
) -> str:
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
        f"<p class=note>{escape(str(report.config.get('suite') or 'custom'))} suite, created "
        f"{escape(report.created)} on {escape(devices or 'no device')}.</p>",
    ]
    if not report.complete:
        parts.append('<p class="warn">Incomplete run: this file holds what was measured before the run stopped.</p>')
    parts.append(_summary_section(summarize(report, table), references))
    if charts:
        parts.append(
            "<h2 id=charts>Charts</h2><p class=note>One chart per workload, a panel per unit; within a panel the "
            "devices stand side by side for every op, dtype and shape. Panels whose values span more than 50x "
            "use a log scale.</p>"
        )
        parts.extend(_img(c) for c in charts)
    parts.append(
        "<h2>Results</h2><p class=note>Times are medians of the timed repetitions; IQR is relative to the "
        "median and marked <span class=noisy>noisy</span> above 10%. <b>% peak</b> compares the rate with the "
        "datasheet roof the op is nearer to (compute for flop-bound ops, DRAM bandwidth for byte-bound ones, "
        "i.e. achieved / min(peak, intensity x bandwidth)); <b>% measured</b> does the same against this "
        "suite's own best matmul (same dtype) and best device-to-device copy on the same device. <b>peak mem</b> "
        "is the device's allocator peak during the op; <b>host RSS</b> the worker's largest resident memory "
        "sampled while the op ran.</p>"
    )
    for workload in dict.fromkeys(r.workload for r in rows):
        wrows = [r for r in rows if r.workload == workload]
        parts.append(f"<h3 id=\"workload-{escape(slug(workload))}\">{escape(workload)}</h3>")
        parts.append('<div class="scroll">' + _results_table(wrows, len(report.runs) > 1) + "</div>")
    if rooflines:
        parts.append(
            "<h2>Rooflines</h2><p class=note>Each point is one op (achieved TFLOP/s at its flop/byte). Solid "
            "lines: datasheet roofs; dashed: the roofs this suite measured (best d2d copy, best matmul).</p>"
        )
        parts.extend(_img(c) for c in rooflines)
    parts.append(_folded("Command", "<pre>" + escape(shlex.join(report.command)) + "</pre>", "command"))
    parts.append(_folded("Configuration", _kv_table(report.config), "configuration"))
    parts.append(_folded("System", _kv_table(report.system), "system"))
    parts.append(_folded("Devices", _device_section(report, table), "devices"))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
