"""Where each backend's torch wheels come from, and which CUDA build suits an NVIDIA driver.

PyTorch builds every wheel for one backend and publishes each flavour on its own index
(https://pytorch.org/get-started/locally/): .../whl/cuXXX, .../whl/xpu, .../whl/cpu.

Sources for the CUDA table (checked 2026):
- Driver minimums: NVIDIA CUDA Toolkit release notes, table "CUDA Toolkit and Corresponding Driver Versions"
  (Linux x86_64, GA releases: 13.0 >= 580.65.06, 12.8 >= 570.26, 12.6 >= 560.28.03), and its "minor version
  compatibility" table (any CUDA 12.x runtime on a driver >= 525.60.13, 11.x on >= 450.80.02).
- Which CUDA builds each torch release ships: the release compatibility matrix in pytorch/pytorch RELEASE.md and
  the index listings: torch 2.9-2.11 on cu126/cu128/cu130, 2.12 on cu126/cu129/cu130/cu132; cu124 ends with
  torch 2.6, cu118 with 2.7. An older index simply offers an older torch; pip picks the newest it can.
"""

from __future__ import annotations

import re

from ..errors import EnvironmentSetupError
from .model import Backend

PYTORCH_INDEX = "https://download.pytorch.org/whl"

# (minimum driver, index tag, why), newest first: the first row the driver meets wins.
CUDA_INDEX_BY_DRIVER: tuple[tuple[tuple[int, ...], str, str], ...] = (
    ((580, 65, 6), "cu130", "CUDA 13.0 needs driver >= 580.65.06"),
    ((570, 26), "cu128", "CUDA 12.8 needs driver >= 570.26"),
    ((560, 28, 3), "cu126", "CUDA 12.6 needs driver >= 560.28.03"),
    ((525, 60, 13), "cu124", "CUDA 12.x runs on driver >= 525.60.13 through minor version compatibility"),
    ((450, 80, 2), "cu118", "CUDA 11.8 runs on driver >= 450.80.02 through minor version compatibility"),
)
# Without a known driver: the build that every torch from 2.6 to 2.12 ships.
CUDA_INDEX_DEFAULT = "cu126"

# Oldest driver on which a torch built for CUDA <major> can run at all (minor version compatibility).
MIN_DRIVER_FOR_CUDA_MAJOR: dict[int, tuple[int, ...]] = {13: (580, 65, 6), 12: (525, 60, 13), 11: (450, 80, 2)}


def parse_driver_version(text: str | None) -> tuple[int, ...] | None:
    """'580.65.06' -> (580, 65, 6); None for anything that does not start with a number."""
    if not text:
        return None
    match = re.match(r"\s*(\d+(?:\.\d+)*)", text)
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def _fmt(version: tuple[int, ...]) -> str:
    return ".".join(f"{p:02d}" if i == 2 else str(p) for i, p in enumerate(version))


def cuda_index_tag(driver_version: str | None) -> tuple[str, str]:
    """The cuXXX wheel tag for an NVIDIA driver, and the reason (a sentence for the user)."""
    parsed = parse_driver_version(driver_version)
    if parsed is None:
        return CUDA_INDEX_DEFAULT, (
            f"NVIDIA driver version unknown: using {CUDA_INDEX_DEFAULT} (needs driver >= 560.28.03); "
            "pass --index-url to choose another build"
        )
    for minimum, tag, why in CUDA_INDEX_BY_DRIVER:
        if parsed >= minimum:
            return tag, f"NVIDIA driver {driver_version}: {tag} ({why})"
    raise EnvironmentSetupError(
        f"NVIDIA driver {driver_version} is too old for any current PyTorch CUDA build "
        f"(the oldest, cu118, needs >= {_fmt(CUDA_INDEX_BY_DRIVER[-1][0])})",
        hint="update the NVIDIA driver, or pass --index-url with a wheel index that suits it",
    )


def default_index_url(backend: Backend, driver_version: str | None = None) -> tuple[str, str]:
    """PyTorch's wheel index for `backend` and why it was chosen."""
    if backend is Backend.CUDA:
        tag, why = cuda_index_tag(driver_version)
        return f"{PYTORCH_INDEX}/{tag}", why
    if backend is Backend.XPU:
        return f"{PYTORCH_INDEX}/xpu", "PyTorch's XPU wheels (torch.xpu, no IPEX needed)"
    return f"{PYTORCH_INDEX}/cpu", "PyTorch's CPU-only wheels"


def min_driver_for_cuda(cuda_version: str | None) -> tuple[int, ...] | None:
    """The oldest NVIDIA driver a torch built for `cuda_version` ("12.8") can run on, or None if unknown."""
    parsed = parse_driver_version(cuda_version)
    return MIN_DRIVER_FOR_CUDA_MAJOR.get(parsed[0]) if parsed else None


def format_driver(version: tuple[int, ...]) -> str:
    return _fmt(version)
