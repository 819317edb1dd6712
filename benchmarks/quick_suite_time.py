"""Time the whole quick suite end to end, as a user runs it, and compare with the goal.

    python benchmarks/quick_suite_time.py [ipex-benchmark flags, e.g. --device cpu]

Runs `ipex-benchmark --suite quick` (worker start, every workload, SD included, report files) in a child
process and prints its wall time against the goal: 60 s on a GPU (H100), 120 s on a 2-core CPU machine.
Exit status 1 when over the goal.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOALS_S = {"cpu": 120.0, "gpu": 60.0}  # from issue 3: quick suite on a 2-core CI machine / on the H100


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="quick-suite-") as tmp:
        out = Path(tmp) / "results"
        command = [sys.executable, "-m", "ipex_integration.cli.benchmark", "run", "--suite", "quick",
                   "--output", str(out), *argv]
        print("running:", " ".join(command), flush=True)
        start = time.perf_counter()
        done = subprocess.run(command)
        seconds = time.perf_counter() - start
        try:
            report = json.loads((out / "results.json").read_text())
        except (OSError, ValueError):
            print(f"no results file; ipex-benchmark exited with {done.returncode}")
            return 1
    backends = [run["backend"] for run in report["runs"]]
    kind = "cpu" if backends == ["cpu"] else "gpu"
    goal = GOALS_S[kind]
    measured = sum(len(run["measurements"]) for run in report["runs"])
    devices = ", ".join(f"{run['backend']}: {run['device_name']}" for run in report["runs"])
    print(f"devices:        {devices}")
    print(f"measurements:   {measured} (exit code {done.returncode}, complete={report['complete']})")
    print(f"quick suite:    {seconds:.1f} s end to end")
    verdict = "within" if seconds <= goal else "OVER"
    print(f"goal ({kind}):     {goal:.0f} s  -> ratio {seconds / goal:.2f} ({verdict} goal)")
    return 0 if seconds <= goal and report["complete"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
