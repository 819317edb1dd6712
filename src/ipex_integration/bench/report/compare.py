"""Compare two results op by op: the ratio new/old of each op's rate, regressions beyond a threshold, and an
exit code that can gate CI (`ipex-benchmark compare OLD NEW --fail-above 10%`). OLD and NEW are results files
or runs of the benchmark history written `run:12` (`history` lists them as #12; a quoted "#12" works too); a
bare `12` is always a file name, so the two can never be mistaken for each other.

Device runs are matched by label ("cuda: NVIDIA H100 80GB HBM3"); a device left over on both sides is
matched by backend when that backend has exactly one such run on each side (comparing an H100 run with an
H200 run). Ops are matched by spec key. The ratio compares rates (it/s for pipelines, GB/s for bandwidth-
bound ops, else TFLOP/s) and falls back to inverted median times, so above 1 always means "new is faster".

An op that measured fine in OLD and fails or runs out of memory in NEW is a regression too ("broken"):
a CI gate that let a crash through because it has no time would be a poor gate.

Exit codes (docs/exit-codes.md): 0 no regression, 1 regression found (only then), 4 could not compare: a file
unreadable or of the wrong shape, a run id the history does not hold, no op in common, an op marked ok whose numbers are missing, NaN or not
numbers ("invalid", never "same"), or an incomplete run (`complete: false`) without a regression: a gate must
not pass on a run that stopped half-way.
"""

from __future__ import annotations

import math
from pathlib import Path
from dataclasses import asdict, dataclass, field

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ...errors import FailedError, IpexError, UsageError
from ..model import BenchReport, DeviceRun, Measurement, Status
from .fmt import fmt_number
from .metrics import measurement_rate

REGRESSION = "regression"
BROKEN = "broken"  # ok in OLD, failed/oom in NEW
IMPROVEMENT = "improvement"
SAME = "same"
INVALID = "invalid"  # marked ok, but its numbers are missing, NaN or not numbers: the file is damaged
FIXED = "fixed"  # failed/oom in OLD, ok in NEW
NOT_COMPARABLE = "not comparable"
_BAD = {Status.FAILED, Status.OOM}
_STYLE = {REGRESSION: "bold red", BROKEN: "bold red", IMPROVEMENT: "green", FIXED: "green", NOT_COMPARABLE: "dim",
          INVALID: "bold yellow"}
EXIT_NO_REGRESSION, EXIT_REGRESSION, EXIT_CANNOT_COMPARE = 0, 1, 4


@dataclass(frozen=True)
class CompareRow:
    device: str  # the device label, or "OLD label -> NEW label" when matched by backend
    key: str
    metric: str  # "TFLOP/s" | "GB/s" | "it/s" | "ms" | ""
    old: float | None
    new: float | None
    ratio: float | None  # > 1: new is faster
    verdict: str
    old_status: str
    new_status: str
    noisy: bool = False  # either side's IQR/median above 10%: read its ratio with care
    note: str | None = None

    @property
    def change_pct(self) -> float | None:
        return (self.ratio - 1) * 100 if self.ratio is not None else None


@dataclass(frozen=True)
class CompareResult:
    rows: tuple[CompareRow, ...]
    fail_above: float
    only_old: tuple[str, ...] = ()  # "device: key" of ops only in OLD
    only_new: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    incomplete: tuple[str, ...] = ()  # "old" / "new": files from a run that stopped before the end

    @property
    def regressions(self) -> list[CompareRow]:
        return [r for r in self.rows if r.verdict in (REGRESSION, BROKEN)]

    @property
    def improvements(self) -> list[CompareRow]:
        return [r for r in self.rows if r.verdict in (IMPROVEMENT, FIXED)]

    @property
    def invalid(self) -> list[CompareRow]:
        return [r for r in self.rows if r.verdict == INVALID]

    @property
    def cannot_compare(self) -> str | None:
        """Why no verdict can be given (exit 4), or None."""
        if not self.rows:
            return "the two files have no op in common"
        if self.invalid:
            return f"{len(self.invalid)} op(s) marked ok have missing or non-numeric times"
        if self.incomplete:
            return f"the {' and '.join(self.incomplete)} file is from an incomplete run"
        return None

    @property
    def exit_code(self) -> int:
        if self.regressions:
            return EXIT_REGRESSION
        return EXIT_CANNOT_COMPARE if self.cannot_compare else EXIT_NO_REGRESSION

    def to_dict(self) -> dict:
        return {
            "fail_above": self.fail_above,
            "regressions": len(self.regressions),
            "exit_code": self.exit_code,
            "cannot_compare": self.cannot_compare,
            "incomplete": list(self.incomplete),
            "rows": [asdict(r) | {"change_pct": r.change_pct} for r in self.rows],
            "only_old": list(self.only_old),
            "only_new": list(self.only_new),
            "notes": list(self.notes),
        }


