from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ipex_integration.bench.model import SCHEMA_VERSION
from ipex_integration.bench.report.metrics import COLUMNS
from ipex_integration.bench.report.writer import ResultsWriter, load_report, write_reports
from ipex_integration.errors import IpexError, UsageError

from .reports import cpu_run, make_report


def test_json_round_trip(tmp_path):
    report = make_report()
    path = ResultsWriter(tmp_path / "out" / "results.json").save(report)
    loaded = load_report(path)
    assert loaded.to_dict() == report.to_dict()
    assert loaded.runs[0].measurements[0].samples_s == report.runs[0].measurements[0].samples_s
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION and data["complete"] is True


def test_non_finite_numbers_become_null(tmp_path):
    report = make_report()
    report.runs[0].measurements[0].check_error = math.inf
    report.runs[0].measurements[1].extra["ratio"] = math.nan
    path = ResultsWriter(tmp_path / "r.json").save(report)
    text = path.read_text()
    assert "Infinity" not in text and "NaN" not in text
    loaded = load_report(path)
    assert loaded.runs[0].measurements[0].check_error is None
    assert loaded.runs[0].measurements[1].extra["ratio"] is None


def test_interrupted_save_keeps_previous_snapshot(tmp_path, monkeypatch):
    """Ctrl-C lands between the temp file's write and the rename: the old snapshot survives intact."""
    path = tmp_path / "results.json"
    writer = ResultsWriter(path)
    first = make_report(complete=False)
    first.runs[0].measurements = first.runs[0].measurements[:1]
    writer.save(first)

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        writer.save(make_report())
    monkeypatch.undo()
    loaded = load_report(path)
    assert loaded.complete is False and len(loaded.runs[0].measurements) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # the temp file was removed


_CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    from ipex_integration.bench.model import BenchReport, Measurement
    from ipex_integration.bench.report.writer import ResultsWriter
    report = BenchReport.from_dict(json.load(open(sys.argv[1])))
    stall_in_fsync = sys.argv[3] == "mid-write"
    template = report.runs[0].measurements[0].to_dict()
    template["samples_s"] = [1e-3 + i * 1e-9 for i in range(20000)]  # big: each save takes a while
    report.runs[0].measurements = []
    writer = ResultsWriter(sys.argv[2])
    real_fsync = os.fsync
    def slow_fsync(fd):
        # Stands in for a slow disk: the new snapshot is in the temp file but not yet renamed.
        print("fsync", flush=True)
        time.sleep(30)
        real_fsync(fd)
    for i in range(10000):
        m = Measurement.from_dict(template)
        report.runs[0].measurements.append(m)
        writer.save(report)
        print(i, flush=True)
        if stall_in_fsync:
            os.fsync = slow_fsync
    """
)


@pytest.mark.parametrize(("mode", "delay_s"), [("mid-write", 0.0), ("random", 0.0), ("random", 0.07), ("random", 0.19)])
def test_killed_writer_leaves_a_valid_file(tmp_path, mode, delay_s):
    """A real process saving after every measurement is SIGKILLed (in the middle of appending the next
    measurement to the journal, or at some point): the results file still loads, with what was saved before."""
    template = tmp_path / "template.json"
    ResultsWriter(template).save(make_report(complete=False))
    target = tmp_path / "results.json"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(template), str(target), mode], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "0"  # first snapshot is on disk
        if mode == "mid-write":
            assert child.stdout.readline().strip() == "fsync"  # second snapshot half-way to disk
        time.sleep(delay_s)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
        child.stdout.close()
    loaded = load_report(target)
    assert loaded.complete is False
    assert len(loaded.runs[0].measurements) >= 1
    assert len(loaded.runs[0].measurements[-1].samples_s) == 20000
    if mode == "mid-write":
        assert len(loaded.runs[0].measurements) == 1
        # the second save appends to the journal (results.json holds the first snapshot only)
        assert (tmp_path / "results.jsonl").exists(), "the kill should have landed in the journal's fsync"


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="results file not found: .*nope.json"):
        load_report(tmp_path / "nope.json")


def test_directory(tmp_path):
    with pytest.raises(UsageError, match="is a directory"):
        load_report(tmp_path)


def test_truncated_file_names_the_line(tmp_path):
    path = ResultsWriter(tmp_path / "r.json").save(make_report())
    text = path.read_text()
    cut = text[: len(text) // 2]
    path.write_text(cut)
    with pytest.raises(UsageError) as exc:
        load_report(path)
    assert "is not valid JSON: line " in exc.value.message
    assert f"line {cut.count(chr(10)) + 1}" in exc.value.message
    assert exc.value.hint


def test_binary_garbage(tmp_path):
    path = tmp_path / "r.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_report(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"schema": "someone-else/results", "schema_version": 1}, "not an ipex-benchmark results file"),
        ([1, 2, 3], "not an ipex-benchmark results file"),
        ({"schema": "ipex-integration/benchmark", "schema_version": 99, "created": "x"}, "schema version 99"),
    ],
)
def test_other_schemas_are_refused(tmp_path, data, message):
    path = tmp_path / "other.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match=message) as exc:
        load_report(path)
    assert str(path) in exc.value.message


def test_schema_version_hint(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"schema": "ipex-integration/benchmark", "schema_version": 0}))
    with pytest.raises(UsageError) as exc:
        load_report(path)
    assert f"v{SCHEMA_VERSION}" in exc.value.hint


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("created"), "missing field 'created'"),
        (lambda d: d["runs"][0]["measurements"][0].update(status="fast"), "malformed results file: 'fast'"),
        (lambda d: d["runs"][0].update(measurements=[{"spec": 3}]), "malformed results file"),
    ],
)
def test_malformed_content(tmp_path, mutate, message):
    data = make_report().to_dict()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match=message):
        load_report(path)


def test_write_reports_all_formats(tmp_path):
    report = make_report()
    paths = write_reports(report, tmp_path / "out", ["json", "csv"], stem="h100")
    assert sorted(paths) == ["csv", "json"]
    assert paths["json"].name == "h100.json" and load_report(paths["json"]).to_dict() == report.to_dict()
    with open(paths["csv"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == sum(len(run.measurements) for run in report.runs)
    bf16 = next(r for r in rows if r["key"] == "tensor/matmul/bf16/8192x8192x8192")
    assert float(bf16["tflops"]) == pytest.approx(753.1, abs=0.05)
    assert float(bf16["pct_peak"]) == pytest.approx(76.1, abs=0.05)
    assert bf16["device"] == "cuda: NVIDIA H100 80GB HBM3" and bf16["bound"] == "compute"
    failed = next(r for r in rows if r["status"] == "failed")
    assert failed["tflops"] == "" and "rel err" in failed["reason"]


def test_write_reports_html_and_bad_format(tmp_path):
    small = make_report(cpu_run())
    paths = write_reports(small, tmp_path, ["html"])
    assert list(paths) == ["html"] and [p.name for p in tmp_path.iterdir()] == ["results.html"]
    page = paths["html"].read_text()
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    with pytest.raises(UsageError, match="unknown report format pdf; choose from: json, csv, html"):
        write_reports(make_report(), tmp_path, ["json", "pdf"])


def test_csv_needs_no_pandas(tmp_path, monkeypatch):
    """Issue 14: the CSV is the standard library's csv module; pandas is no dependency any more."""
    monkeypatch.setitem(sys.modules, "pandas", None)
    path = write_reports(make_report(), tmp_path, ["csv"])["csv"]
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 14 and rows[0]["op"] == "matmul" and rows[0]["reason"] == ""


@pytest.mark.parametrize(("module", "fmt"), [("matplotlib", "html")])
def test_missing_optional_dependency_is_a_clear_error(tmp_path, monkeypatch, module, fmt):
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(IpexError, match=f"needs? {module}, which is not installed") as exc:
        write_reports(make_report(), tmp_path, [fmt])
    assert "ipex-integration[bench]" in exc.value.hint
    assert not (tmp_path / f"results.{fmt}").exists()
