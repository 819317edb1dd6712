"""The benchmark worker: runs inside a backend environment's interpreter, on the plan's device.

    python -m ipex_integration.bench.worker --config JSON --out FILE

`--config` is a JSON object (or a path to one): {"device": "cuda:0", "backend": "cuda", "suite": {SuiteConfig}}.
The plan's environment variables already made the chosen GPU index 0. Progress goes to stdout as JSON lines
(see EVENTS); everything else that writes to stdout (libraries, C code) is sent to stderr so the protocol
stays clean. FILE gets the DeviceRun after every measurement (atomically), so an interrupted run keeps
what finished.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

from ..state import atomic_write_text
from .model import DeviceRun, Measurement, Status
from .workload import BenchContext, SuiteConfig

# The protocol, one JSON object per stdout line, in this order:
#   {"event": "device", "run": DeviceRun without measurements}
#   {"event": "plan", "specs": [BenchSpec...], "warmup_s": s, "budget_s": s}
#   {"event": "started", "index": i, "spec": BenchSpec}        then
#   {"event": "finished", "index": i, "measurement": Measurement}   for each spec
#   {"event": "done"}   or   {"event": "error", "error": "..."}
EVENTS = ("device", "plan", "started", "finished", "done", "error")
PROTOCOL_PREFIX = "@ipex-bench "  # lines without it are not ours (the parent ignores them)


def software_info() -> dict[str, Any]:
    import torch

    build = "cpu"
    if getattr(torch.version, "cuda", None):
        build = "cuda"
    elif getattr(torch.version, "hip", None):
        build = "rocm"
    elif getattr(torch.version, "xpu", None) or "+xpu" in torch.__version__:
        build = "xpu"
    cudnn = None
    try:
        cudnn = torch.backends.cudnn.version() if build == "cuda" else None
    except Exception:  # noqa: BLE001
        pass
    return {
        "torch_version": torch.__version__,
        "torch_build": build,
        "cuda_version": getattr(torch.version, "cuda", None),
        "xpu_version": getattr(torch.version, "xpu", None),
        "cudnn_version": cudnn,
        "git_version": getattr(torch.version, "git_version", None),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def plan_specs(config: SuiteConfig, backend: str) -> list[tuple[Any, Any]]:
    """(workload, spec) pairs the configuration selects, in run order."""
    from .workloads import get_workload, op_selected, selected_workloads

    pairs = []
    for name in selected_workloads(config.only, config.ops):
        workload = get_workload(name)
        for spec in workload.specs(config, backend):
            if op_selected(name, spec.op, config.only, config.ops):
                pairs.append((workload, spec))
    return pairs


def run_worker(
    device: str,
    backend: str,
    config: SuiteConfig,
    out: Path,
    emit: Callable[[dict], None],
) -> DeviceRun:
    """Measure every selected spec on `device`, emitting protocol events; returns the DeviceRun."""
    import torch

    from .device import DeviceOps
    from .harness import DeviceTimer, suite_timing

    torch.manual_seed(config.seed)
    ops = DeviceOps(device)
    info = ops.info()
    run = DeviceRun(backend=backend, device_name=str(info.get("name") or device), device=info, software=software_info())
    emit({"event": "device", "run": run.to_dict()})
    default_warmup, default_budget = suite_timing(config.suite, backend)
    warmup_s = default_warmup if config.warmup_s is None else config.warmup_s
    budget_s = default_budget if config.budget_s is None else config.budget_s
    ctx = BenchContext(
        device=torch.device(device),
        backend=backend,
        config=config,
        timer=DeviceTimer(ops),
        warmup_s=warmup_s,
        budget_s=budget_s,
        info=info,
    )
    pairs = plan_specs(config, backend)
    emit({"event": "plan", "specs": [vars(s) for _, s in pairs], "warmup_s": warmup_s, "budget_s": budget_s})
    for index, (workload, spec) in enumerate(pairs):
        emit({"event": "started", "index": index, "spec": vars(spec)})
        try:
            measurement = workload.run(spec, ctx)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - a workload bug must not end the other workloads
            measurement = Measurement(spec, Status.FAILED, reason=f"{type(exc).__name__}: {exc}")
        rss = _peak_rss_bytes()
        if rss is not None:
            # the worker's high-water mark since it started: it only grows from row to row, hence the name
            measurement.extra.setdefault("host_rss_lifetime_peak_bytes", rss)
        run.measurements.append(measurement)
        atomic_write_text(out, json.dumps(run.to_dict(), indent=1))
        emit({"event": "finished", "index": index, "measurement": measurement.to_dict()})
    atomic_write_text(out, json.dumps(run.to_dict(), indent=1))
    return run


def _peak_rss_bytes() -> int | None:
    """The worker's peak resident host memory so far (Linux reports KiB)."""
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except (ImportError, OSError, ValueError):
        return None


def _protocol_stream() -> TextIO:
    """Keep the real stdout for protocol lines and point fd 1 at stderr, so stray prints (Python or C)
    cannot interleave with them."""
    sys.stdout.flush()
    stream = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


def _load_config(text: str) -> dict:
    if not text.lstrip().startswith("{"):
        text = Path(text).read_text(encoding="utf-8")
    return json.loads(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ipex_integration.bench.worker")
    parser.add_argument("--config", required=True, help="JSON object, or a path to a JSON file")
    parser.add_argument("--out", required=True, type=Path, help="where the DeviceRun JSON goes")
    args = parser.parse_args(argv)
    stream = _protocol_stream()

    def emit(event: dict) -> None:
        stream.write(PROTOCOL_PREFIX + json.dumps(event, default=str) + "\n")
        stream.flush()

    try:
        raw = _load_config(args.config)
        config = SuiteConfig.from_dict(raw.get("suite") or {})
        run_worker(str(raw.get("device", "cpu")), str(raw.get("backend", "cpu")), config, args.out, emit)
    except KeyboardInterrupt:
        emit({"event": "error", "error": "interrupted"})
        return 130
    except Exception as exc:  # noqa: BLE001 - report it to the parent as one line
        emit({"event": "error", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    emit({"event": "done"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