def parse_threshold(text: str | float) -> float:
    """"10%" or "0.1" -> 0.1. A bare number above 1 is refused (did "10" mean 10% or 1000%?)."""
    raw = str(text).strip()
    bad = UsageError(
        f"bad threshold {raw!r}: write a percentage like 10% or a fraction like 0.1 (between 0 and 100%)"
    )
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise bad from None
    if not math.isfinite(value) or value < 0 or value > 1:
        raise bad
    return value


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _damage(m: Measurement) -> str | None:
    """Why an ok measurement's numbers cannot be used (a damaged or hand-edited file), or None."""
    median = m.stats.median_s
    if not _finite(median) or median <= 0:
        return f"median {median!r} is not a positive number"
    for name in ("flops", "bytes_moved", "items"):
        value = getattr(m, name)
        if value is not None and not _finite(value):
            return f"{name} {value!r} is not a number"
    return None


def _rate(m: Measurement) -> tuple[float | None, str]:
    rate = measurement_rate(m)
    return rate if rate and _finite(rate[0]) and rate[0] > 0 else (None, "")


def _noisy(m: Measurement) -> bool:
    return _finite(m.stats.iqr_s) and m.stats.noisy


def _compare_one(device: str, old: Measurement, new: Measurement, fail_above: float) -> CompareRow:
    base = dict(device=device, key=new.spec.key, old_status=old.status.value, new_status=new.status.value)
    old_ok = old.status is Status.OK and old.stats is not None
    new_ok = new.status is Status.OK and new.stats is not None
    if old_ok and new_ok:
        damage = [f"{side}: {why}" for side, why in (("old", _damage(old)), ("new", _damage(new))) if why]
        if damage:
            return CompareRow(metric="", old=None, new=None, ratio=None, verdict=INVALID, note="; ".join(damage), **base)
        (old_rate, old_unit), (new_rate, new_unit) = _rate(old), _rate(new)
        if old_rate and new_rate and old_unit == new_unit:
            metric, old_v, new_v, ratio = old_unit, old_rate, new_rate, new_rate / old_rate
        else:  # no common rate: compare times, inverted so that > 1 still means faster
            metric, old_v, new_v = "ms", old.stats.median_s * 1e3, new.stats.median_s * 1e3
            ratio = old_v / new_v if new_v > 0 else None
        if ratio is None:
            verdict = NOT_COMPARABLE
        elif ratio < 1 - fail_above:
            verdict = REGRESSION
        elif ratio > 1 + fail_above:
            verdict = IMPROVEMENT
        else:
            verdict = SAME
        noisy = _noisy(old) or _noisy(new)
        return CompareRow(metric=metric, old=old_v, new=new_v, ratio=ratio, verdict=verdict, noisy=noisy, **base)
    if old_ok and new.status in _BAD:
        return CompareRow(metric="", old=None, new=None, ratio=None, verdict=BROKEN,
                          note=f"new: {new.status.value}: {new.reason or 'no reason given'}", **base)
    if new_ok and old.status in _BAD:
        return CompareRow(metric="", old=None, new=None, ratio=None, verdict=FIXED,
                          note=f"old: {old.status.value}: {old.reason or 'no reason given'}", **base)
    side, m = ("new", new) if not new_ok else ("old", old)
    return CompareRow(metric="", old=None, new=None, ratio=None, verdict=NOT_COMPARABLE,
                      note=f"{side}: {m.status.value}: {m.reason or 'no reason given'}", **base)


