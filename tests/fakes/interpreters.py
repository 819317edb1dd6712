"""Fake Python environments for tests: a real Python interpreter that imports a FAKE `torch` package.

They stand in for what this machine cannot have: a CUDA torch that sees an NVIDIA H100, an XPU torch that sees an
Intel Arc A770 (optionally with intel-extension-for-pytorch), a torch whose driver call hangs or crashes. The fake
`torch` mimics the parts of the real API the runtime probe and launchers call (`torch.__version__`,
`torch.version.cuda/hip/xpu`, `torch.cuda.is_available/device_count/get_device_properties/is_bf16_supported`,
`torch.xpu.*`) with the attribute names real torch uses, so the REAL probe script runs unchanged against it.

    python = make_fake_python(tmp_path, "cuda")                      # 2.8.0+cu128 seeing one H100
    python = make_fake_python(tmp_path, "xpu", ipex_version="2.8.10+xpu")
    python = make_fake_python(tmp_path, "cuda", cuda_devices=[H100, H100])
    python = make_fake_python(tmp_path, "cpu", import_error="libtorch_cpu.so: cannot open shared object file")
    wheel = build_fake_torch_wheel(tmp_path / "wheels", "xpu")      # installable with pip --find-links

Kinds: "cuda", "xpu", "cpu", "notorch" (Python without torch), "hang" (import torch never returns, like a hung
GPU driver), "crash" (the process aborts during import, like a driver segfault), "garbage" (an executable that
is not Python and prints nonsense).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import stat
import sys
import zipfile
from pathlib import Path
from typing import Any

H100 = {
    "name": "NVIDIA H100 80GB HBM3",
    "total_memory": 85_045_870_592,
    "major": 9,
    "minor": 0,
    "multi_processor_count": 132,
    "uuid": "58ff5b63-7ff0-d1e2-5d2b-2bb3f2c0a0f1",
    "pci_bus_id": 0x1B,
    "pci_device_id": 0,
    "pci_domain_id": 0,
}
RTX_2080 = {
    "name": "NVIDIA GeForce RTX 2080",
    "total_memory": 8_361_738_240,
    "major": 7,
    "minor": 5,
    "multi_processor_count": 46,
    "uuid": "0c1f7a2e-3b6d-4a51-9e0f-6d2c8b7a9e31",
    "pci_bus_id": 0x65,
    "pci_device_id": 0,
    "pci_domain_id": 0,
}
ARC_A770 = {
    "name": "Intel(R) Arc(TM) A770 Graphics",
    "platform_name": "Intel(R) oneAPI Unified Runtime over Level-Zero",
    "vendor": "Intel(R) Corporation",
    "type": "gpu",
    "driver_version": "1.6.31294+21",
    "total_memory": 16_225_243_136,
    "max_compute_units": 512,
    "gpu_eu_count": 512,
    "gpu_subslice_count": 32,
    "has_fp16": True,
    "has_fp64": False,
    "has_bfloat16_conversions": True,
    "device_id": 0x56A0,
}
INTEL_IGPU = {
    "name": "Intel(R) UHD Graphics 770",
    "platform_name": "Intel(R) oneAPI Unified Runtime over Level-Zero",
    "vendor": "Intel(R) Corporation",
    "type": "gpu",
    "driver_version": "1.6.31294+21",
    "total_memory": 30_000_000_000,
    "max_compute_units": 32,
    "gpu_eu_count": 32,
    "gpu_subslice_count": 4,
    "has_fp16": True,
    "has_fp64": False,
    "has_bfloat16_conversions": False,
    "device_id": 0x4680,
}

KINDS = ("cuda", "xpu", "cpu", "notorch", "hang", "crash", "garbage")

_DEFAULTS: dict[str, dict[str, Any]] = {
    "cuda": {"torch_version": "2.8.0+cu128", "cuda_version": "12.8", "cuda_devices": [H100]},
    "xpu": {"torch_version": "2.8.0+xpu", "xpu_version": "20250101", "xpu_devices": [ARC_A770]},
    "cpu": {"torch_version": "2.8.0+cpu"},
    "hang": {"torch_version": "2.8.0+cu128", "cuda_version": "12.8", "hang": True},
    "crash": {"torch_version": "2.8.0+cu128", "cuda_version": "12.8", "crash": True},
}
_SPEC_KEYS = {
    "torch_version",
    "cuda_version",
    "hip_version",
    "xpu_version",
    "cuda_devices",
    "xpu_devices",
    "cuda_available",  # default: there are cuda_devices
    "xpu_available",  # default: there are xpu_devices
    "cuda_error",  # torch.cuda.is_available() raises RuntimeError(this)
    "import_error",  # `import torch` raises ImportError(this)
    "hang",
    "crash",
    "ipex_version",  # also install a fake intel_extension_for_pytorch of this version
}

# The fake torch package. It reads its behaviour from _fake_spec.json beside it.
_INIT = '''"""FAKE torch for ipex-integration tests (see tests/fakes/interpreters.py). Not PyTorch."""
import json as _json
import os as _os
import sys as _sys
import time as _time

with open(_os.path.join(_os.path.dirname(__file__), "_fake_spec.json")) as _f:
    _SPEC = _json.load(_f)
if _SPEC.get("hang"):
    _time.sleep(3600)
if _SPEC.get("crash"):
    _sys.stderr.write("CUDA driver error: fake segfault while initialising the driver\\n")
    _sys.stderr.flush()
    _os.abort()
if _SPEC.get("import_error"):
    raise ImportError(_SPEC["import_error"])
__version__ = _SPEC["torch_version"]
from . import version, cuda, xpu  # noqa: E402
'''
_VERSION = '''from . import _SPEC
__version__ = _SPEC["torch_version"]
cuda = _SPEC.get("cuda_version")
hip = _SPEC.get("hip_version")
xpu = _SPEC.get("xpu_version")
debug = False
'''
_CUDA = '''"""Fake torch.cuda: the calls the runtime probe makes, with torch's attribute names."""
import types as _types
import uuid as _uuid
from . import _SPEC

