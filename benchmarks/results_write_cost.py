"""The cost of saving results.json after one more measurement, old way against new way, in one run.

    python benchmarks/results_write_cost.py [--sizes 100,1000,5000] [--samples 1000] [--dir DIR]

Old way (the peer, kept here as it was): every save rewrites the whole report atomically (temp file, fsync,
rename), so the N-th save writes N measurements and a run's saves add up to N^2/2. New way
(`bench/report/writer.py` ResultsWriter): a snapshot at the start, then one fsync'd journal line per
measurement. For each N the report already holds N-1 measurements; the script times the save that adds the
N-th (median of several) and prints both and their ratio. Each measurement carries `--samples` raw times, as
the standard suite's do (that is what made its results.json 18 MB). --dir: where to write (default: a temp
folder; point it at the disk your results go to).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ipex_integration import state  # noqa: E402
from ipex_integration.bench.model import BenchReport, BenchSpec, DeviceRun, Measurement, Stats, Status  # noqa: E402
from ipex_integration.bench.report.writer import ResultsWriter, dumps_report, journal_path  # noqa: E402


def old_save(path: Path, report: BenchReport) -> None:
    """What ResultsWriter.save did before: the whole report, atomically, every time."""
    state.write_text(path, dumps_report(report), what="results file")


def measurement(index: int, samples: int) -> Measurement:
    times = [1e-3 * (1 + (i % 17) * 1e-3) for i in range(samples)]
    return Measurement(spec=BenchSpec("tensor", "matmul", "bf16", f"{index}x8192x8192"), status=Status.OK,
                       samples_s=times, stats=Stats.from_samples(times), flops=2 * 8192**3, check_error=1e-3,
                       extra={"host_rss_bytes": 1 << 30})


def report_with(n: int, samples: int) -> BenchReport:
    run = DeviceRun(backend="cuda", device_name="NVIDIA H200", measurements=[measurement(i, samples) for i in range(n)])
    return BenchReport(created="2026-12-01T00:00:00+00:00", command=["ipex-benchmark", "--suite", "standard"],
                       config={"suite": "standard"}, system={"cpu": "x"}, runs=[run], complete=False)


def time_saves(save, report: BenchReport, extra: list[Measurement]) -> list[float]:
    times = []
    for m in extra:
        report.runs[0].measurements.append(m)
        start = time.perf_counter()
        save(report)
        times.append(time.perf_counter() - start)
    return times


def measure(n: int, samples: int, folder: Path, reps_old: int, reps_new: int) -> tuple[float, float, int, int]:
    template = measurement(0, samples)
    extra = [Measurement.from_dict(template.to_dict()) for _ in range(max(reps_old, reps_new))]
    old_path = folder / f"old-{n}.json"
    report = report_with(n - 1, samples)
    old = time_saves(lambda r: old_save(old_path, r), report, extra[:reps_old])
    new_path = folder / f"new-{n}.json"
    report = report_with(n - 1, samples)
    writer = ResultsWriter(new_path)
    writer.save(report)  # the run's start: its snapshot (the runner saves before the first measurement)
    new = time_saves(writer.save, report, extra[:reps_new])
    sizes = old_path.stat().st_size, new_path.stat().st_size + journal_path(new_path).stat().st_size
    for p in (old_path, new_path, journal_path(new_path)):
        p.unlink()
    return statistics.median(old), statistics.median(new), *sizes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--samples", type=int, default=1000, help="raw times per measurement (default 1000)")
    parser.add_argument("--dir", type=Path, help="where to write (default: a temp folder)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="results-cost-", dir=args.dir) as tmp:
        print(f"{'N':>6} {'old ms/save':>12} {'new ms/save':>12} {'old/new':>9} {'old file MB':>12} {'new files MB':>13}")
        for n in sizes:
            reps_old = 3 if n >= 1000 else 10
            old, new, old_size, new_size = measure(n, args.samples, Path(tmp), reps_old, 30)
            print(f"{n:>6} {old * 1e3:>12.2f} {new * 1e3:>12.3f} {old / new:>9.1f} {old_size / 1e6:>12.1f} "
                  f"{new_size / 1e6:>13.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
