"""Package layering: no import cycle between the packages of src/ipex_integration (bench and ollama
imported each other once), read from the source with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ipex_integration"


def _package_of(module: Path) -> str:
    parts = module.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def _imported_packages(path: Path) -> set[str]:
    """The top-level ipex_integration packages `path` imports (relative and absolute imports)."""
    depth = len(path.relative_to(SRC).parts)  # ".." from a package module reaches ipex_integration
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names = [node.module or ""]
            elif node.level == depth:  # from ..X import ... / from .. import X
                names = [node.module] if node.module else [a.name for a in node.names]
            else:
                continue  # inside its own package
            for name in names:
                if node.level == 0 and not name.startswith("ipex_integration."):
                    continue
                found.add(name.removeprefix("ipex_integration.").split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("ipex_integration."))
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        own = _package_of(path)
        graph.setdefault(own, set()).update(p for p in _imported_packages(path) if p != own)
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


def test_the_graph_is_read():
    graph = package_graph()
    assert "plan" in graph["comfyui"] and "bench" in graph["up"]  # the reader sees real imports


def test_no_import_cycle_between_bench_ollama_and_up():
    graph = package_graph()
    for a, b in (("bench", "ollama"), ("bench", "up"), ("ollama", "up")):
        assert not (_reaches(graph, a, b) and _reaches(graph, b, a)), f"{a} and {b} import each other"


def test_no_two_packages_import_each_other():
    graph = package_graph()
    cycles = [(a, b) for a in graph for b in graph if a < b and _reaches(graph, a, b) and _reaches(graph, b, a)]
    assert cycles == []


def test_a_cycle_is_found():
    assert _reaches({"a": {"b"}, "b": {"a"}}, "a", "b") and _reaches({"a": {"b"}, "b": {"a"}}, "b", "a")