_DEVICES = _SPEC.get("cuda_devices") or []
_current = 0


def is_available():
    if _SPEC.get("cuda_error"):
        raise RuntimeError(_SPEC["cuda_error"])
    return bool(_SPEC.get("cuda_available", bool(_DEVICES)))


def device_count():
    return len(_DEVICES) if is_available() else 0


def current_device():
    return _current


def get_device_properties(index):
    if not 0 <= index < device_count():
        raise AssertionError("Invalid device id")
    data = dict(_DEVICES[index])
    if data.get("uuid"):
        data["uuid"] = _uuid.UUID(data["uuid"])
    return _types.SimpleNamespace(**data)


def get_device_capability(index=None):
    props = get_device_properties(_current if index is None else index)
    return (props.major, props.minor)


def is_bf16_supported(including_emulation=True):
    if not is_available():
        return bool(including_emulation)
    return get_device_properties(_current).major >= 8 or bool(including_emulation)
'''
_XPU = '''"""Fake torch.xpu: the calls the runtime probe makes, with torch's attribute names."""
import types as _types
from . import _SPEC

_DEVICES = _SPEC.get("xpu_devices") or []


def _is_compiled():
    return bool(_SPEC.get("xpu_version"))


def is_available():
    return bool(_SPEC.get("xpu_available", bool(_DEVICES))) and _is_compiled()


def device_count():
    return len(_DEVICES) if is_available() else 0


def current_device():
    return 0


def get_device_properties(index=None):
    index = 0 if index is None else index
    if not 0 <= index < device_count():
        raise AssertionError("Invalid device id")
    return _types.SimpleNamespace(**_DEVICES[index])


def is_bf16_supported(including_emulation=True):
    return is_available() and bool(_DEVICES[0].get("has_bfloat16_conversions"))
