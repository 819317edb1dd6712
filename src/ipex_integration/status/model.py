"""One row of the status table. Sections (hardware, drivers, environments, comfyui, nodes, ollama) each
produce a list of these; see status/sections.py for the registry of sections."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Level(str, Enum):
    OK = "ok"
    WARNING = "warning"  # works, but something deserves attention
    MISSING = "missing"  # not installed / not found; may be fine if that path is not used
    ERROR = "error"  # present but broken

    @property
    def symbol(self) -> str:
        return {"ok": "✔", "warning": "!", "missing": "-", "error": "✘"}[self.value]


@dataclass(frozen=True)
class Check:
    section: str  # "GPUs", "Drivers", "Environments", "ComfyUI", "Custom nodes", "Ollama"
    name: str
    level: Level
    detail: str
    fix: str | None = None  # a command or action that fixes it
    blocks_selected_path: bool = False  # True when this problem makes the selected device path unusable

    def to_dict(self) -> dict:
        return {
            "section": self.section,
            "name": self.name,
            "level": self.level.value,
            "detail": self.detail,
            "fix": self.fix,
            "blocks_selected_path": self.blocks_selected_path,
        }
