"""The parent side of a benchmark run (never imports torch): turn device requests into DevicePlans, start one
worker per plan in that plan's interpreter and environment, follow its progress lines, and keep the results
file up to date after every measurement, so an interrupted run leaves a valid file with `complete` false.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Callable, Mapping, Sequence

from ..errors import SelectionError
from ..plan.model import DevicePlan, DeviceRequest
from ..proc import reap, spawn, stop_group
from ..runtime.model import Backend
from .model import BenchReport, BenchSpec, DeviceRun, Measurement
from .worker import PROTOCOL_PREFIX
from .workload import SuiteConfig

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../ipex_integration
STDERR_TAIL_LINES = 20  # of a worker that failed: enough for a traceback's last frames and the error
TERMINATE_GRACE_S = 2.0  # a worker dies on SIGTERM at once (Python default); this only covers one stuck in a driver


class RunObserver:
    """What the runner tells the UI while it works. The default does nothing (library use, tests)."""

    def device_started(self, plan: DevicePlan, run: DeviceRun, specs: Sequence[BenchSpec]) -> None: ...

    def spec_started(self, plan: DevicePlan, spec: BenchSpec) -> None: ...

    def spec_finished(self, plan: DevicePlan, measurement: Measurement) -> None: ...

    def device_finished(self, plan: DevicePlan, run: DeviceRun) -> None: ...

    def note(self, text: str) -> None: ...


# -- plans -------------------------------------------------------------------------------------------


def plans_for_all(
    environ: Mapping[str, str] | None = None,
    *,
    backends: Sequence[Backend] | None = None,
    resolve: Callable[..., DevicePlan] | None = None,
) -> tuple[list[DevicePlan], list[str]]:
    """One plan per available device: every GPU of each GPU backend (GPU 0, 1, ... as `ipex devices` numbers
    them, each in its backend's environment) and the CPU; a note per backend left out."""
    from ..plan.policy import PRIORITY

    if resolve is None:
        from ..plan.resolve import resolve_plan as resolve
    plans: list[DevicePlan] = []
    skipped: list[str] = []
    for backend in backends or PRIORITY:
        try:
            plans.extend(_plans_for_each_device(backend, resolve, environ))
        except SelectionError as exc:
            skipped.append(f"{backend.value}: {exc.message}")
    if not plans:
        raise SelectionError("no backend can run the benchmark here: " + "; ".join(skipped))
    return plans, skipped


# The request field that picks GPU N of a backend; the CPU is one device.
_INDEX_FIELD = {Backend.CUDA: "cuda_device", Backend.XPU: "intel_device"}
MAX_GPUS_PER_BACKEND = 16


def _plans_for_each_device(
    backend: Backend, resolve: Callable[..., DevicePlan], environ: Mapping[str, str] | None
) -> list[DevicePlan]:
    """Plans for device 0, 1, ... of a backend until the policy says the index is out of range. The policy
    stays the one judge of what exists: an error at device 0 means the backend is unusable here."""
    field = _INDEX_FIELD.get(backend)
    if field is None:
        return [resolve(DeviceRequest(backend=backend, source="--devices"), environ=environ)]
    plans: list[DevicePlan] = []
    for index in range(MAX_GPUS_PER_BACKEND):
        request = DeviceRequest(backend=backend, source="--devices", **{field: index})
        try:
            plans.append(resolve(request, environ=environ))
        except SelectionError:
            if not plans:
                raise
            break
    return plans


# -- system -----------------------------------------------------------------------------------------


def system_info(hardware: Any = None) -> dict[str, Any]:
    """The host: CPU, RAM, OS, Python, GPU drivers (from the hardware probe, which never imports torch)."""
    import psutil

    from .device import cpu_info

    cpu = cpu_info()
    info: dict[str, Any] = {
        "cpu": cpu["name"],
        "cpu_logical": psutil.cpu_count(logical=True),
        "cpu_physical": psutil.cpu_count(logical=False),
        "ram_bytes": psutil.virtual_memory().total,
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
    }
    try:
        if hardware is None:
            from ..hardware.probe import probe_hardware

            hardware = probe_hardware()
        info["gpus"] = [
            {"name": g.label, "vendor": g.vendor.value, "driver": g.driver, "driver_version": g.driver_version,
             "memory_bytes": g.memory_total_bytes, "pci_slot": g.pci_slot}
            for g in hardware.gpus
        ]
        info["hardware_notes"] = list(hardware.notes)
    except Exception as exc:  # noqa: BLE001 - the host description must never stop a benchmark
        info["gpus"] = []
        info["hardware_notes"] = [f"hardware probe failed: {exc}"]
    return info


def new_report(config: SuiteConfig, plans: Sequence[DevicePlan], command: Sequence[str], system: dict,
               skipped: Sequence[str] = ()) -> BenchReport:
    return BenchReport(
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        command=list(command),
        config={**config.to_dict(), "plans": [p.to_dict() for p in plans], "skipped_devices": list(skipped)},
        system=system,
        complete=False,
    )


# -- running ----------------------------------------------------------------------------------------


def worker_argv(plan: DevicePlan, config: SuiteConfig, out: Path) -> list[str]:
    payload = {"device": plan.torch_device, "backend": plan.backend.value, "suite": config.to_dict()}
    return [plan.python, "-m", "ipex_integration.bench.worker", "--config", json.dumps(payload), "--out", str(out)]


def worker_env(plan: DevicePlan, environ: Mapping[str, str], shim_dir: Path) -> dict[str, str]:
    """The plan's environment, plus a PYTHONPATH entry holding only our package (a link to it), so the
    backend interpreter runs this very code without seeing our interpreter's other packages."""
    env = plan.child_env(environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(shim_dir), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _package_shim(tmp: Path) -> Path:
    shim = tmp / "pythonpath"
    shim.mkdir(parents=True, exist_ok=True)
    link = shim / PACKAGE_DIR.name
    if not link.exists():
        link.symlink_to(PACKAGE_DIR, target_is_directory=True)
    return shim


def run_device(
    plan: DevicePlan,
    config: SuiteConfig,
    *,
    on_measurement: Callable[[DeviceRun], None],
    observer: RunObserver,
    environ: Mapping[str, str],
    work_dir: Path,
) -> DeviceRun:
    """Run one worker to the end; `on_measurement(run)` after each result (the run so far).
    Ctrl-C stops the worker and propagates; the run keeps what finished."""
    device = plan.backend.value if plan.device_index is None else f"{plan.backend.value}{plan.device_index}"
    out = work_dir / f"{device}-{plan.environment}.json"
    err_path = work_dir / f"{device}-{plan.environment}.stderr"
    run = DeviceRun(backend=plan.backend.value, device_name=plan.device_name or plan.backend.value)
    run.device = {"plan_device_index": plan.device_index}
    run.software = {"environment": plan.environment, "python_executable": plan.python}
    state = {"done": False, "error": None}
    with open(err_path, "w+", encoding="utf-8", errors="replace") as err:
        try:
            proc = spawn(
                worker_argv(plan, config, out),
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=worker_env(plan, environ, _package_shim(work_dir)),
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except OSError as exc:
            run.error = f"cannot start {plan.python}: {exc.strerror or exc}"
            return run
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                event = _parse(line)
                if event is not None:
                    run = _apply(event, run, plan, observer, on_measurement, state)
            reap(proc)
        except BaseException:
            # Ctrl-C, Interrupted (SIGTERM/SIGHUP), a failed save: the worker's group goes now, not later.
            stop_group(proc, grace=TERMINATE_GRACE_S)
            raise
        if not state["done"]:
            run.error = state["error"] or _failure(proc.returncode, err)
    return _with_late_results(run, out)


def _with_late_results(run: DeviceRun, out: Path) -> DeviceRun:
    """The worker saves its file before announcing a result: a worker that died in between has one more
    measurement there than on the stream."""
    try:
        saved = DeviceRun.from_dict(json.loads(out.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return run
    if len(saved.measurements) > len(run.measurements):
        run.measurements[:] = saved.measurements
    return run


def _parse(line: str) -> dict | None:
    if not line.startswith(PROTOCOL_PREFIX):
        return None
    try:
        event = json.loads(line[len(PROTOCOL_PREFIX):])
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def _apply(event: dict, run: DeviceRun, plan: DevicePlan, observer: RunObserver,
           on_measurement: Callable[[DeviceRun], None], state: dict) -> DeviceRun:
    kind = event.get("event")
    if kind == "device":
        told = DeviceRun.from_dict(event["run"])
        run = replace(run, device_name=told.device_name, device={**told.device, **run.device},
                      software={**told.software, **run.software}, measurements=run.measurements)
    elif kind == "plan":
        observer.device_started(plan, run, [BenchSpec(**s) for s in event.get("specs", [])])
    elif kind == "started":
        observer.spec_started(plan, BenchSpec(**event["spec"]))
    elif kind == "finished":
        measurement = Measurement.from_dict(event["measurement"])
        run.measurements.append(measurement)
        on_measurement(run)
        observer.spec_finished(plan, measurement)
    elif kind == "done":
        state["done"] = True
    elif kind == "error":
        state["error"] = str(event.get("error"))
    return run


def _failure(returncode: int | None, err: IO[str]) -> str:
    err.flush()
    err.seek(0)
    tail = [line.rstrip() for line in err.read().splitlines() if line.strip()][-STDERR_TAIL_LINES:]
    last = tail[-1] if tail else "no output"
    return f"worker exited with code {returncode}: {last}"


def run_benchmark(
    plans: Sequence[DevicePlan],
    config: SuiteConfig,
    *,
    results_path: Path,
    command: Sequence[str],
    observer: RunObserver | None = None,
    environ: Mapping[str, str] | None = None,
    system: dict | None = None,
    skipped: Sequence[str] = (),
    save: Callable[[BenchReport], Any] | None = None,
) -> BenchReport:
    """Run every plan's worker in turn (one device at a time: two GPUs' numbers must not disturb each
    other), saving the report after every measurement and once more at the end with `complete` true."""
    from .report.writer import ResultsWriter

    observer = observer or RunObserver()
    environ = os.environ if environ is None else environ
    save = save or ResultsWriter(results_path).save
    report = new_report(config, plans, command, system if system is not None else system_info(), skipped)
    for note in skipped:
        observer.note(f"not benchmarked: {note}")
    save(report)
    with tempfile.TemporaryDirectory(prefix="ipex-bench-") as tmp:
        try:
            for plan in plans:
                slot = len(report.runs)
                label = plan.device_name or plan.backend.value
                report.runs.append(
                    DeviceRun(backend=plan.backend.value, device_name=label,
                              device={"plan_device_index": plan.device_index})
                )

                def keep(run: DeviceRun, slot: int = slot) -> None:
                    report.runs[slot] = run
                    save(report)

                run = run_device(
                    plan, config, on_measurement=keep, observer=observer, environ=environ, work_dir=Path(tmp)
                )
                report.runs[slot] = run
                observer.device_finished(plan, run)
                if run.error:
                    observer.note(f"{run.label}: {run.error}")
                save(report)
        except BaseException:
            report.complete = False
            with contextlib.suppress(Exception):
                save(report)
            raise
    report.complete = True
    save(report)
    return report
