"""Results files: the JSON (saved atomically after every measurement), reading it back with clear errors,
and the CSV/HTML siblings written at the end of a run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

from ...atomic import atomic_write_text
from ...errors import UsageError
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
    the final save."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def save(self, report: BenchReport) -> Path:
        return atomic_write_text(self.path, dumps_report(report))


def load_report(path: str | Path) -> BenchReport:
    """Read a results file; every way it can be wrong is a one-line UsageError naming the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"results file not found: {p}") from None
    except IsADirectoryError:
        raise UsageError(f"{p} is a directory, not a results file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{p} is not valid JSON: it is not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"cannot read {p}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{p} is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}",
            hint="ipex-benchmark writes its results atomically; this file was cut short or edited by hand",
        ) from None
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
    return atomic_write_text(path, csv_text(report))


def write_html(report: BenchReport, path: str | Path) -> Path:
    from .html import render_html

    return atomic_write_text(path, render_html(report))


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
) -> dict[str, Path]:
    """Write `<stem>.json/.csv/.html` into out_dir; returns {format: path}."""
    chosen = check_formats(formats)
    out = Path(out_dir)
    writers = {"json": write_json, "csv": write_csv, "html": write_html}
    return {fmt: writers[fmt](report, out / f"{stem}.{fmt}") for fmt in chosen}
