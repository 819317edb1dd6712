"""results.json while a run goes on: a snapshot plus an append-only journal (issue 14: the cost of a save must
not grow with the run), rebuilt by load_report after an interruption."""

from __future__ import annotations

import json

import pytest

from ipex_integration.bench.model import BenchReport, DeviceRun
from ipex_integration.bench.report.writer import ResultsWriter, journal_path, load_report
from ipex_integration.errors import UsageError

from .reports import cpu_run, h100_run, make_report


def _growing(writer: ResultsWriter, full: BenchReport) -> BenchReport:
    """Save `full` the way the runner does: the device runs one after another, a save per measurement."""
    report = BenchReport(created=full.created, command=full.command, config=full.config, system=full.system,
                         complete=False)
    writer.save(report)
    for source in full.runs:
        run = DeviceRun(backend=source.backend, device_name=source.device_name)
        report.runs.append(run)
        run.device, run.software = dict(source.device), dict(source.software)
        for m in source.measurements:
            run.measurements.append(m)
            writer.save(report)
        run.error = "worker exited with code 1: boom"
        writer.save(report)
    return report


def test_interrupted_run_reads_back_from_snapshot_and_journal(tmp_path):
    path = tmp_path / "results.json"
    report = _growing(ResultsWriter(path), make_report(h100_run(), cpu_run()))
    assert journal_path(path).is_file()
    loaded = load_report(path)
    assert loaded.complete is False
    assert loaded.to_dict() == report.to_dict()
    assert [r.error for r in loaded.runs] == ["worker exited with code 1: boom"] * 2


def test_results_json_is_not_rewritten_per_measurement(tmp_path):
    path = tmp_path / "results.json"
    writer = ResultsWriter(path)
    report = make_report(h100_run())
    report.complete = False
    run = report.runs[0]
    measurements, run.measurements = run.measurements, []
    writer.save(report)
    snapshot = path.read_bytes()
    sizes = []
    for m in measurements * 20:
        run.measurements.append(m)
        writer.save(report)
        sizes.append(journal_path(path).stat().st_size)
    assert path.read_bytes() == snapshot  # untouched: each save appended to the journal only
    steps = [b - a for a, b in zip(sizes, sizes[1:])]
    assert max(steps) < 2 * max(len(json.dumps(m.to_dict())) for m in measurements)  # one line each, not the file
    assert len(load_report(path).runs[0].measurements) == len(measurements) * 20


def test_final_save_holds_everything_and_removes_the_journal(tmp_path):
    path = tmp_path / "results.json"
    writer = ResultsWriter(path)
    report = _growing(writer, make_report(cpu_run()))
    report.complete = True
    writer.save(report)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
    data = json.loads(path.read_text())
    assert data["complete"] is True and "journal" not in data
    assert load_report(path).to_dict() == report.to_dict()


def test_torn_last_line_is_left_out_and_a_bad_middle_line_is_an_error(tmp_path):
    path = tmp_path / "results.json"
    report = _growing(ResultsWriter(path), make_report(cpu_run()))
    journal = journal_path(path)
    whole = journal.read_text()
    journal.write_text(whole + '{"seq": 99, "slot": 0, "measurement": {"sp')  # killed mid-append
    assert load_report(path).to_dict() == report.to_dict()
    lines = whole.splitlines(keepends=True)
    journal.write_text("".join(lines[:2]) + "{not json\n" + "".join(lines[2:]))
    with pytest.raises(UsageError, match=r"results journal .*results.jsonl has a bad line 3") as exc:
        load_report(path)
    assert "delete" in exc.value.hint


def test_another_runs_journal_of_the_same_name_is_ignored(tmp_path):
    path = tmp_path / "results.json"
    _growing(ResultsWriter(path), make_report(cpu_run()))
    stale = journal_path(path).read_text()
    fresh = make_report(cpu_run())
    fresh.complete, fresh.runs[0].measurements = False, fresh.runs[0].measurements[:2]
    ResultsWriter(path).save(fresh)  # a new snapshot (another journal id); the old journal is still there
    assert journal_path(path).read_text() == stale
    assert load_report(path).to_dict() == fresh.to_dict()


def test_a_change_that_is_not_an_append_writes_a_new_snapshot(tmp_path):
    path = tmp_path / "results.json"
    writer = ResultsWriter(path)
    report = _growing(writer, make_report(cpu_run(), h100_run()))
    report.runs.pop()  # not an append: the snapshot is written again and the journal's lines are not replayed twice
    writer.save(report)
    report.runs[0].measurements.append(h100_run().measurements[0])
    writer.save(report)
    assert load_report(path).to_dict() == report.to_dict()


def test_numbered_run_gets_a_numbered_journal(tmp_path):
    (tmp_path / "results.json").write_text('{"an": "earlier run"}\n')
    writer = ResultsWriter(tmp_path / "results.json", replace=False)
    report = _growing(writer, make_report(cpu_run()))
    assert writer.path.name == "results-2.json" and journal_path(writer.path).is_file()
    assert not (tmp_path / "results.jsonl").exists()
    assert load_report(writer.path).to_dict() == report.to_dict()
    assert (tmp_path / "results.json").read_text() == '{"an": "earlier run"}\n'
