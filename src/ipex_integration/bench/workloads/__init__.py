"""The workload registry: name -> module, imported only when a workload runs (inside the worker), so the
CLI's own process can validate names without importing torch or diffusers."""

from __future__ import annotations

import importlib
from typing import Iterable

from ...errors import UsageError
from ..workload import Workload

# Registry order is run order: cheap ops first, so a quick look at the partial results is useful early.
WORKLOAD_MODULES: dict[str, str] = {
    "tensor": f"{__name__}.tensor",
    "conv": f"{__name__}.conv",
    "sd": f"{__name__}.sd",
}

# Op names of the workloads whose op list is static, for `--only OP` (tests check these match the modules).
KNOWN_OPS: dict[str, tuple[str, ...]] = {
    "tensor": (
        "matmul",
        "bmm",
        "add",
        "mul",
        "gelu",
        "sum",
        "softmax",
        "layer_norm",
        "group_norm",
        "sdpa",
        "sdpa_cross",
        "copy_h2d",
        "copy_d2h",
        "copy_d2d",
    ),
    "conv": ("conv2d",),
    # One UNet-step and one whole-pipeline op per model; which model runs depends on the device and suite
    # (tiny on the CPU, sd15 on GPUs, sdxl in the full suite).
    "sd": tuple(f"{model}_{kind}" for model in ("tiny", "sd15", "sdxl") for kind in ("unet_step", "pipeline")),
}


def workload_names() -> tuple[str, ...]:
    return tuple(WORKLOAD_MODULES)


def get_workload(name: str) -> Workload:
    """The Workload registered under `name` (its module's WORKLOAD, or the one object there named so)."""
    if name not in WORKLOAD_MODULES:
        raise UsageError(f"unknown workload {name!r}; choose from: {', '.join(WORKLOAD_MODULES)}")
    module = importlib.import_module(WORKLOAD_MODULES[name])
    found = getattr(module, "WORKLOAD", None)
    if found is None:
        for value in vars(module).values():
            if getattr(value, "name", None) == name and hasattr(value, "specs") and hasattr(value, "run"):
                found = value() if isinstance(value, type) else value
                break
    if found is None:
        raise UsageError(f"workload module {WORKLOAD_MODULES[name]} defines no workload named {name!r}")
    return found


def split_only(items: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split `--only` items into (workload names, op names); an unknown item is a UsageError listing choices."""
    workloads: list[str] = []
    ops: list[str] = []
    all_ops = {op: w for w, names in KNOWN_OPS.items() for op in names}
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        if item in WORKLOAD_MODULES:
            workloads.append(item)
        elif item in all_ops:
            ops.append(item)
        else:
            raise UsageError(
                f"unknown workload or op {item!r}; workloads: {', '.join(WORKLOAD_MODULES)}; "
                f"ops: {', '.join(all_ops)}"
            )
    return tuple(dict.fromkeys(workloads)), tuple(dict.fromkeys(ops))


def selected_workloads(only: Iterable[str], ops: Iterable[str]) -> tuple[str, ...]:
    """Workloads to run, in registry order: those named, those owning a named op; all when none named."""
    only, ops = tuple(only), tuple(ops)
    if not only and not ops:
        return workload_names()
    owners = {w for w, names in KNOWN_OPS.items() if set(names) & set(ops)}
    return tuple(w for w in WORKLOAD_MODULES if w in only or w in owners)


def op_selected(workload: str, op: str, only: Iterable[str], ops: Iterable[str]) -> bool:
    """Whether one spec's op runs: its whole workload was named, an op of it was, or nothing was."""
    only, ops = tuple(only), tuple(ops)
    if not only and not ops:
        return True
    return workload in only or op in ops
