"""Show status checks: a rich table for terminals, plain text for pipes and logs, a dict for --json."""

from __future__ import annotations

from typing import Any, Sequence

from ..hardware.model import HardwareReport
from ..plan.model import DevicePlan
from ..plan.vocabulary import where_text
from ..runtime.model import Environment, RuntimeInfo
from .model import Check, Level

_STYLE = {Level.OK: "green", Level.WARNING: "yellow", Level.MISSING: "dim", Level.ERROR: "bold red"}


def verdict(ok: bool, plan: DevicePlan | None, plan_error: str | None) -> str:
    """The last line: can work run on the selected device, and where."""
    if plan is None:
        return f"not usable: {plan_error or 'no device plan'}"
    where = where_text(plan.backend, plan.device_index, plan.device_name)
    if ok:
        return f"usable: work runs on {where} in environment {plan.environment}"
    return f"not usable: {where} in environment {plan.environment} is blocked (rows marked 'blocks' above)"


def to_text(checks: Sequence[Check], final: str) -> str:
    """Plain text, one check per line grouped by section, the fix on its own indented line."""
    lines: list[str] = []
    section = None
    width = max((len(c.name) for c in checks), default=10)
    for check in checks:
        if check.section != section:
            section = check.section
            lines += ["", section] if lines else [section]
        blocks = " [blocks]" if check.blocks_selected_path else ""
        lines.append(f"  {check.level.symbol} {check.level.value:<8} {check.name:<{width}}  {check.detail}{blocks}")
        if check.fix:
            lines.append(f"  {'':10} {'':<{width}}  fix: {check.fix}")
    lines += ["", final]
    return "\n".join(lines)


def print_rich(checks: Sequence[Check], final: str, ok: bool) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_lines=False, expand=True)
    for header, kwargs in (("section", {"no_wrap": True}), ("component", {}), ("status", {"no_wrap": True}),
                           ("detail", {"ratio": 3}), ("fix", {"ratio": 2})):
        table.add_column(header, **kwargs)
    previous = None
    for check in checks:
        style = _STYLE[check.level]
        status = f"[{style}]{check.level.symbol} {check.level.value}[/]"
        if check.blocks_selected_path:
            status += " [bold red](blocks)[/]"
        # escape: details hold brackets ("[N/A]", "Battlemage G21 [Arc B580]") that rich would take as markup
        table.add_row(escape(check.section) if check.section != previous else "", escape(check.name), status,
                      escape(check.detail), escape(check.fix or ""))
        previous = check.section
    console = Console()
    console.print(table)
    console.print(f"[{'green' if ok else 'bold red'}]{escape(final)}[/]", highlight=False)


def to_json(
    checks: Sequence[Check],
    *,
    ok: bool,
    hardware: HardwareReport,
    environments: Sequence[tuple[Environment, RuntimeInfo | None]],
    plan: DevicePlan | None,
    plan_error: str | None,
) -> dict[str, Any]:
    return {
        "usable": ok,
        "plan": plan.to_dict() if plan else None,
        "plan_error": plan_error,
        "checks": [c.to_dict() for c in checks],
        "hardware": hardware.to_dict(),
        "environments": [
            {**env.to_dict(), "runtime": info.to_dict() if info else None} for env, info in environments
        ],
    }
