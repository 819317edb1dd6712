"""Ask one Python interpreter what its torch can do, in a child process with a timeout, and cache the answer.

The child runs `probe_script.py` (standalone, shipped as package data) under the supervisor: a timeout kills its
whole process tree. `probe_runtimes` probes several interpreters in parallel. Our own process never imports torch.
The cache is keyed by the interpreter path and the visibility variables, and holds the modification times of the
environment's site-packages folders: installing or removing a package changes those, so a new torch is seen at
once. Failed probes are never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

from .. import paths
from ..errors import ConfigError
from ..proc import CommandResult, Runner, in_parallel, run_command
from ..state import atomic_write_text, read_json
from .model import Backend, RuntimeInfo, TorchDevice

CACHE_FORMAT = 1
# A safety net for what site-packages mtimes cannot see (a driver upgrade, a GPU added): re-probe daily.
CACHE_MAX_AGE_S = 24 * 3600
# Variables that change which devices torch sees: part of the cache key.
VISIBILITY_VARIABLES = (
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "ONEAPI_DEVICE_SELECTOR",
    "ZE_AFFINITY_MASK",
    "ZE_FLAT_DEVICE_HIERARCHY",
)
_TAIL_CHARS = 600


SCRIPT_PATH = Path(__file__).with_name("probe_script.py")


def probe_script_source() -> str:
    return resources.files(__package__).joinpath("probe_script.py").read_text(encoding="utf-8")


def probe_argv(executable: str) -> list[str]:
    """Run the script by path (errors then name the file, not its whole text); `-c` only when the package is
    not unpacked on disk (a zip import)."""
    if SCRIPT_PATH.is_file():
        return [executable, str(SCRIPT_PATH)]
    return [executable, "-c", probe_script_source()]


def probe_child_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The probe child's environment: the caller's, plus PCI bus order for CUDA indices (the order the hardware
    probe and `ipex devices` use). A value the user set wins."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


def probe_runtime(
    python: str,
    *,
    timeout: float = 30.0,
    runner: Runner = run_command,
    use_cache: bool = True,
    environ: Mapping[str, str] | None = None,
) -> RuntimeInfo:
    """Probe `python`. Never raises for a bad interpreter: `ok=False` and `error` say what went wrong."""
    python = str(python)
    executable = _locate(python)
    if executable is None:
        return RuntimeInfo(python=python, ok=False, error=f"interpreter not found: {python}")
    env = probe_child_env(environ)
    cache_file = _cache_file(executable, env, environ)
    if use_cache:
        cached = _read_cache(cache_file, python)
        if cached is not None:
            return cached
    result = runner(probe_argv(executable), timeout=timeout, env=env)
    info, raw = _parse(python, result, timeout)
    if info.ok and raw is not None:
        _write_cache(cache_file, executable, info)
    return info


def probe_runtimes(
    pythons: Sequence[str],
    *,
    timeout: float = 30.0,
    runner: Runner = run_command,
    use_cache: bool = True,
    environ: Mapping[str, str] | None = None,
) -> list[RuntimeInfo]:
    """Probe several interpreters at once under one deadline: three hung ones cost one `timeout`, not three.
    The answers in the order given."""
    return in_parallel(
        lambda python: probe_runtime(python, timeout=timeout, runner=runner, use_cache=use_cache, environ=environ),
        pythons,
    )


def invalidate_cache(python: str, environ: Mapping[str, str] | None = None) -> None:
    executable = _locate(str(python))
    if executable is not None:
        _cache_file(executable, probe_child_env(environ), environ).unlink(missing_ok=True)


def _locate(python: str) -> str | None:
    """An existing file as given (venv interpreters are symlinks: keep the link, its location picks the venv),
    or a bare command name looked up on PATH."""
    if os.sep in python:
        return os.path.abspath(python) if os.path.isfile(python) else None
    return shutil.which(python)


# --- parsing -------------------------------------------------------------------------------------------------


def _tail(text: str, lines: int = 3) -> str:
    """The end of a child's output, fit for a one-line error: its last few lines (`/bin/cat` as the
    interpreter echoes the whole probe script), at most _TAIL_CHARS."""
    kept = [line for line in text.strip().splitlines() if line.strip()]
    text = "\n".join(kept[-lines:])
    text = ("..." if len(kept) > lines else "") + text
    return text if len(text) <= _TAIL_CHARS else "..." + text[-_TAIL_CHARS:]


def _parse(python: str, result: CommandResult, timeout: float) -> tuple[RuntimeInfo, dict | None]:
    if result.not_found:
        return RuntimeInfo(python=python, ok=False, error=f"interpreter not found: {python} ({result.stderr})"), None
    if result.timed_out:
        return (
            RuntimeInfo(
                python=python,
                ok=False,
                error=f"probe timed out after {timeout:g} s: {python} did not answer "
                "(a hanging GPU driver or a very slow torch import)",
            ),
            None,
        )
    raw = _last_json_object(result.stdout)
    if raw is None:
        detail = _tail(result.stderr) or _tail(result.stdout) or "no output"
        if result.returncode != 0:
            error = f"probe failed: {python} exited with status {result.returncode}: {detail}"
        else:
            error = f"probe gave no readable answer (is {python} a Python interpreter?): {detail}"
        return RuntimeInfo(python=python, ok=False, error=error), None
    try:
        return runtime_info_from_probe(python, raw), raw
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return RuntimeInfo(python=python, ok=False, error=f"probe answer not understood: {exc}"), None


def _last_json_object(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and "probe" in data:
            return data
    return None


def runtime_info_from_probe(python: str, raw: dict) -> RuntimeInfo:
    """Turn the probe script's JSON into a RuntimeInfo (public so tests and tools can feed recorded answers)."""
    notes: list[str] = []
    torch = raw.get("torch") or {}
    torch_error = raw.get("torch_error")
    if torch_error and raw.get("torch_dist_version"):
        torch_error = f"torch {raw['torch_dist_version']} is installed but `import torch` failed: {torch_error}"
    elif torch_error:
        torch_error = f"`import torch` failed: {torch_error}"
    devices: list[TorchDevice] = []
    cuda = raw.get("cuda") or {}
    xpu = raw.get("xpu") or {}
    if cuda.get("error"):
        notes.append(f"CUDA probe failed: {cuda['error']}")
    if xpu.get("error") and torch.get("build") == "xpu":
        notes.append(f"XPU probe failed: {xpu['error']}")
    for dev in cuda.get("devices", ()):
        if dev.get("error"):
            notes.append(f"CUDA device {dev.get('index')}: {dev['error']}")
        devices.append(
            TorchDevice(
                backend=Backend.CUDA,
                index=int(dev["index"]),
                name=dev.get("name") or f"CUDA device {dev['index']}",
                total_memory_bytes=dev.get("total_memory"),
                capability=dev.get("capability"),
                bf16=dev.get("bf16"),
                integrated=dev.get("integrated", False),
                uuid=dev.get("uuid"),
                multiprocessors=dev.get("multi_processor_count"),
                pci_slot=dev.get("pci_slot"),
            )
        )
    for dev in xpu.get("devices", ()):
        if dev.get("error"):
            notes.append(f"XPU device {dev.get('index')}: {dev['error']}")
        arch = dev.get("architecture")
        devices.append(
            TorchDevice(
                backend=Backend.XPU,
                index=int(dev["index"]),
                name=dev.get("name") or f"XPU device {dev['index']}",
                total_memory_bytes=dev.get("total_memory"),
                # No compute capability on XPU: the architecture where torch names it, else the driver version.
                capability=str(arch) if arch is not None else dev.get("driver_version"),
                bf16=dev.get("bf16"),
                integrated=dev.get("integrated"),
                uuid=dev.get("uuid"),
                multiprocessors=dev.get("gpu_eu_count") or dev.get("max_compute_units"),
            )
        )
    if raw.get("ipex_error"):
        notes.append(f"IPEX lookup failed: {raw['ipex_error']}")
    if raw.get("site_error"):
        notes.append(f"site-packages lookup failed: {raw['site_error']}")
    return RuntimeInfo(
        python=python,
        ok=True,
        python_version=raw.get("python_version"),
        torch_version=torch.get("version"),
        torch_build=torch.get("build"),
        cuda_version=torch.get("cuda_version"),
        cuda_available=bool(cuda.get("available")),
        xpu_available=bool(xpu.get("available")),
        devices=tuple(devices),
        ipex_version=raw.get("ipex_version"),
        site_packages=tuple(raw.get("site_packages") or ()),
        torch_error=torch_error,
        notes=tuple(notes),
    )


