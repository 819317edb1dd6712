"""Intel PCI device id -> family, marketing name, integrated or discrete.

The table lives in data/intel_gpu_ids.toml (with its sources: the kernel's pciids.h and Mesa's
iris_pci_ids.h); this module only loads and looks it up. Loaded once per process, on first use.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources

TABLE_FILE = "intel_gpu_ids.toml"


@dataclass(frozen=True)
class IntelGpuInfo:
    device_id: int
    family: str  # "Arc Alchemist", "Meteor Lake", ...
    codename: str  # kernel/Mesa platform name: "DG2", "MTL", ...
    name: str  # marketing name: "Intel Arc A770 Graphics"
    integrated: bool


def lookup(device_id: int) -> IntelGpuInfo | None:
    """The table's entry for an Intel PCI device id, or None when the id is not in the table."""
    return _table().get(device_id)


def known_ids() -> frozenset[int]:
    return frozenset(_table())


@functools.lru_cache(maxsize=1)
def _table() -> dict[int, IntelGpuInfo]:
    text = resources.files("ipex_integration").joinpath("data", TABLE_FILE).read_text(encoding="utf-8")
    return parse_table(text)


def parse_table(text: str) -> dict[int, IntelGpuInfo]:
    """Parse the TOML table. A duplicate id across families is a bug in the table: fail loudly."""
    data = tomllib.loads(text)
    table: dict[int, IntelGpuInfo] = {}
    for fam in data.get("family", ()):
        names = {int(k, 16): v for k, v in fam.get("names", {}).items()}
        for raw in fam["ids"]:
            device_id = int(raw, 16)
            if device_id in table:
                raise ValueError(f"{TABLE_FILE}: id {raw} listed twice ({table[device_id].family}, {fam['family']})")
            table[device_id] = IntelGpuInfo(
                device_id=device_id,
                family=fam["family"],
                codename=fam.get("codename", ""),
                name=names.get(device_id, fam["default_name"]),
                integrated=bool(fam["integrated"]),
            )
        stray = set(names) - {int(r, 16) for r in fam["ids"]}
        if stray:
            raise ValueError(f"{TABLE_FILE}: names for ids not in {fam['family']}'s ids: {sorted(map(hex, stray))}")
    return table
