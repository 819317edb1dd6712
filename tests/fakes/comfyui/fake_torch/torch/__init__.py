"""Test double of `torch`: the small part of its device API that ComfyUI's device selection uses.

Stands in for a torch build that can see NVIDIA and/or Intel GPUs, which cannot exist on a CPU-only test
machine. How many GPUs the "driver" has is set by variables, and the real visibility variables filter them
the way the CUDA and Level Zero runtimes do:

- FAKE_TORCH_CUDA=N: N NVIDIA GPUs; CUDA_VISIBLE_DEVICES (comma list of indices, parsing stops at the first
  invalid entry, as CUDA's does) picks among them.
- FAKE_TORCH_XPU=N: N Intel GPUs; ONEAPI_DEVICE_SELECTOR (`level_zero:N[,M]`, `level_zero:*`, `*:*`,
  `;`-separated; entries for other backends such as `opencl:cpu` admit no GPU) and ZE_AFFINITY_MASK pick.
- FAKE_TORCH_VERSION: torch.__version__ (default "2.8.0").

Like the real torch, the visibility variables are read when a runtime is first used, not at import.
"""

from __future__ import annotations

import os

__version__ = os.environ.get("FAKE_TORCH_VERSION", "2.8.0")
FAKE = True


class _Version:
    __version__ = __version__
    cuda = "12.8" if int(os.environ.get("FAKE_TORCH_CUDA", "0") or 0) else None
    xpu = "20250101" if int(os.environ.get("FAKE_TORCH_XPU", "0") or 0) else None


version = _Version()


class device:  # noqa: N801 - the real name
    def __init__(self, type, index=None):  # noqa: A002 - the real signature
        if isinstance(type, int):
            type, index = "cuda", type
        if isinstance(type, str) and ":" in type:
            type, _, text = type.partition(":")
            index = int(text)
        if type not in ("cpu", "cuda", "xpu", "mps", "meta"):
            raise RuntimeError(f"Expected one of cpu, cuda, xpu, mps device type at start of device string: {type}")
        self.type = type
        self.index = index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type={self.type!r}" + ("" if self.index is None else f", index={self.index}") + ")"

    def __eq__(self, other) -> bool:
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


def _visible_cuda() -> list[int]:
    total = int(os.environ.get("FAKE_TORCH_CUDA", "0") or 0)
    mask = os.environ.get("CUDA_VISIBLE_DEVICES")
    if mask is None:
        return list(range(total))
    visible = []
    for entry in mask.split(","):
        entry = entry.strip()
        if not entry.isdigit() or int(entry) >= total or int(entry) in visible:
            break  # CUDA ignores everything from the first invalid entry on
        visible.append(int(entry))
    return visible


def _visible_xpu() -> list[int]:
    total = int(os.environ.get("FAKE_TORCH_XPU", "0") or 0)
    devices = list(range(total))
    mask = os.environ.get("ZE_AFFINITY_MASK")
    if mask is not None:
        wanted = [int(e) for e in mask.split(",") if e.strip().isdigit()]
        devices = [d for d in devices if d in wanted]
    selector = os.environ.get("ONEAPI_DEVICE_SELECTOR")
    if selector is None:
        return devices
    chosen: list[int] = []
    for entry in selector.split(";"):
        backend, _, names = entry.strip().partition(":")
        if backend.startswith("!") or backend not in ("level_zero", "*"):
            continue
        for name in names.split(","):
            name = name.strip()
            if name in ("*", "gpu"):
                chosen.extend(d for d in devices if d not in chosen)
            elif name.isdigit() and int(name) < len(devices) and devices[int(name)] not in chosen:
                chosen.append(devices[int(name)])
    return chosen


class _Backend:
    """torch.cuda / torch.xpu: counts come from the variables above, read on each call."""

    def __init__(self, name: str, visible, label: str) -> None:
        self._name = name
        self._visible = visible
        self._label = label
        self._current = 0

    def is_available(self) -> bool:
        return self.device_count() > 0

    def device_count(self) -> int:
        return len(self._visible())

    def _check(self) -> None:
        if not self.is_available():
            if self._name == "cuda":
                # What a torch without usable CUDA raises from torch.cuda.current_device().
                raise AssertionError("Torch not compiled with CUDA enabled")
            raise RuntimeError("No XPU devices are available.")

    def current_device(self) -> int:
        self._check()
        return self._current

    def set_device(self, index) -> None:
        self._check()
        self._current = int(getattr(index, "index", index) or 0)

    def get_device_name(self, dev=None) -> str:
        self._check()
        index = self._current if dev is None else (getattr(dev, "index", dev) or 0)
        return f"{self._label} {self._visible()[index]}"

    def synchronize(self, dev=None) -> None:
        self._check()


cuda = _Backend("cuda", _visible_cuda, "Fake NVIDIA GPU")
xpu = _Backend("xpu", _visible_xpu, "Fake Intel Arc GPU")


class _Mps:
    @staticmethod
    def is_available() -> bool:
        return False


class backends:  # noqa: N801 - mirrors torch.backends
    mps = _Mps()
