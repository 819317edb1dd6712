"""The terminal side of a run: a rich table of results per device, and a progress bar with ETA that the
runner drives (`start(spec)` before each measurement, `finish(measurement)` after)."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ..model import BenchReport, BenchSpec, Measurement, Status
from .fmt import fmt_iqr, fmt_mib, fmt_ms, fmt_number, fmt_pct, fmt_rate
from .metrics import derive_run, measurement_rate
from .peaks import NO_PEAK, PeakTable, peak_for

NOISY_MARK = "~"  # shown beside the IQR of a noisy measurement (IQR/median > 10%)
_STATUS_STYLE = {"failed": "bold red", "oom": "red", "skipped": "dim"}


def _device_table(run, table: PeakTable | None) -> tuple[Table, list[Text]]:
    """The device's table, plus one line per failed/skipped op giving its reason (kept out of the table
    so a long message doesn't squeeze the numbers)."""
    peak = peak_for(run.device_name, table)
    rows = derive_run(run, table)
    order = list(dict.fromkeys(r.workload for r in rows))
    rows.sort(key=lambda r: order.index(r.workload))  # stable: one section per workload
    caption = f"peaks: {peak.name}" if peak else f"peaks: {NO_PEAK}"
    # Every cell is a Text: names and shapes may hold "[...]", which rich would take for markup.
    t = Table(title=Text(run.label), caption=Text(caption), title_justify="left", caption_justify="left")
    # Narrow terminals: numbers never wrap, the shape folds; columns with nothing to say are left out.
    t.add_column("op", no_wrap=True)
    t.add_column("dtype", no_wrap=True)
    t.add_column("shape", overflow="fold", min_width=9)
    t.add_column("median", justify="right", no_wrap=True)
    t.add_column("IQR", justify="right", no_wrap=True)
    t.add_column("rate", justify="right", no_wrap=True)
    show_peak = peak is not None
    show_mem = any(r.peak_memory_mib for r in rows)
    if show_peak:
        t.add_column("%peak", justify="right", no_wrap=True)
    t.add_column("%meas", justify="right", no_wrap=True)
    if show_mem:
        t.add_column("mem", justify="right", no_wrap=True)
    reasons: list[Text] = []
    workload = None
    for row in rows:
        if row.workload != workload:
            if workload is not None:
                t.add_section()
            workload = row.workload
            t.add_row(Text(workload, style="bold cyan"))
        op, dtype = Text(f" {row.op}"), Text(row.dtype)
        shape = Text(f"{row.shape} [{row.variant}]" if row.variant else row.shape)
        if row.status != "ok":
            style = _STATUS_STYLE.get(row.status, "")
            t.add_row(op, dtype, shape, Text(row.status, style=style))
            reasons.append(Text(f"{row.status}: {row.key}: {row.reason or 'no reason given'}", style=style))
            continue
        iqr = fmt_iqr(row) + (f" {NOISY_MARK}" if row.noisy else "")
        cells: list[Any] = [op, dtype, shape, Text(fmt_ms(row.median_ms)),
                            Text(iqr, style="yellow" if row.noisy else ""), Text(fmt_rate(row))]
        if show_peak:
            cells.append(Text(fmt_pct(row.pct_peak)))
        cells.append(Text(fmt_pct(row.pct_measured)))
        if show_mem:
            cells.append(Text(fmt_mib(row.peak_memory_mib)))
        t.add_row(*cells)
    return t, reasons


def render_table(report: BenchReport, table: PeakTable | None = None) -> RenderableType:
    """One table per device: op, dtype, shape, median, IQR, rate, % of datasheet peak, % of measured."""
    parts: list[RenderableType] = []
    if not report.complete:
        parts.append(Text("incomplete run: results measured before it stopped", style="yellow"))
    for run in report.runs:
        if run.error:
            parts.append(Text(f"{run.label}: run failed: {run.error}", style="bold red"))
        device_table, reasons = _device_table(run, table)
        parts.append(device_table)
        parts.extend(reasons)
    if any(m.stats and m.stats.noisy for run in report.runs for m in run.measurements):
        parts.append(Text(f"{NOISY_MARK} noisy: IQR above 10% of the median", style="yellow"))
    return Group(*parts)


def _measurement_line(m: Measurement) -> Text:
    key = m.spec.key
    if m.status is not Status.OK or m.stats is None:
        style = _STATUS_STYLE.get(m.status.value, "")
        return Text(f"  {m.status.value:7} {key}: {m.reason or ''}", style=style)
    headline = measurement_rate(m)
    rate = f"{fmt_number(headline[0])} {headline[1]}" if headline else ""
    noisy = f" {NOISY_MARK}noisy" if m.stats.noisy else ""
    return Text(f"  ok      {key}: {fmt_ms(m.stats.median_s * 1e3)} {rate}{noisy}")


class BenchProgress:
    """A progress bar with elapsed time and ETA over all specs of a run (all devices together).

    with BenchProgress(total, console) as progress:
        progress.start(spec, device="cuda: NVIDIA H100")
        ...
        progress.finish(measurement)   # advances, prints one line per result when show_results
    """

    def __init__(self, total_specs: int, console: Console | None = None, *, show_results: bool = True) -> None:
        self.total = total_specs
        self.done = 0
        self.show_results = show_results
        self.counts: dict[str, int] = {}
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: Any = None

    @property
    def console(self) -> Console:
        return self._progress.console

    def __enter__(self) -> "BenchProgress":
        self._progress.start()
        self._task = self._progress.add_task("starting", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, spec: BenchSpec, device: str | None = None) -> None:
        where = f"{device}: " if device else ""
        self._progress.update(self._task, description=f"{where}{spec.key}")

    def finish(self, measurement: Measurement) -> None:
        self.done += 1
        status = measurement.status.value
        self.counts[status] = self.counts.get(status, 0) + 1
        if self.show_results:
            self._progress.console.print(_measurement_line(measurement))
        self._progress.advance(self._task)
        if self.done >= self.total:
            self._progress.update(self._task, description="done")

    def note(self, text: str, style: str = "") -> None:
        """A line above the bar (a device that failed to start, a skipped workload...)."""
        self._progress.console.print(Text(text, style=style))
