"""Public reference points (data/reference_numbers.toml): what other people measured on well-known devices,
each with its source, shown next to a report's headline numbers for orientation."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Mapping

from ...errors import ConfigError


@dataclass(frozen=True)
class Reference:
    metric: str  # "sd15_512_its", "matmul_tflops", "d2d_gbps", ...
    device: str
    unit: str
    measured: str  # exactly what was measured, with which software
    source: str
    url: str = ""
    value: float | None = None
    low: float | None = None
    high: float | None = None
    dtype: str | None = None

    @property
    def text(self) -> str:
        """'28' or '7-9'."""
        if self.value is not None:
            return f"{self.value:,.4g}"
        return f"{self.low:,.3g}-{self.high:,.3g}"


def _reference(raw: Mapping, origin: str, index: int) -> Reference:
    try:
        ref = Reference(
            metric=str(raw["metric"]), device=str(raw["device"]), unit=str(raw["unit"]),
            measured=str(raw["measured"]), source=str(raw["source"]), url=str(raw.get("url") or ""),
            value=float(raw["value"]) if "value" in raw else None,
            low=float(raw["low"]) if "low" in raw else None,
            high=float(raw["high"]) if "high" in raw else None,
            dtype=str(raw["dtype"]) if "dtype" in raw else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: reference #{index + 1} is malformed: {exc!r}") from exc
    if ref.value is None and (ref.low is None or ref.high is None):
        raise ConfigError(f"{origin}: reference #{index + 1} ({ref.device}) has neither value nor low/high")
    if not ref.source.strip():
        raise ConfigError(f"{origin}: reference #{index + 1} ({ref.device}) names no source")
    return ref


def parse_references(text: str, origin: str = "reference_numbers.toml") -> tuple[Reference, ...]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML: {exc}") from exc
    return tuple(_reference(raw, origin, i) for i, raw in enumerate(data.get("reference") or []))


@lru_cache(maxsize=1)
def default_references() -> tuple[Reference, ...]:
    res = resources.files("ipex_integration").joinpath("data/reference_numbers.toml")
    return parse_references(res.read_text(encoding="utf-8"), origin=str(res))


def references_for(
    metric: str, dtype: str | None = None, refs: tuple[Reference, ...] | None = None
) -> list[Reference]:
    """The reference points of one metric (and dtype, where the metric has one)."""
    refs = default_references() if refs is None else refs
    return [r for r in refs if r.metric == metric and (r.dtype is None or dtype is None or r.dtype == dtype)]
