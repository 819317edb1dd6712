"""argparse `type=` functions: every number and address is checked when it is parsed, so a bad value is a
one-line usage error (exit 2) before anything starts. NaN and infinities are never accepted."""

from __future__ import annotations

import argparse
import math
from typing import Callable, TypeVar

from .. import net
from ..errors import UsageError

T = TypeVar("T")
MAX_SECONDS = 7 * 24 * 3600.0  # a week: beyond that a timeout or budget is a typo


def _number(text: str, what: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of {what}: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number of {what}, got {text!r}")
    return value


def seconds(*, minimum: float = 0.0, inclusive: bool = False, maximum: float = MAX_SECONDS) -> Callable[[str], float]:
    """Seconds: finite, above `minimum` (or at it, with inclusive), at most `maximum`."""

    def parse(text: str) -> float:
        value = _number(text, "seconds")
        low_ok = value >= minimum if inclusive else value > minimum
        if not low_ok:
            raise argparse.ArgumentTypeError(f"must be {'>=' if inclusive else '>'} {minimum:g} seconds, got {text}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:g} seconds, got {text}")
        return value

    parse.__name__ = "seconds"
    return parse


positive_seconds = seconds()  # timeouts, budgets
nonnegative_seconds = seconds(inclusive=True)  # warm-up (0: none)


def count(*, minimum: int = 1, maximum: int = 1_000_000) -> Callable[[str], int]:
    """A whole number in [minimum, maximum]: trials, steps, sizes, device indexes."""

    def parse(text: str) -> int:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from {minimum} to {maximum}, got {value}")
        return value

    parse.__name__ = "count"
    return parse


def one_of(*names: str) -> Callable[[str], str]:
    """One of `names` (for items of a list, where argparse's `choices` cannot look)."""

    def parse(text: str) -> str:
        value = str(text).strip()
        if value not in names:
            raise argparse.ArgumentTypeError(f"{value!r} is not one of: {', '.join(names)}")
        return value

    parse.__name__ = "choice"
    return parse


def comma_list(item: Callable[[str], T]) -> Callable[[str], tuple[T, ...]]:
    """"1,4,16" -> (1, 4, 16), each item checked by `item` (a type function above); empty items are skipped,
    and at least one is needed."""

    def parse(text: str) -> tuple[T, ...]:
        parts = [p.strip() for p in str(text).split(",") if p.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        values = []
        for part in parts:
            try:
                values.append(item(part))
            except argparse.ArgumentTypeError as exc:
                raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
        return tuple(values)

    parse.__name__ = "list"
    return parse


def _from_usage(check: Callable[[str], object]) -> Callable[[str], object]:
    def parse(text: str):
        try:
            return check(text)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None

    parse.__name__ = getattr(check, "__name__", "value")
    return parse


port = _from_usage(net.check_port)
host = _from_usage(net.check_host)
listen = _from_usage(net.check_listen)
url = _from_usage(net.check_url)


def nonempty(text: str) -> str:
    """A name or path that must not be empty (an empty --output would mean the current directory)."""
    if not str(text).strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


nonempty.__name__ = "value"


def nonempty_path(text: str):
    """A path that must not be empty."""
    from pathlib import Path

    return Path(nonempty(text))


nonempty_path.__name__ = "path"
