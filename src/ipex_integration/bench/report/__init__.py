"""Turning a BenchReport into numbers people read: derived metrics (metrics.py) against datasheet peaks
(peaks.py), the results files (writer.py: JSON, CSV; html.py: self-contained HTML with charts.py's PNGs),
the terminal table and progress bar (terminal.py) and run-to-run comparison (compare.py).

Import the submodules directly; this package imports nothing heavy (matplotlib is imported inside the
functions that use it)."""
