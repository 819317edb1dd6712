"""`ipex-benchmark compare` as a CI gate: 0 no regression, 1 regression (only then), 4 could not compare.
A NaN, missing or mistyped number is never "same"; an incomplete or mistyped run cannot pass."""

from __future__ import annotations

import json

import pytest

from ipex_integration.bench.report.compare import EXIT_CANNOT_COMPARE, INVALID, compare_reports
from ipex_integration.bench.report.writer import ResultsWriter
from ipex_integration.cli import benchmark

from .reports import make_report

BF16 = "tensor/matmul/bf16/8192x8192x8192"


def write(path, report=None, edit=None):
    ResultsWriter(path).save(report or make_report())
    if edit is not None:
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))
    return path


def _key(spec):
    return "/".join(spec[k] for k in ("workload", "op", "dtype", "shape", "variant") if spec[k])


def measurement(data, key=BF16):
    return next(m for r in data["runs"] for m in r["measurements"] if _key(m["spec"]) == key)


def gate(capsys, old, new, *extra):
    code = benchmark.main(["compare", str(old), str(new), *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _set_median(value):
    return lambda data: measurement(data)["stats"].__setitem__("median_s", value)


@pytest.mark.parametrize("value", [float("nan"), None, "fast", True, -1.0, float("inf")])
def test_a_bad_median_is_invalid_never_same(capsys, tmp_path, value):
    old = write(tmp_path / "old.json")
    new = write(tmp_path / "new.json", edit=_set_median(value))
    code, out, _ = gate(capsys, old, new, "--json")
    assert code == EXIT_CANNOT_COMPARE
    data = json.loads(out)
    row = next(r for r in data["rows"] if r["key"] == BF16)
    assert row["verdict"] == INVALID and "median" in row["note"]
    assert "non-numeric" in data["cannot_compare"]


def test_identical_files_pass_and_a_regression_is_1(capsys, tmp_path):
    old = write(tmp_path / "old.json")
    assert gate(capsys, old, write(tmp_path / "same.json"))[0] == 0

    def slower(data):
        stats = measurement(data)["stats"]
        for k in ("median_s", "mean_s", "min_s", "p95_s"):
            stats[k] *= 1.5
    assert gate(capsys, old, write(tmp_path / "slow.json", edit=slower))[0] == 1


def test_an_incomplete_run_cannot_pass_but_its_regression_is_reported(capsys, tmp_path):
    old = write(tmp_path / "old.json")
    new = write(tmp_path / "new.json", make_report(complete=False))
    code, out, _ = gate(capsys, old, new, "--fail-above", "50%")
    assert code == EXIT_CANNOT_COMPARE and "could not compare: the new file is from an incomplete run" in out

    def slower_and_incomplete(data):
        data["complete"] = False
        for m in data["runs"][0]["measurements"]:
            if m.get("stats"):
                m["stats"]["median_s"] *= 10
    assert gate(capsys, old, write(tmp_path / "n2.json", edit=slower_and_incomplete))[0] == 1


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.__setitem__("complete", "no"), "'complete' is 'no', not true or false"),
    (lambda d: d.__setitem__("runs", "x"), "malformed results file"),
    (lambda d: d["runs"][0].__setitem__("measurements", [1, 2]), "malformed results file"),
    (lambda d: measurement(d).__setitem__("status", "great"), "malformed results file"),
    (lambda d: measurement(d).__setitem__("stats", {"median_s": 1}), "malformed results file"),
    (lambda d: d["runs"][0].__setitem__("device_name", None), "malformed results file"),
])
def test_mistyped_reports_are_one_line_and_exit_4(capsys, tmp_path, edit, message):
    old = write(tmp_path / "old.json")
    new = write(tmp_path / "new.json", edit=edit)
    code, _, err = gate(capsys, old, new)
    assert code == EXIT_CANNOT_COMPARE
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1 and message in lines[0] and str(new) in lines[0]


def test_unreadable_and_disjoint_files_cannot_compare(capsys, tmp_path):
    old = write(tmp_path / "old.json")
    assert gate(capsys, old, tmp_path / "missing.json")[0] == EXIT_CANNOT_COMPARE
    assert gate(capsys, old, tmp_path)[0] == EXIT_CANNOT_COMPARE
    (tmp_path / "latin1.json").write_bytes(b'{"x": "\xe9"}')
    assert gate(capsys, old, tmp_path / "latin1.json")[0] == EXIT_CANNOT_COMPARE

    def other_ops(data):
        for r in data["runs"]:
            for m in r["measurements"]:
                m["spec"]["shape"] = "1x1"
    code, out, _ = gate(capsys, old, write(tmp_path / "other.json", edit=other_ops))
    assert code == EXIT_CANNOT_COMPARE and "no op in common" in out


def test_library_result_says_why():
    result = compare_reports(make_report(), make_report(complete=False), fail_above=0.1)
    assert result.exit_code == EXIT_CANNOT_COMPARE and result.incomplete == ("new",)


def test_history_runs_compare_like_files(capsys, tmp_path):
    """`compare run:1 run:2` and `compare run:1 FILE`: the same verdicts and exit codes as two files."""
    from ipex_integration.bench.history import record_run

    old_report = make_report()
    new_report = make_report()
    measurement_obj = next(m for m in new_report.runs[0].measurements if m.spec.key == BF16)
    measurement_obj.stats = type(measurement_obj.stats)(**{**vars(measurement_obj.stats),
                                                          "median_s": measurement_obj.stats.median_s * 1.5})
    assert record_run(old_report) == 1 and record_run(new_report) == 2
    slower = write(tmp_path / "slower.json", new_report)
    for new in ("run:2", slower):
        code, out, _ = gate(capsys, "run:1", new, "--json")
        assert code == 1, out
        assert any(r["key"] == BF16 and r["verdict"] == "regression" for r in json.loads(out)["rows"])
    assert gate(capsys, "run:1", "#1")[0] == 0
    assert gate(capsys, "run:2", "run:1", "--fail-above", "60%")[0] == 0


def test_a_missing_run_or_history_is_4_with_one_line(capsys, tmp_path):
    from ipex_integration.bench.history import record_run

    code, _, err = gate(capsys, "run:1", "run:2")
    assert code == EXIT_CANNOT_COMPARE and "there is no benchmark history yet" in err
    record_run(make_report())
    code, _, err = gate(capsys, "run:1", "run:7")
    assert code == EXIT_CANNOT_COMPARE
    assert err.splitlines()[0] == f"ipex-benchmark: error: cannot compare: no run 7 in the benchmark history {_history()}"
    code, _, err = gate(capsys, "run:x", "run:1")
    assert code == EXIT_CANNOT_COMPARE and "'run:x' is not a run id" in err
    code, _, err = gate(capsys, "12", "run:1")  # a bare number is a file name; the hint says how to name a run
    assert code == EXIT_CANNOT_COMPARE and "results file not found: 12" in err and "run:12" in err


def _history():
    from ipex_integration.bench.history import default_path

    return default_path()
