"""Everything a status section may look at, gathered once by the caller (the CLI) and passed in.

Sections never probe hardware or interpreters themselves; they only read this (and, for system
libraries and device nodes, ask through `runner`, `root` and `access`), so tests build contexts by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..hardware.model import HardwareReport
from ..plan.model import DevicePlan
from ..proc import Runner, run_command
from ..runtime.model import Environment, RuntimeInfo


def can_read_write(path: Path) -> bool:
    """Whether this process may open `path` for reading and writing (what a render node needs)."""
    return os.access(path, os.R_OK | os.W_OK)


def user_groups() -> tuple[str, ...]:
    """Groups the current user belongs to in the group database, whether or not this login session has
    picked them up yet (after `usermod -aG` the session only sees them after logging in again)."""
    import grp
    import pwd

    try:
        user = pwd.getpwuid(os.getuid())
    except KeyError:
        return ()
    names = {g.gr_name for g in grp.getgrall() if user.pw_name in g.gr_mem}
    try:
        names.add(grp.getgrgid(user.pw_gid).gr_name)
    except KeyError:
        pass
    return tuple(sorted(names))


@dataclass(frozen=True)
class StatusContext:
    hardware: HardwareReport
    environments: Sequence[tuple[Environment, RuntimeInfo | None]] = ()
    plan: DevicePlan | None = None
    plan_error: str | None = None  # why no plan could be made (a SelectionError's message)
    environ: Mapping[str, str] = field(default_factory=dict)
    root: Path = Path("/")  # filesystem root for /dev, /etc, /run (tests point it at a fake tree)
    runner: Runner = run_command
    access: Callable[[Path], bool] = can_read_write  # seam: tests decide which device nodes are accessible
    groups: Callable[[], tuple[str, ...]] = user_groups  # seam: the user's groups from the group database

    def __post_init__(self) -> None:
        object.__setattr__(self, "environments", tuple(self.environments))
        object.__setattr__(self, "root", Path(self.root))