# --- cache ---------------------------------------------------------------------------------------------------


def _cache_file(executable: str, child_env: Mapping[str, str], environ: Mapping[str, str] | None) -> Path:
    key = {"python": executable, "env": {k: child_env.get(k) for k in VISIBILITY_VARIABLES}}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return paths.cache_dir(environ) / "runtime-probe" / f"{digest}.json"


def _stamp(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def _stamps(executable: str, info: RuntimeInfo) -> dict[str, float | None]:
    # The interpreter itself too: a Python upgraded in place gets a new binary.
    watched = [executable, *info.site_packages]
    return {p: _stamp(p) for p in watched}


def _read_cache(cache_file: Path, python: str) -> RuntimeInfo | None:
    try:
        data = read_json(cache_file, what="runtime probe cache")
        if data.get("format") != CACHE_FORMAT or time.time() - float(data["written"]) > CACHE_MAX_AGE_S:
            return None
        stamps = data["stamps"]
        if not isinstance(stamps, dict) or any(_stamp(p) != m for p, m in stamps.items()):
            return None
        info = RuntimeInfo.from_dict(data["info"])
    except (ConfigError, ValueError, TypeError, KeyError, AttributeError):
        return None  # missing or corrupt: probe again, and the write below replaces it
    if info.python != python:
        info = RuntimeInfo.from_dict({**info.to_dict(), "python": python})
    return info


def _write_cache(cache_file: Path, executable: str, info: RuntimeInfo) -> None:
    data = {
        "format": CACHE_FORMAT,
        "written": time.time(),
        "stamps": _stamps(executable, info),
        "info": info.to_dict(),
    }
    try:
        atomic_write_text(cache_file, json.dumps(data, indent=1))
    except OSError:
        pass  # a read-only cache dir only costs speed
