"""Results that flow from the nodes library to the CLI and the status section."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum

from ..errors import IpexError, RefusedError


class NodeError(IpexError):
    """Locking, fetching, installing, verifying or removing a custom node failed; the message says what happened."""


class NodeRefusedError(NodeError, RefusedError):
    """Installing or removing would lose something the user has (local edits, a folder ipex did not install);
    exit code 3, as every refusal. `--force` overrides."""


@dataclass(frozen=True)
class LockOutcome:
    name: str
    rev: str
    hash: str
    action: str  # "kept" (already pinned), "locked" (newly resolved/hashed), "updated" (rev changed)
    placeholder: str | None = None  # the placeholder the manifest held ("" for a missing hash)
    previous_rev: str | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EnvRequirements:
    """What installing one node's requirements did in one backend environment."""

    env: str
    python: str
    constraints: tuple[str, ...]  # e.g. ("torch==2.8.0+xpu", ...)
    conflicts: tuple[str, ...] = ()  # `pip check` lines
    skipped: tuple[str, ...] = ()  # torchvision etc. asked for but absent from the environment: left out

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class InstallOutcome:
    name: str
    rev: str
    hash: str
    path: str
    action: str  # "installed", "replaced", "up-to-date"
    requirements: tuple[EnvRequirements, ...] = ()

    @property
    def conflicts(self) -> bool:
        return any(r.conflicts for r in self.requirements)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["requirements"] = [r.to_dict() for r in self.requirements]
        return data


class NodeState(str, Enum):
    OK = "ok"  # installed tree hashes to what was installed
    DRIFT = "drift"  # installed, but files changed since (local edits)
    OUTDATED = "outdated"  # installed intact, but the manifest/lock now pins another revision
    MISSING = "missing"  # recorded as installed, directory gone
    UNMANAGED = "unmanaged"  # a directory in custom_nodes we did not install
    NOT_INSTALLED = "not-installed"


@dataclass(frozen=True)
class VerifyResult:
    name: str
    state: NodeState
    path: str
    expected: str | None = None
    actual: str | None = None
    rev: str | None = None
    detail: str = ""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["state"] = self.state.value
        return data


@dataclass(frozen=True)
class Finding:
    """One CUDA-only construct in a node's Python source."""

    file: str  # relative to the scanned directory
    line: int
    col: int
    kind: str  # "cuda-call" | "cuda-device" | "torch-cuda" | "syntax-error"
    code: str  # the source line, stripped
    message: str = ""

    def location(self) -> str:
        return f"{self.file}:{self.line}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ScanReport:
    name: str
    root: str
    files: int
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {"name": self.name, "root": self.root, "files": self.files,
                "findings": [f.to_dict() for f in self.findings]}