def _pair_runs(old: list[DeviceRun], new: list[DeviceRun]):
    """[(old_run, new_run, shown name)], unmatched old runs, unmatched new runs, notes."""
    left_old, left_new = list(old), list(new)
    pairs, notes = [], []
    for run in new:
        match = next((o for o in left_old if o.label == run.label), None)
        if match is not None:
            left_old.remove(match)
            left_new.remove(run)
            pairs.append((match, run, run.label))
    for backend in dict.fromkeys(r.backend for r in left_new):
        olds = [o for o in left_old if o.backend == backend]
        news = [n for n in left_new if n.backend == backend]
        if len(olds) == 1 and len(news) == 1:
            o, n = olds[0], news[0]
            left_old.remove(o)
            left_new.remove(n)
            pairs.append((o, n, f"{o.label} -> {n.device_name}"))
            notes.append(f"matched by backend: {o.label} (old) with {n.label} (new)")
    return pairs, left_old, left_new, notes


def _software_notes(old: DeviceRun, new: DeviceRun, name: str) -> list[str]:
    changed = [
        f"{k} {old.software[k]} -> {new.software[k]}"
        for k in old.software
        if k in new.software and isinstance(new.software[k], (str, int, float)) and old.software[k] != new.software[k]
    ]
    return [f"{name}: software changed: " + ", ".join(changed)] if changed else []


def compare_reports(old: BenchReport, new: BenchReport, *, fail_above: float) -> CompareResult:
    if not (0 <= fail_above <= 1):
        raise UsageError(f"fail_above must be between 0 and 1, got {fail_above}")
    pairs, only_old_runs, only_new_runs, notes = _pair_runs(old.runs, new.runs)
    rows: list[CompareRow] = []
    only_old: list[str] = []
    only_new: list[str] = []
    for o_run, n_run, name in pairs:
        notes += _software_notes(o_run, n_run, name)
        old_by_key = {m.spec.key: m for m in o_run.measurements}
        new_keys = set()
        for m in n_run.measurements:
            new_keys.add(m.spec.key)
            if m.spec.key in old_by_key:
                rows.append(_compare_one(name, old_by_key[m.spec.key], m, fail_above))
            else:
                only_new.append(f"{name}: {m.spec.key}")
        only_old += [f"{name}: {k}" for k in old_by_key if k not in new_keys]
    notes += [f"device only in old file: {r.label} ({len(r.measurements)} ops)" for r in only_old_runs]
    notes += [f"device only in new file: {r.label} ({len(r.measurements)} ops)" for r in only_new_runs]
    incomplete = []
    for label, report in (("old", old), ("new", new)):
        if report.complete is not True:
            incomplete.append(label)
            notes.append(f"the {label} file is from an incomplete run")
    differing = sorted(k for k in set(old.config) | set(new.config) if old.config.get(k) != new.config.get(k))
    if differing:
        notes.append("configurations differ in: " + ", ".join(differing))
    return CompareResult(tuple(rows), fail_above, tuple(only_old), tuple(only_new), tuple(notes), tuple(incomplete))


RUN_PREFIXES = ("run:", "#")  # `run:12` (or a quoted "#12", as `history` lists it): run 12 of the history


def run_id(source: object) -> int | None:
    """The history run id that `source` names (`run:12`, `#12`), or None when it names a file. Only these
    prefixes mean a run: a bare `12` stays a file name, so a file and a run can never be confused."""
    text = str(source).strip()
    for prefix in RUN_PREFIXES:
        if text.lower().startswith(prefix):
            number = text[len(prefix):].strip()
            if not number.isdigit():
                raise FailedError(f"cannot compare: {text!r} is not a run id", hint="write run:N, N from `ipex-benchmark history`")
            return int(number)
    return None


def load_for_compare(source, label: str, *, environ=None, history_path=None) -> BenchReport:
    """A results file or a history run (`run:12`) for compare, or FailedError (exit 4: could not compare)
    naming it: unreadable, not ours, a run the history does not hold, or fields of the wrong type
    ("complete": "no", a string for a list, ...)."""
    run = run_id(source)
    if run is not None:
        return _load_run(run, label, environ, history_path)
    path = source
    from .writer import load_report

    try:
        report = load_report(path)
    except IpexError as exc:
        hint = exc.hint
        if str(path).strip().isdigit() and "not found" in exc.message:
            hint = f"for run {str(path).strip()} of the history write run:{str(path).strip()}"
        raise FailedError(f"cannot compare: {exc.message}", hint=hint) from None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise FailedError(f"cannot compare: {path}: malformed results file ({type(exc).__name__}: {exc})",
                          hint=f"the {label} file was not written by ipex-benchmark, or was edited") from None
    problem = _shape_problem(report)
    if problem:
        raise FailedError(f"cannot compare: {path}: malformed results file: {problem}",
                          hint=f"the {label} file was not written by ipex-benchmark, or was edited")
    return report


