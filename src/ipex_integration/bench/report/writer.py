"""Results files: the JSON (saved atomically after every measurement), reading it back with clear errors,
and the CSV/HTML siblings written at the end of a run.

An earlier run's results are never replaced unless asked (`--force`): a new run into a folder that already
has `results.json` writes `results-2.json` (then -3, ...) beside it, with its CSV/HTML/PNGs named alike. A
re-run of the quick start just works and keeps both, and a full disk can only cost the new file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

from ... import state
from ...errors import ConfigError, UsageError
from ..model import SCHEMA_VERSION, BenchReport

FORMATS = ("json", "csv", "html")


def _finite(value: Any) -> Any:
    """NaN/inf become null: strict JSON has no such numbers, and jq or a browser would reject the file."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps_report(report: BenchReport) -> str:
    return json.dumps(_finite(report.to_dict()), indent=1, allow_nan=False, default=str) + "\n"


class ResultsWriter:
    """Keeps one results file up to date. Each save replaces the whole file atomically (temp + rename),
    so a run stopped at any point leaves the last complete snapshot: valid JSON, `complete` false until
    the final save.

    With replace=False the first save claims a free name (`results.json`, else `results-2.json`, ...) and
    `path` becomes that name; an existing file is never touched, even by two runs starting at once."""

    def __init__(self, path: str | Path, *, replace: bool = True) -> None:
        self.path = Path(path)
        self._claimed = replace

    def save(self, report: BenchReport) -> Path:
        if not self._claimed:
            self.path = state.write_new_text(self.path, dumps_report(report), what="results file")
            self._claimed = True
            return self.path
        return state.write_text(self.path, dumps_report(report), what="results file")

    @property
    def stem(self) -> str:
        return self.path.stem


def load_report(path: str | Path) -> BenchReport:
    """Read a results file; every way it can be wrong is a one-line UsageError naming the file."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"results file not found: {p}")
    try:
        data = state.read_json(
            p, what="results file",
            fix="ipex-benchmark writes its results atomically; this file was cut short or edited by hand",
            expect=None,  # BenchReport.from_dict says what a results file is
        )
    except ConfigError as exc:
        raise UsageError(exc.message, hint=exc.hint) from None
    try:
        return BenchReport.from_dict(data)
    except UsageError as exc:
        hint = exc.hint
        if "schema version" in exc.message:
            hint = hint or (
                f"use the ipex-benchmark release that wrote it, or re-run (this one writes v{SCHEMA_VERSION})"
            )
        raise UsageError(f"{p}: {exc.message}", hint=hint) from None
    except KeyError as exc:
        raise UsageError(f"{p}: malformed results file: missing field {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"{p}: malformed results file: {exc}") from None


def write_json(report: BenchReport, path: str | Path) -> Path:
    return ResultsWriter(path).save(report)


def _write_new_json(report: BenchReport, path: str | Path) -> Path:
    return ResultsWriter(path, replace=False).save(report)


def csv_text(report: BenchReport) -> str:
    """The derived rows as CSV (standard library csv): a header of DerivedRow's fields, one line per
    measurement; None is an empty cell."""
    import csv
    import io

    from .metrics import COLUMNS, derive

    buf = io.StringIO()
    out = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    out.writeheader()
    for row in derive(report):
        out.writerow({k: ("" if v is None else v) for k, v in row.to_dict().items()})
    return buf.getvalue()


def write_csv(report: BenchReport, path: str | Path) -> Path:
    return state.write_text(path, csv_text(report), what="CSV report")


def write_html(report: BenchReport, path: str | Path) -> Path:
    from .html import render_html

    return state.write_text(path, render_html(report), what="HTML report")


def check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise UsageError(f"unknown report format {', '.join(unknown)}; choose from: {', '.join(FORMATS)}")
    return chosen


def write_reports(
    report: BenchReport,
    out_dir: str | Path,
    formats: Iterable[str] = FORMATS,
    *,
    stem: str = "results",
    replace: bool = True,
) -> dict[str, Path]:
    """Write `<stem>.json/.csv/.html` into out_dir; returns {format: path}. With replace=False an existing
    `<stem>.json` is kept and this report gets the next free number (`<stem>-2.*`), all formats alike."""
    chosen = check_formats(formats)
    out = Path(out_dir)
    written: dict[str, Path] = {}
    if not replace and "json" in chosen:
        written["json"] = _write_new_json(report, out / f"{stem}.json")
        stem = written["json"].stem
    writers = {"json": write_json, "csv": write_csv, "html": write_html}
    for fmt in chosen:
        if fmt not in written:
            written[fmt] = writers[fmt](report, out / f"{stem}.{fmt}")
    return {fmt: written[fmt] for fmt in chosen}
