"""`ipex nodes check`: find CUDA-only code in a node's Python source, so a user knows before running it on an
Intel GPU (or CPU) whether it will work.

Static (ast, nothing is imported or run). It reports:
- cuda-call:   `x.cuda(...)`                                   (moves to a CUDA device, fails elsewhere)
- cuda-device: `device="cuda"`, `torch.device("cuda:0")`, `x.to("cuda")`, `device = "cuda"`
- torch-cuda:  a call to `torch.cuda.*` outside a guard (queries and no-ops such as `is_available()`,
               `manual_seed_all()` and `empty_cache()` are fine without CUDA and not reported)
A guard is the true branch of an `if`/ternary/`and` whose test calls `*.cuda.is_available()` or
`*.cuda.is_initialized()`, reads `.is_cuda`, calls something named `is_nvidia`, or compares with a "cuda..."
string (`device.type == "cuda"`): code there only runs where CUDA is in use. Code under
`if __name__ == "__main__":` is skipped (it never runs when ComfyUI imports a node). Known blind spot: an early
`return` under `if not torch.cuda.is_available():` does not guard the lines after it.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from .model import Finding, ScanReport

# torch.cuda functions that are harmless without CUDA (queries, or no-ops: "silently ignored if CUDA is not
# available"); checked by calling each on a CPU-only torch 2.13. synchronize/current_device/get_device_name raise.
_SAFE_TORCH_CUDA = {"is_available", "is_initialized", "device_count", "is_bf16_supported", "manual_seed",
                    "manual_seed_all", "seed", "seed_all", "empty_cache", "memory_allocated"}
_SKIP_DIRS = {".git", "__pycache__", "node_modules", ".venv", "venv"}


def _dotted(node: ast.AST) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None for anything that is not a plain dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def _is_cuda_string(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and (
        node.value == "cuda" or node.value.startswith("cuda:")
    )


def _is_main_check(test: ast.AST) -> bool:
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


class _Scanner(ast.NodeVisitor):
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.findings: list[tuple[int, int, str, str]] = []
        self.torch_names = {"torch"}  # names bound to the torch module
        self.cuda_names: set[str] = set()  # names bound to torch.cuda
        self.guarded = 0

    # --- imports: follow `import torch as th`, `from torch import cuda` ---
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == "torch":
                self.torch_names.add(alias.asname or "torch")
            elif alias.name == "torch.cuda" and alias.asname:
                self.cuda_names.add(alias.asname)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == "torch":
            for alias in node.names:
                if alias.name == "cuda":
                    self.cuda_names.add(alias.asname or "cuda")

    # --- guards ---
    def _is_guard(self, test: ast.AST) -> bool:
        for sub in ast.walk(test):
            if isinstance(sub, ast.Call):
                name = _dotted(sub.func)
                if name and (name[-2:] in (["cuda", "is_available"], ["cuda", "is_initialized"])
                             or name[-1] in ("is_nvidia", "is_cuda")):
                    return True
            elif isinstance(sub, ast.Attribute) and sub.attr == "is_cuda":
                return True
            elif isinstance(sub, ast.Compare) and any(_is_cuda_string(c) for c in [sub.left, *sub.comparators]):
                return True
        return False

    def _visit_guarded(self, test: ast.AST, body: list[ast.AST], orelse: list[ast.AST]) -> None:
        self.visit(test)
        guard = self._is_guard(test)
        self.guarded += guard
        for stmt in body:
            self.visit(stmt)
        self.guarded -= guard
        for stmt in orelse:
            self.visit(stmt)

    def visit_If(self, node: ast.If) -> None:
        if _is_main_check(node.test):  # script/self-test code: never runs when ComfyUI imports the node
            for stmt in node.orelse:
                self.visit(stmt)
            return
        self._visit_guarded(node.test, node.body, node.orelse)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._visit_guarded(node.test, [node.body], [node.orelse])

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        if isinstance(node.op, ast.And) and node.values and self._is_guard(node.values[0]):
            self._visit_guarded(node.values[0], node.values[1:], [])
        else:
            self.generic_visit(node)

    # --- findings ---
    def _add(self, node: ast.AST, kind: str, message: str) -> None:
        self.findings.append((node.lineno, node.col_offset, kind, message))

    def _is_torch_cuda(self, name: list[str]) -> bool:
        if len(name) >= 3 and name[0] in self.torch_names and name[1] == "cuda":
            return True
        return len(name) >= 2 and name[0] in self.cuda_names

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = _dotted(func)
        if isinstance(func, ast.Attribute) and func.attr == "cuda":
            if not self.guarded:
                self._add(node, "cuda-call", ".cuda() moves to a CUDA device; use the device ComfyUI chose")
        elif name and self._is_torch_cuda(name) and name[-1] not in _SAFE_TORCH_CUDA:
            if not self.guarded:
                self._add(node, "torch-cuda", f"{'.'.join(name)}() is CUDA-only and not behind a CUDA check")
        if isinstance(func, ast.Attribute) and func.attr in ("device", "to") and node.args and _is_cuda_string(node.args[0]):
            if not self.guarded:
                self._add(node, "cuda-device", f"{func.attr}({node.args[0].value!r}) hard-codes a CUDA device")
        for kw in node.keywords:
            if kw.arg == "device" and _is_cuda_string(kw.value) and not self.guarded:
                self._add(kw.value, "cuda-device", f"device={kw.value.value!r} hard-codes a CUDA device")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        if _is_cuda_string(node.value) and not self.guarded:
            for target in node.targets:
                name = _dotted(target)
                if name and name[-1].lower().endswith("device"):
                    self._add(node.value, "cuda-device", f"{'.'.join(name)} = {node.value.value!r} hard-codes a CUDA device")
        self.generic_visit(node)


def scan_source(source: str, filename: str = "<source>") -> list[Finding]:
    lines = source.splitlines()
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        return [Finding(filename, exc.lineno or 0, exc.offset or 0, "syntax-error", "", f"not parsed: {exc.msg}")]
    scanner = _Scanner(lines)
    scanner.visit(tree)
    findings = []
    for line, col, kind, message in sorted(set(scanner.findings)):
        code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        findings.append(Finding(filename, line, col, kind, code, message))
    return findings


def scan_tree(root: Path, name: str | None = None) -> ScanReport:
    """Scan every .py file under `root` (skipping .git, caches and virtual environments)."""
    findings: list[Finding] = []
    files = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for filename in sorted(filenames):
            if not filename.endswith(".py"):
                continue
            path = Path(dirpath) / filename
            rel = path.relative_to(root).as_posix()
            try:
                source = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            files += 1
            findings += scan_source(source, rel)
    return ScanReport(name=name or root.name, root=str(root), files=files, findings=tuple(findings))
