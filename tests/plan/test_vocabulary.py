"""The one device vocabulary (plan/vocabulary.py), and the one priority table: the order CUDA, XPU, CPU is
written in plan/policy.py's PRIORITY and nowhere else in src/ (help texts derive it)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ipex_integration.errors import UsageError
from ipex_integration.hardware.model import HardwareReport
from ipex_integration.plan import vocabulary as v
from ipex_integration.plan.policy import PRIORITY
from ipex_integration.runtime.model import Backend

SRC = Path(__file__).resolve().parents[2] / "src" / "ipex_integration"
POLICY = SRC / "plan" / "policy.py"

_WORDS = {"cuda": Backend.CUDA, "nvidia": Backend.CUDA, "xpu": Backend.XPU, "intel": Backend.XPU, "cpu": Backend.CPU}
# Prose: a backend word, a "comes before" word, the next, and so on: "CUDA > Intel XPU > CPU",
# "NVIDIA CUDA, else Intel XPU, else CPU", "cuda then xpu then cpu".
_STEP = r"[^.\n]{0,25}?(?:>|\belse\b|\bthen\b|\bbefore\b|->)[^.\n]{0,25}?"
_PROSE = re.compile(rf"(?:CUDA|NVIDIA){_STEP}(?:XPU|Intel){_STEP}CPU", re.IGNORECASE)


def _backend_of(node: ast.expr) -> Backend | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Backend":
        return _WORDS.get(node.attr.lower())
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _WORDS.get(node.value.strip().lower())
    return None


def restatements(text: str, filename: str) -> list[str]:
    """Where `text` writes the priority order: a tuple/list whose backend elements are the three in that
    order, or prose that chains them with '>', 'else', 'then', 'before'."""
    found = []
    for node in ast.walk(ast.parse(text, filename=filename)):
        if isinstance(node, (ast.Tuple, ast.List)):
            named = [b for b in map(_backend_of, node.elts) if b is not None]
            if named == list(PRIORITY):
                found.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
    for number, line in enumerate(text.splitlines(), 1):
        if _PROSE.search(line):
            found.append(f"{filename}:{number}: {line.strip()}")
    return found


def test_the_order_is_written_only_in_priority():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        found += restatements(path.read_text(), str(path.relative_to(SRC)))
    assert len(found) == 1 and found[0].startswith("plan/policy.py:"), "\n".join(found)
    line = int(found[0].split(":")[1])
    assert POLICY.read_text().splitlines()[line - 1].startswith("PRIORITY"), found[0]


@pytest.mark.parametrize("text", [
    'CHOICES = ("auto", "cuda", "xpu", "cpu")',
    "ORDER = [Backend.CUDA, Backend.XPU, Backend.CPU]",
    'HELP = "default: auto (CUDA > Intel XPU > CPU)"',
    'HELP = "NVIDIA CUDA, else Intel XPU, else CPU"',
    "# we try nvidia then intel then cpu",
])
def test_a_restatement_is_found(text):
    assert restatements(text, "x.py")


@pytest.mark.parametrize("text", [
    'CHOICES = ("cpu", "cuda", "xpu")',  # alphabetical: not the order
    "ORDER = (Backend.XPU, Backend.CUDA)",
    'HELP = "CUDA or XPU; CPU as a last resort is up to you"',
])
def test_other_lists_are_not(text):
    assert restatements(text, "x.py") == []


def test_choices_and_help_follow_priority():
    assert v.DEVICE_CHOICES == ("auto", *(b.value for b in PRIORITY))
    assert v.priority_text() == " > ".join(b.name for b in PRIORITY)
    from ipex_integration.plan.helpgpu import HELP_GPU

    assert v.priority_text(v.HELP_NAME) in HELP_GPU


@pytest.mark.parametrize(("text", "spec"), [
    ("auto", None), ("cpu", v.DeviceSpec(Backend.CPU)), ("CUDA:1", v.DeviceSpec(Backend.CUDA, 1)),
    (" xpu ", v.DeviceSpec(Backend.XPU)), ("intel:2", v.DeviceSpec(Backend.XPU, 2)), ("nvidia", v.DeviceSpec(Backend.CUDA)),
])
def test_device_specs(text, spec):
    assert v.parse_device_spec(text, "--device") == spec


@pytest.mark.parametrize("text", ["", "gpu", "cuda:", "cuda:x", "cpu:0", "xpu:-1", "cuda:1:2"])
def test_bad_device_specs_name_the_flag(text):
    with pytest.raises(UsageError, match=r"--ollama-device .*expected auto, cpu, cuda, cuda:N"):
        v.parse_device_spec(text, "--ollama-device")


def test_backend_flags_and_where_text():
    assert {v.backend_of_flag(f) for f in ("--cuda", "--force-intel-xpu", "--xpu", "--cpu")} == set(Backend)
    assert all(v.backend_of_flag(flag) is b for b, flag in v.FORCE_FLAG.items())
    assert v.where_text(Backend.CUDA, 1, "NVIDIA H100") == "CUDA device 1 (NVIDIA H100)"
    assert v.where_text(Backend.CPU) == "CPU"


def test_suggested_backend_is_the_first_present_in_priority():
    from tests.plan.machines import MACHINES

    assert v.suggested_backend(MACHINES["nvidia_arc"]) is PRIORITY[0]
    assert v.suggested_backend(HardwareReport()) is Backend.CPU
