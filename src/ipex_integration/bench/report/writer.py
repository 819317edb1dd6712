"""Results files: the JSON (a snapshot plus an append-only journal while the run goes on, the whole report
at the end), reading it back with clear errors, and the CSV/HTML siblings written at the end of a run.

An earlier run's results are never replaced unless asked (`--force`): a new run into a folder that already
has `results.json` writes `results-2.json` (then -3, ...) beside it, with its CSV/HTML/PNGs named alike. A
re-run of the quick start just works and keeps both, and a full disk can only cost the new file.
"""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any, Iterable

from ... import state
from ...errors import ConfigError, UsageError
from ..model import SCHEMA_VERSION, BenchReport, DeviceRun

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


JOURNAL_SUFFIX = ".jsonl"


def journal_path(results: str | Path) -> Path:
    """The journal beside a results file: `results-2.json` -> `results-2.jsonl`."""
    return Path(results).with_suffix(JOURNAL_SUFFIX)


def _compact(value: Any) -> str:
    return json.dumps(_finite(value), separators=(",", ":"), allow_nan=False, default=str)


def _header(report: BenchReport) -> dict[str, Any]:
    return {"created": report.created, "command": list(report.command), "config": report.config,
            "system": report.system}


def _run_meta(run: DeviceRun) -> dict[str, Any]:
    """A device run's facts without its measurements (those are journalled one by one)."""
    return {"backend": run.backend, "device_name": run.device_name, "device": dict(run.device),
            "software": dict(run.software), "error": run.error}


class ResultsWriter:
    """Keeps one results file up to date at a cost per save that does not grow with the run.

    While the run goes on, `results.json` is a snapshot with `complete` false and the id of its journal,
    `results.jsonl` beside it: each later save appends only what is new (a device run's facts when they change, each new
    measurement) as one fsync'd line. `load_report` rebuilds the report from both, so a run stopped at any
    point reads back with everything saved before. The final save (`complete` true) writes the whole report
    into `results.json` atomically and deletes the journal. A change that is not an append (a device run
    dropped, measurements taken away, a new command or config) writes a new snapshot, which records how much
    of the journal it already holds.

    With replace=False the first save claims a free name (`results.json`, else `results-2.json`, ...) and
    `path` becomes that name; an existing file is never touched, even by two runs starting at once."""

    def __init__(self, path: str | Path, *, replace: bool = True) -> None:
        self.path = Path(path)
        self._claimed = replace
        self._log: state.AppendLog | None = None
        self._journal_id = uuid.uuid4().hex  # ties the snapshot to its journal, not to a stale file of that name
        self._seq = 0  # journal lines written
        self._header: dict[str, Any] | None = None  # of the last snapshot
        self._seen: list[tuple[dict[str, Any], int]] = []  # per device run: its facts, measurements saved

    def save(self, report: BenchReport) -> Path:
        if report.complete:
            path = self._write(dumps_report(report))
            if self._log is not None:
                self._log.remove()
                self._log = None
            self._header, self._seen = None, []
            return path
        if self._header is not None and self._appendable(report):
            self._append(report)
            return self.path
        return self._snapshot(report)

    def _write(self, text: str) -> Path:
        if not self._claimed:
            self.path = state.write_new_text(self.path, text, what="results file")
            self._claimed = True
            return self.path
        return state.write_text(self.path, text, what="results file")

    def _snapshot(self, report: BenchReport) -> Path:
        data = _finite(report.to_dict())
        # The journal is the file of the same stem (found from the name the snapshot ends up with); the id keeps
        # a stale journal of that name, left by another run, out.
        data["journal"] = {"id": self._journal_id, "seq": self._seq}
        path = self._write(json.dumps(data, indent=1, allow_nan=False, default=str) + "\n")
        self._header = _header(report)
        self._seen = [(_run_meta(r), len(r.measurements)) for r in report.runs]
        return path

    def _appendable(self, report: BenchReport) -> bool:
        if _header(report) != self._header or len(report.runs) < len(self._seen):
            return False
        return all(len(run.measurements) >= saved for run, (_, saved) in zip(report.runs, self._seen))

    def _append(self, report: BenchReport) -> None:
        if self._log is None:
            self._log = state.AppendLog(journal_path(self.path), what="results journal")
            self._log.append(_compact({"journal": self._journal_id}))
        for slot, run in enumerate(report.runs):
            meta, saved = self._seen[slot] if slot < len(self._seen) else (None, 0)
            now = _run_meta(run)
            if now != meta:
                self._line({"slot": slot, "run": now})
            for measurement in run.measurements[saved:]:
                self._line({"slot": slot, "measurement": measurement.to_dict()})
            entry = (now, len(run.measurements))
            if slot < len(self._seen):
                self._seen[slot] = entry
            else:
                self._seen.append(entry)

    def _line(self, entry: dict[str, Any]) -> None:
        assert self._log is not None
        self._log.append(_compact({"seq": self._seq + 1, **entry}))
        self._seq += 1

    @property
    def stem(self) -> str:
        return self.path.stem


def _replay(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """An interrupted run's snapshot with its journal's lines applied (those the snapshot does not hold)."""
    journal = data.pop("journal", None)
    if data.get("complete") is not False or not isinstance(journal, dict):
        return data
    jpath = journal_path(path)
    try:
        lines = state.read_jsonl(jpath, what="results journal", default=[],
                                 fix=f"delete {jpath} to read what {path.name} holds without it")
    except ConfigError as exc:
        raise UsageError(exc.message, hint=exc.hint) from None
    if not lines or not isinstance(lines[0], dict) or lines[0].get("journal") != journal.get("id"):
        return data  # none yet, or another run's journal under this name
    runs = data.setdefault("runs", [])
    done = journal.get("seq") or 0
    for number, line in enumerate(lines[1:], 2):
        if not isinstance(line, dict) or not isinstance(line.get("slot"), int) or not isinstance(line.get("seq"), int):
            raise UsageError(f"{jpath}: line {number} is not a journal entry of ipex-benchmark")
        if line["seq"] <= done:
            continue
        slot = line["slot"]
        if not 0 <= slot <= len(runs):
            raise UsageError(f"{jpath}: line {number} names device run {slot} of {len(runs)}")
        if "run" in line:
            kept = runs[slot]["measurements"] if slot < len(runs) else []
            entry = {**line["run"], "measurements": kept}
            if slot < len(runs):
                runs[slot] = entry
            else:
                runs.append(entry)
        elif slot < len(runs):
            runs[slot].setdefault("measurements", []).append(line.get("measurement"))
        else:
            raise UsageError(f"{jpath}: line {number} is a measurement of a device run not started")
    return data


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
        if isinstance(data, dict):
            data = _replay(p, data)
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
