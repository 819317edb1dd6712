"""Number formatting shared by the terminal table, the HTML report and compare."""

from __future__ import annotations

from .metrics import DerivedRow, primary_rate


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms >= 1000:
        return f"{ms / 1e3:.3g} s"
    if ms < 0.1:
        return f"{ms * 1e3:.3g} µs"
    return f"{ms:.3g} ms"


def fmt_number(value: float) -> str:
    """Three or four significant figures, thousands separated: 753.1, 3,012, 0.521."""
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.1f}"
    return f"{value:.3g}"


def fmt_rate(row: DerivedRow) -> str:
    rate = primary_rate(row)
    return f"{fmt_number(rate[0])} {rate[1]}" if rate else "-"


def fmt_pct(pct: float | None) -> str:
    return f"{pct:.1f}%" if pct is not None else "-"


def fmt_mib(mib: float | None) -> str:
    if mib is None:
        return "-"
    return f"{mib / 1024:.2f} GiB" if mib >= 1024 else f"{mib:.0f} MiB"


def fmt_iqr(row: DerivedRow) -> str:
    if row.iqr_ms is None or not row.median_ms:
        return "-"
    pct = row.iqr_ms / row.median_ms * 100
    return f"{pct:.0f}%" if pct >= 100 else f"{pct:.1f}%"
