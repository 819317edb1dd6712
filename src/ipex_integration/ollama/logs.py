"""Reading what an Ollama server logged: the devices it found at start (`inference compute` lines)."""

from __future__ import annotations

import re
from pathlib import Path

# slog text, e.g. msg="inference compute" id=0 library=CUDA ... description="NVIDIA H100 80GB HBM3" ...
_INFERENCE_LINE = re.compile(r'msg="inference compute".*?\blibrary=(\S+).*?\bdescription=("[^"]*"|\S+)')


def inference_devices(log_path: str | Path) -> list[tuple[str, str]]:
    """(library, description) of each `inference compute` line of the newest start in an Ollama log."""
    try:
        text = Path(log_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found: list[tuple[str, str]] = []
    for line in text.splitlines():
        if "Listening on" in line:
            found = []  # a restart: only the newest start counts
        match = _INFERENCE_LINE.search(line)
        if match:
            found.append((match.group(1), match.group(2).strip('"')))
    return found


def backend_of(library: str, description: str) -> str:
    """Our backend name for what Ollama reports: "cuda", "xpu", "cpu", or the library's name."""
    lib = library.lower()
    if lib in ("cuda", "cpu"):
        return lib
    if lib in ("vulkan", "sycl", "level_zero", "oneapi") and "intel" in description.lower():
        return "xpu"
    return lib
