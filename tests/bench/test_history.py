"""The benchmark history with real SQLite files: schema, filters, round trips, concurrent writers, the CLI."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ipex_integration.bench.history import SCHEMA_VERSION, History, default_path, load_run, record_run
from ipex_integration.bench.report.trend import sparkline
from ipex_integration.cli.benchmark import main as bench_main
from ipex_integration.errors import ConfigError, UsageError

from .report.reports import cpu_run, h100_run, make_report, matmul

ROOT = Path(__file__).resolve().parents[2]


def _report(created: str, *runs, complete: bool = True):
    report = make_report(*runs, complete=complete)
    report.created = created
    return report


def test_schema_is_versioned_and_migrated_once(tmp_path):
    db = tmp_path / "h.sqlite3"
    with History(db) as h:
        assert h.schema_migrations()[-1][0] == SCHEMA_VERSION
    with History(db) as h:  # reopening migrates nothing again
        assert len(h.schema_migrations()) == SCHEMA_VERSION
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(ConfigError, match="schema version"):
        History(db)


def test_not_a_database_is_one_clear_error(tmp_path):
    db = tmp_path / "h.sqlite3"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="cannot be used"):
        History(db)


def test_record_list_filter_and_load(tmp_path):
    db = tmp_path / "h.sqlite3"
    with History(db) as h:
        first = h.record(_report("2026-05-01T12:00:00Z", h100_run(), cpu_run()), results_path="/r/1/results.json")
        second = h.record(_report("2026-05-03T08:00:00Z", cpu_run(), complete=False))
        assert second > first
        runs = h.runs()
        assert [r.id for r in runs] == [second, first]  # newest first
        assert runs[1].devices[0].label == "cuda: NVIDIA H100 80GB HBM3"
        assert runs[1].devices[0].torch_version == "2.11.0+cu128"
        assert runs[1].failed == 1 and runs[1].measurements == 14
        assert runs[0].complete is False and runs[1].results_path == "/r/1/results.json"
        assert [r.id for r in h.runs(device="cuda")] == [first]
        assert [r.id for r in h.runs(device="h100")] == [first]
        assert [r.id for r in h.runs(op="sd15_pipeline")] == [first]
        assert [r.id for r in h.runs(since="2026-05-02")] == [second]
        assert [r.id for r in h.runs(until="2026-05-01")] == [first]
        assert h.runs(since="2026-06-01") == []
        with pytest.raises(UsageError, match="not a date"):
            h.runs(since="yesterday")
        back = h.load_run(first)
        assert [r.label for r in back.runs] == [r.label for r in make_report().runs]
        assert back.runs[0].measurements[0].tflops == pytest.approx(753.1, rel=1e-3)
        with pytest.raises(UsageError, match="no run 999"):
            h.load_run(999)


def test_trend_orders_runs_and_keeps_series_apart(tmp_path):
    db = tmp_path / "h.sqlite3"
    for day, median in (("03", 2.0e-2), ("01", 2.1e-2), ("02", 1.9e-2)):
        run = cpu_run()
        run.measurements[0] = matmul("fp32", 1024, median, 4)
        record_run(_report(f"2026-05-{day}T00:00:00Z", run), path=db)
    with History(db) as h:
        points = h.trend("matmul", device="cpu")
        assert [p.created[:10] for p in points] == ["2026-05-01", "2026-05-02", "2026-05-03"]
        assert points[0].unit == "TFLOP/s" and points[1].rate > points[0].rate
        assert h.trend("matmul", device="cuda") == []
    assert sparkline([1.0, 2.0, 3.0]) == "▁▅█" and sparkline([5.0, 5.0]) == "▅▅"


# A writer process: records `n` runs into the same file as fast as it can.
_WRITER = """
import sys
from ipex_integration.bench.history import record_run
sys.path.insert(0, sys.argv[3])
from tests.bench.report.reports import make_report, cpu_run
for i in range(int(sys.argv[2])):
    r = make_report(cpu_run())
    r.created = f"2026-05-01T00:00:{i:02d}Z"
    record_run(r, path=sys.argv[1])
"""


def test_concurrent_writer_processes_lose_nothing(tmp_path):
    db = tmp_path / "h.sqlite3"
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(db), "15", str(ROOT)], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    with History(db) as h:
        runs = h.runs()
        assert len(runs) == 60
        assert all(r.measurements == 3 for r in runs)
        assert len(h.schema_migrations()) == SCHEMA_VERSION  # four first-openers, one migration


def test_cli_history_lists_filters_plots(tmp_path, capsys):
    record_run(_report("2026-05-01T12:00:00Z", h100_run(), cpu_run()))
    record_run(_report("2026-05-02T12:00:00Z", cpu_run()))
    assert default_path().exists()
    assert bench_main(["history"]) == 0
    text = capsys.readouterr().out
    assert "#1" in text and "#2" in text and "cuda: NVIDIA H100 80GB HBM3" in text
    assert bench_main(["history", "--device", "cuda", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == [1]
    assert bench_main(["history", "--plot", "matmul", "--device", "cpu"]) == 0
    assert "TFLOP/s" in capsys.readouterr().out
    png = tmp_path / "trend.png"
    assert bench_main(["history", "--plot", "matmul", "--output", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    assert bench_main(["history", "--plot", "no_such_op"]) == 2
    assert "no successful measurement" in capsys.readouterr().err
    assert load_run(2).runs[0].backend == "cpu"


def test_cli_history_without_a_database(capsys):
    assert bench_main(["history"]) == 0
    assert "no benchmark history yet" in capsys.readouterr().out
