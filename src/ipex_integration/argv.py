"""Taking our own flags out of a command line that belongs to another program (ComfyUI, ollama).

argparse cannot do this safely: it abbreviates long options and would swallow the other program's flags.
Here only exact spellings count, `--flag value` and `--flag=value` both work, everything else stays in
order, and nothing after a bare `--` is looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Mapping, Sequence

from .errors import UsageError


@dataclass(frozen=True)
class TakenFlag:
    name: str
    value: str | None  # None for a switch
    tokens: tuple[str, ...]  # as the user typed it: ("--x", "1") or ("--x=1",)


def take_flags(
    argv: Sequence[str], *, switches: Collection[str] = (), valued: Mapping[str, str] | None = None
) -> tuple[list[TakenFlag], list[str]]:
    """Split argv into our flags and the rest. `valued` maps each flag that takes a value to how its
    value is named in the error when it is missing ("a directory, e.g. --comfyui ~/ComfyUI")."""
    valued = valued or {}
    taken: list[TakenFlag] = []
    rest: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        if item == "--":
            rest.extend(items[i:])
            break
        name, has_value, value = item.partition("=")
        if name in switches:
            if has_value:
                raise UsageError(f"{name} takes no value (got {item!r})")
            taken.append(TakenFlag(name, None, (item,)))
        elif name in valued:
            if has_value:
                taken.append(TakenFlag(name, value, (item,)))
            else:
                if i + 1 >= len(items):
                    raise UsageError(f"{name} needs {valued[name]}")
                i += 1
                taken.append(TakenFlag(name, items[i], (item, items[i])))
        else:
            rest.append(item)
        i += 1
    return taken, rest
