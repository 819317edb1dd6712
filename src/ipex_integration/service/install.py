"""Write, remove and inspect our unit files; talk to systemctl through the Runner seam.

A unit file carries `units.MARKER`. A file at our unit's path without it is somebody else's: it is never
overwritten without `force`, and never removed.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

from ..state import atomic_write_text
from ..proc import CommandResult, Runner
from . import ServiceError
from .units import PROGRAMS, UNIT_NAMES, UnitSpec, is_managed, render_unit

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
SYSTEMCTL_TIMEOUT = 30.0


def default_unit_dir(scope: str, environ: Mapping[str, str] | None = None) -> Path:
    """/etc/systemd/system, or the user manager's own unit directory ($XDG_CONFIG_HOME/systemd/user)."""
    if scope == "system":
        return SYSTEM_UNIT_DIR
    environ = os.environ if environ is None else environ
    config = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".config")
    return Path(config) / "systemd" / "user"


@dataclass(frozen=True)
class InstallResult:
    program: str
    unit: str
    path: str
    action: str  # "installed" | "replaced" | "unchanged"; dry runs: "would install" | "would replace" | ...
    text: str
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.action in ("installed", "replaced")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RemoveResult:
    program: str
    unit: str
    path: str
    action: str  # "removed" | "not installed" | "would remove"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class UnitStatus:
    program: str
    unit: str
    scope: str
    path: str
    installed: bool
    managed: bool  # carries our marker
    active: str | None  # `systemctl is-active`: "active", "inactive", "failed", ...; None when unknown
    enabled: str | None  # `systemctl is-enabled`: "enabled", "disabled", ...; None when unknown
    note: str | None = None  # why active/enabled are unknown

    def to_dict(self) -> dict:
        return asdict(self)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ServiceError(f"cannot read {path}: {exc.strerror or exc}") from None


def _denied(path: Path, scope: str, exc: OSError) -> ServiceError:
    hint = (
        "run it as root (sudo), or use --user for a unit of your own systemd, or --dry-run to print the unit"
        if scope == "system"
        else "check the permissions of that directory"
    )
    return ServiceError(f"cannot write {path}: {exc.strerror or exc}", hint=hint)


def install_unit(
    spec: UnitSpec, *, unit_dir: Path, force: bool = False, dry_run: bool = False, notes: Sequence[str] = ()
) -> InstallResult:
    """Render `spec` and write it atomically to unit_dir (mode 0644). A foreign file there is an error
    unless `force`; a dry run checks the same and writes nothing."""
    path = Path(unit_dir) / spec.unit_name
    text = render_unit(spec)
    existing = _read(path)
    if existing is not None and not is_managed(existing) and not force:
        raise ServiceError(
            f"{path} exists and was not written by ipex-integration; not overwriting it",
            hint="pass --force to replace it (its content is lost), or move it away first",
        )
    action = "installed" if existing is None else ("unchanged" if existing == text else "replaced")
    if dry_run:
        return InstallResult(spec.program, spec.unit_name, str(path), f"would be {action}", text, tuple(notes))
    if action != "unchanged":
        try:
            atomic_write_text(path, text, mode=0o644)
        except PermissionError as exc:
            raise _denied(path, spec.scope, exc) from None
        except OSError as exc:
            raise ServiceError(f"cannot write {path}: {exc.strerror or exc}") from None
    return InstallResult(spec.program, spec.unit_name, str(path), action, text, tuple(notes))


def remove_unit(program: str, *, unit_dir: Path, scope: str = "system", dry_run: bool = False) -> RemoveResult:
    """Delete our unit file; a file without our marker is an error (we never delete what we did not write)."""
    _check_program(program)
    unit = UNIT_NAMES[program]
    path = Path(unit_dir) / unit
    existing = _read(path)
    if existing is None:
        return RemoveResult(program, unit, str(path), "not installed")
    if not is_managed(existing):
        raise ServiceError(
            f"{path} was not written by ipex-integration; not removing it",
            hint="remove it yourself if you really mean to",
        )
    if dry_run:
        return RemoveResult(program, unit, str(path), "would remove")
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except PermissionError as exc:
        raise _denied(path, scope, exc) from None
    return RemoveResult(program, unit, str(path), "removed")


def systemctl(args: Sequence[str], *, scope: str, runner: Runner) -> CommandResult:
    argv = ["systemctl", *(["--user"] if scope == "user" else []), *args]
    return runner(argv, timeout=SYSTEMCTL_TIMEOUT)


def _query(result: CommandResult) -> tuple[str | None, str | None]:
    """A one-word answer of `systemctl is-active|is-enabled` (they exit non-zero for "inactive" too)."""
    if result.not_found:
        return None, "systemctl not found"
    if result.timed_out:
        return None, "systemctl timed out"
    word = result.stdout.strip().splitlines()[0].strip() if result.stdout.strip() else ""
    if word and " " not in word:
        return word, None
    message = (result.stderr.strip() or result.stdout.strip() or f"exit status {result.returncode}").splitlines()[0]
    return None, message


def unit_status(program: str, *, scope: str, unit_dir: Path, runner: Runner) -> UnitStatus:
    _check_program(program)
    unit = UNIT_NAMES[program]
    path = Path(unit_dir) / unit
    text = _read(path)
    active, note = _query(systemctl(["is-active", unit], scope=scope, runner=runner))
    enabled, note2 = _query(systemctl(["is-enabled", unit], scope=scope, runner=runner))
    return UnitStatus(
        program, unit, scope, str(path),
        installed=text is not None,
        managed=text is not None and is_managed(text),
        active=active, enabled=enabled, note=note or note2,
    )


def _check_program(program: str) -> None:
    if program not in PROGRAMS:
        raise ServiceError(f"unknown service {program!r}; choose one of: {', '.join(PROGRAMS)}")
