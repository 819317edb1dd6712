"""Datasheet peaks (dense TFLOP/s per dtype, DRAM GB/s) looked up by the device name torch reports.

The numbers live in data/device_peaks.toml, each with its source; this module only reads and matches them.
Matching is by whole words, ignoring case and punctuation, and the most specific pattern wins, so
"NVIDIA H100 PCIe" finds the PCIe entry even though an "H100 ..." SXM pattern exists too.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Mapping

from ...errors import ConfigError

PEAK_DTYPES = ("fp32", "tf32", "fp16", "bf16")
NO_PEAK = "no peak known"


@dataclass(frozen=True)
class DevicePeak:
    """One device's datasheet roofs. A dtype missing from `tflops` has no known compute peak."""

    id: str
    name: str
    tflops: Mapping[str, float] = field(default_factory=dict)
    memory_gbps: float | None = None
    source: str = ""
    url: str = ""
    sources: Mapping[str, str] = field(default_factory=dict)  # per-number overrides of `source`

    def tflops_for(self, dtype: str) -> float | None:
        return self.tflops.get(dtype)

    def source_for(self, number: str) -> str:
        """Where one number ("bf16", "memory_gbps", ...) comes from."""
        return self.sources.get(number) or self.source

    @property
    def ridge_point(self) -> dict[str, float]:
        """Arithmetic intensity (flop/byte) where each dtype's compute roof meets the bandwidth roof."""
        if not self.memory_gbps:
            return {}
        return {dtype: tf * 1e12 / (self.memory_gbps * 1e9) for dtype, tf in self.tflops.items()}


@dataclass(frozen=True)
class _Entry:
    peak: DevicePeak
    patterns: tuple[tuple[str, ...], ...]
    exclude: frozenset[str]


def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[a-z0-9]+", text.lower()))


def _contains(words: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    n = len(pattern)
    return any(words[i : i + n] == pattern for i in range(len(words) - n + 1))


def _entry(entry_id: str, raw: Mapping, origin: str) -> _Entry:
    try:
        tflops = {str(k): float(v) for k, v in dict(raw.get("tflops") or {}).items()}
        unknown = set(tflops) - set(PEAK_DTYPES)
        if unknown:
            raise ValueError(f"unknown dtype(s) {sorted(unknown)}")
        memory = raw.get("memory_gbps")
        patterns = tuple(_words(p) for p in raw["match"])
        if not patterns or not all(patterns):
            raise ValueError("empty 'match' pattern")
        peak = DevicePeak(
            id=entry_id,
            name=str(raw.get("name") or entry_id),
            tflops=tflops,
            memory_gbps=float(memory) if memory is not None else None,
            source=str(raw.get("source") or ""),
            url=str(raw.get("url") or ""),
            sources={str(k): str(v) for k, v in dict(raw.get("sources") or {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: device '{entry_id}' is malformed: {exc}") from exc
    return _Entry(peak, patterns, frozenset(w for e in raw.get("exclude") or () for w in _words(e)))


class PeakTable:
    """All known devices; `lookup(name)` returns the best match or None."""

    def __init__(self, entries: list[_Entry]) -> None:
        self._entries = entries

    @classmethod
    def from_toml(cls, text: str, origin: str = "device_peaks.toml") -> "PeakTable":
        try:
            data = tomllib.loads(text)
        except RecursionError:
            raise ConfigError(f"{origin} is nested too deeply to read") from None
        except ValueError as exc:  # TOMLDecodeError, or a number past Python's int-digits limit
            raise ConfigError(f"{origin} is not valid TOML: {' '.join(str(exc).split())[:200]}") from None
        devices = data.get("devices")
        if not isinstance(devices, dict):
            raise ConfigError(f"{origin} has no [devices.*] tables")
        return cls([_entry(k, v, origin) for k, v in devices.items()])

    @property
    def peaks(self) -> list[DevicePeak]:
        return [e.peak for e in self._entries]

    def lookup(self, device_name: str) -> DevicePeak | None:
        words = _words(device_name)
        if not words:
            return None
        best: tuple[tuple[int, int], DevicePeak] | None = None
        for entry in self._entries:
            if entry.exclude & set(words):
                continue
            for pattern in entry.patterns:
                if _contains(words, pattern):
                    # More words, then more letters, = more specific ("H200 NVL" beats "H200").
                    score = (len(pattern), sum(map(len, pattern)))
                    if best is None or score > best[0]:
                        best = (score, entry.peak)
        return best[1] if best else None


@lru_cache(maxsize=1)
def default_table() -> PeakTable:
    """The table shipped in ipex_integration/data/device_peaks.toml (read once)."""
    res = resources.files("ipex_integration").joinpath("data/device_peaks.toml")
    return PeakTable.from_toml(res.read_text(encoding="utf-8"), origin=str(res))


def load_table(path: str | Path) -> PeakTable:
    """A table from another file (tests, or a user's own numbers)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read peak table {path}: {exc.strerror or exc}") from exc
    return PeakTable.from_toml(text, origin=str(path))


def peak_for(device_name: str, table: PeakTable | None = None) -> DevicePeak | None:
    """The datasheet peaks of the device torch calls `device_name`, or None ("no peak known")."""
    return (table or default_table()).lookup(device_name)