def _load_run(run: int, label: str, environ, history_path) -> BenchReport:
    import sqlite3
    import zlib

    from ..history import default_path, load_run

    path = Path(history_path) if history_path else default_path(environ)
    if not path.exists():
        raise FailedError(f"cannot compare: run {run}: there is no benchmark history yet ({path})",
                          hint="runs are recorded by `ipex-benchmark run` unless --no-history")
    try:
        report = load_run(run, path=path)
    except IpexError as exc:
        raise FailedError(f"cannot compare: {exc.message}", hint=exc.hint) from None
    except (sqlite3.Error, zlib.error, ValueError, KeyError, TypeError) as exc:
        raise FailedError(f"cannot compare: run {run} of {path} cannot be read ({type(exc).__name__}: {exc})",
                          hint=f"the {label} run's record is damaged; compare its results file instead") from None
    problem = _shape_problem(report)
    if problem:
        raise FailedError(f"cannot compare: run {run} of {path}: {problem}")
    return report


def _shape_problem(report: BenchReport) -> str | None:
    if not isinstance(report.complete, bool):
        return f"'complete' is {report.complete!r}, not true or false"
    for run in report.runs:
        if not (isinstance(run.backend, str) and isinstance(run.device_name, str)):
            return f"a device run's backend or device_name is not text ({run.backend!r}, {run.device_name!r})"
        for m in run.measurements:
            if not isinstance(m.spec.key, str):
                return f"{run.label}: an op has no key"
    return None


def _fmt(value: float | None) -> str:
    return fmt_number(value) if value is not None else "-"


def render_compare(result: CompareResult) -> RenderableType:
    """A table per device (op, old, new with its unit, new/old, change, verdict), then what didn't match."""
    limit = f"{result.fail_above * 100:g}%"
    parts: list[RenderableType] = [Text(f"new vs old; a regression is an op slower by more than {limit}")]
    for device in dict.fromkeys(r.device for r in result.rows):
        # Text, not str: names and keys may hold "[...]", which rich would take for markup
        table = Table(title=Text(device), title_justify="left")
        table.add_column("op", overflow="fold", min_width=16)
        for name in ("old", "new", "new/old", "change"):
            table.add_column(name, justify="right", no_wrap=True)
        table.add_column("verdict", overflow="fold")
        for r in (r for r in result.rows if r.device == device):
            ratio = f"x{r.ratio:.3f}" if r.ratio is not None else "-"
            change = f"{r.change_pct:+.1f}%" if r.change_pct is not None else "-"
            change += " ~" if r.noisy else ""
            verdict = r.verdict + (f": {r.note}" if r.note else "")
            new = f"{_fmt(r.new)} {r.metric}" if r.new is not None else "-"
            cells = (r.key, _fmt(r.old), new, ratio, change)
            table.add_row(*map(Text, cells), Text(verdict, style=_STYLE.get(r.verdict, "")))
        parts.append(table)
    for title, keys in (("only in old file", result.only_old), ("only in new file", result.only_new)):
        if keys:
            parts.append(Text(f"{title}: " + ", ".join(keys), style="dim"))
    parts.extend(Text(f"note: {n}", style="dim") for n in result.notes)
    if any(r.noisy for r in result.rows):
        parts.append(Text("~ noisy: IQR above 10% of the median in one of the files; read its ratio with care",
                          style="yellow"))
    n = len(result.regressions)
    if n:
        parts.append(Text(f"{n} regression{'s' if n != 1 else ''} beyond {limit}", style="bold red"))
    elif result.cannot_compare:
        parts.append(Text(f"could not compare: {result.cannot_compare}", style="bold yellow"))
    else:
        parts.append(Text(f"no regression beyond {limit}", style="green"))
    return Group(*parts)
