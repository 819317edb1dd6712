"""The fault suite's tally: at the end of a run, one line with its cases, clean outcomes and failures (the
numbers the closing note and docs/faults.md quote)."""

from __future__ import annotations

_TALLY = {"passed": 0, "failed": 0, "skipped": 0}


def pytest_runtest_logreport(report):
    if "tests/faults/" not in report.nodeid.replace("\\", "/"):
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _TALLY[report.outcome] = _TALLY.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter):
    total = sum(_TALLY.values())
    if total:
        terminalreporter.write_line(
            f"fault suite: {total} cases, {_TALLY['passed']} clean, {_TALLY['failed']} failures, "
            f"{_TALLY['skipped']} skipped")