'''


def fake_torch_spec(kind: str, **overrides: Any) -> dict[str, Any]:
    """The behaviour of a fake torch of `kind`, with `overrides` applied (see _SPEC_KEYS)."""
    if kind not in _DEFAULTS:
        raise ValueError(f"no fake torch for kind {kind!r}; kinds with torch: {sorted(_DEFAULTS)}")
    unknown = set(overrides) - _SPEC_KEYS
    if unknown:
        raise TypeError(f"unknown fake torch settings: {sorted(unknown)}")
    spec = copy.deepcopy(_DEFAULTS[kind])
    spec.update(copy.deepcopy(overrides))
    return spec


def fake_torch_files(spec: dict[str, Any]) -> dict[str, str]:
    """Relative path -> text of the fake torch package (and a fake IPEX if spec asks for one)."""
    files = {
        "torch/__init__.py": _INIT,
        "torch/version.py": _VERSION,
        "torch/cuda.py": _CUDA,
        "torch/xpu.py": _XPU,
        "torch/_fake_spec.json": json.dumps({k: v for k, v in spec.items() if k != "ipex_version"}, indent=1),
    }
    ipex = spec.get("ipex_version")
    if ipex:
        files["intel_extension_for_pytorch/__init__.py"] = f'__version__ = "{ipex}"\nimport torch\n'
        files[f"intel_extension_for_pytorch-{ipex}.dist-info/METADATA"] = _metadata(
            "intel_extension_for_pytorch", ipex
        )
        files[f"intel_extension_for_pytorch-{ipex}.dist-info/RECORD"] = ""
    return files


def write_fake_torch(site_dir: Path, kind: str = "cpu", **overrides: Any) -> Path:
    """Write a fake torch (plus its dist-info, like an installed wheel) into `site_dir`."""
    spec = fake_torch_spec(kind, **overrides)
    site_dir = Path(site_dir)
    files = fake_torch_files(spec)
    files[f"torch-{spec['torch_version']}.dist-info/METADATA"] = _metadata("torch", spec["torch_version"])
    files[f"torch-{spec['torch_version']}.dist-info/RECORD"] = ""
    for rel, text in files.items():
        target = site_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return site_dir


def make_fake_python(
    tmp_path: Path,
    kind: str = "cuda",
    *,
    name: str | None = None,
    base_python: str = sys.executable,
    **overrides: Any,
) -> Path:
    """Make an executable at tmp_path/<name>/bin/python that answers the runtime probe as `kind` would.

    It is a /bin/sh wrapper that runs `base_python -S` (no site-packages, so the base interpreter's own torch
    stays hidden) with PYTHONPATH pointing at a folder holding the fake torch. Returns the wrapper's path.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown fake interpreter kind {kind!r}; choose one of {KINDS}")
    root = Path(tmp_path) / (name or f"fake-{kind}")
    bindir = root / "bin"
    site = root / "lib" / "site-packages"
    bindir.mkdir(parents=True, exist_ok=True)
    site.mkdir(parents=True, exist_ok=True)
    python = bindir / "python"
    if kind == "garbage":
        python.write_text("#!/bin/sh\necho 'this is not python'\necho 'Segmentation fault?' >&2\nexit 0\n")
    else:
        if kind != "notorch":
            write_fake_torch(site, kind, **overrides)
        elif overrides:
            raise TypeError("a 'notorch' interpreter takes no torch settings")
        python.write_text(
            "#!/bin/sh\n"
            "# FAKE interpreter for ipex-integration tests: a real Python importing a fake torch.\n"
            f"PYTHONPATH={_sh_quote(str(site))}\n"
            "export PYTHONPATH\n"
            f'exec {_sh_quote(base_python)} -S "$@"\n'
        )
    python.chmod(python.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return python


def fake_site_packages(python: Path) -> Path:
    """The folder holding the fake torch of a make_fake_python() interpreter (to 'install' a new torch)."""
    return Path(python).parent.parent / "lib" / "site-packages"


def build_fake_torch_wheel(dest_dir: Path, kind: str = "cpu", **overrides: Any) -> Path:
    """Build an installable wheel `torch-<version>-py3-none-any.whl` holding the fake torch (pip --find-links).

    Stands in for PyTorch's real wheels (hundreds of MB, from download.pytorch.org) in offline tests of
    `ipex env create`. IPEX, if asked for, goes into the same wheel (it is only found by its metadata).
    """
    spec = fake_torch_spec(kind, **overrides)
    version = spec["torch_version"]
    dist_info = f"torch-{version}.dist-info"
    files = fake_torch_files(spec)
    files[f"{dist_info}/METADATA"] = _metadata("torch", version)
    files[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: ipex-integration-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record_lines = []
    for rel, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{rel},sha256={digest},{len(data)}")
    record_lines.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record_lines) + "\n"
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    wheel = dest_dir / f"torch-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, text in files.items():
            zf.writestr(rel, text)
    return wheel


def _metadata(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: FAKE {name} for tests\n"


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


__all__ = [
    "ARC_A770",
    "H100",
    "INTEL_IGPU",
    "KINDS",
    "RTX_2080",
    "build_fake_torch_wheel",
    "fake_site_packages",
    "fake_torch_spec",
    "make_fake_python",
    "write_fake_torch",
]
