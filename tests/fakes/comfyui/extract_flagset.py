"""Read a ComfyUI comfy/cli_args.py with `ast` and print its argument facts as JSON (a flag set).

The JSON is data only: every option's strings, dest, type name, default, nargs, const, metavar, action,
choices, required and mutually exclusive group; the constants, enums and converter names the options use
(a default given as a module constant or enum member stays a reference, {"constant": NAME} or
{"enum": NAME, "member": MEMBER}; one computed at import is {"computed": true}); how the
module parses (argv only when comfy.options.args_parsing is on); and the simple fix-ups it makes after
parsing. No code is copied: help texts, function bodies and custom action classes are not read.
`flagset.py` renders a fake cli_args.py from it.

Regenerate the flag sets from a ComfyUI checkout (the commits of `VERSIONS` in __init__.py), e.g. v0.3.47:

    git -C /path/to/ComfyUI show 2f74e179:comfy/cli_args.py > /tmp/cli_args.py
    python tests/fakes/comfyui/extract_flagset.py /tmp/cli_args.py \\
        --source "Comfy-Org/ComfyUI@2f74e17975696d829af455845c584574bbc85774:comfy/cli_args.py (v0.3.47)" \\
        > tests/fakes/comfyui/flagsets/v0_3_47.json

and likewise 63722199 (v0.3.64) -> v0_3_64.json, e44d0ac7 (December 2024) -> dec2024_e44d0ac7.json.
`python extract_flagset.py /path/to/ComfyUI/comfy/cli_args.py` reads a checkout's current file directly.

A statement this reader does not understand stops it with its line number, rather than giving a flag set
that silently differs from ComfyUI's.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

FORMAT = 1
BUILTIN_TYPES = ("str", "int", "float")
_KEYWORDS = ("action", "type", "default", "nargs", "const", "metavar", "choices", "required", "dest", "help")


class ExtractError(Exception):
    pass


def _fail(node: ast.AST, what: str) -> ExtractError:
    return ExtractError(f"line {getattr(node, 'lineno', '?')}: {what}; extend extract_flagset.py")


def _dotted(node: ast.AST) -> str | None:
    """`a.b.c` as text, for Name/Attribute chains only."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _args_attr(node: ast.AST) -> str | None:
    """X for `args.X`."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "args":
        return node.attr
    return None


class _Reader:
    def __init__(self) -> None:
        self.parser: str | None = None
        self.groups: dict[str, dict] = {}  # variable -> {"id", "required"}
        self.constants: dict[str, Any] = {}  # module-level names bound to literals
        self.used_constants: dict[str, Any] = {}  # ... and those a default names
        self.enums: dict[str, list[list[str]]] = {}
        self.functions: set[str] = set()
        self.arguments: list[dict] = []
        self.parse_when: str | None = None
        self.after_parse: list[dict] = []

    # --- before parsing ---

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return  # a docstring
        if isinstance(node, ast.ClassDef):
            self.class_def(node)
        elif isinstance(node, ast.FunctionDef):
            self.functions.add(node.name)  # only its name is used (as a converter)
        elif isinstance(node, ast.Assign):
            self.assign(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and self._is_add_argument(node.value):
            self.add_argument(node.value)
        elif isinstance(node, ast.If) and self.parse_when is None and self._is_parse(node):
            self.parse_when = _dotted(node.test)
        elif isinstance(node, ast.If) and self.parse_when is not None:
            self.after_parse.append(self.fix_up(node))
        else:
            raise _fail(node, f"unexpected {type(node).__name__} statement")

    def class_def(self, node: ast.ClassDef) -> None:
        bases = {_dotted(b) for b in node.bases}
        if bases & {"enum.Enum", "Enum"}:
            members = []
            for item in node.body:
                if isinstance(item, ast.Expr) and isinstance(item.value, ast.Constant):
                    continue
                if not (isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name)
                        and isinstance(item.value, ast.Constant)):
                    raise _fail(item, f"enum {node.name} has a member that is not NAME = literal")
                members.append([item.targets[0].id, item.value.value])
            self.enums[node.name] = members
        elif bases & {"argparse.Action", "Action"}:
            pass  # a custom action: add_argument calls name it; its body is not read
        else:
            raise _fail(node, f"class {node.name} is neither an Enum nor an argparse.Action")

    def assign(self, node: ast.Assign) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            raise _fail(node, "assignment to something other than one name")
        name, value = node.targets[0].id, node.value
        if isinstance(value, ast.Call):
            func = _dotted(value.func)
            if func in ("argparse.ArgumentParser", "ArgumentParser"):
                if value.args or value.keywords:
                    raise _fail(node, "ArgumentParser with arguments")
                self.parser = name
                return
            if func == f"{self.parser}.add_mutually_exclusive_group":
                required = {k.arg: ast.literal_eval(k.value) for k in value.keywords}.get("required", False)
                self.groups[name] = {"id": name, "required": bool(required)}
                return
        try:
            self.constants[name] = ast.literal_eval(value)
        except (ValueError, TypeError):
            pass  # a computed value (a path); a default naming it is recorded as computed

    def _is_add_argument(self, call: ast.Call) -> bool:
        func = call.func
        return (isinstance(func, ast.Attribute) and func.attr == "add_argument" and isinstance(func.value, ast.Name)
                and (func.value.id == self.parser or func.value.id in self.groups))

    def add_argument(self, call: ast.Call) -> None:
        receiver = call.func.value.id
        options = []
        for arg in call.args:
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("-")):
                raise _fail(call, "an add_argument positional that is not an option string")
            options.append(arg.value)
        kw = {}
        for k in call.keywords:
            if k.arg not in _KEYWORDS:
                raise _fail(call, f"add_argument keyword {k.arg!r}")
            kw[k.arg] = k.value
        action = self.action(kw.get("action"))
        long = [o for o in options if o.startswith("--")]
        dest = self.literal(kw["dest"]) if "dest" in kw else (long or options)[0].lstrip("-").replace("-", "_")
        if "default" in kw:
            default = self.default(kw["default"])
        else:
            default = {"store_true": False, "store_false": True}.get(action)
        self.arguments.append({
            "options": options,
            "dest": dest,
            "action": action,
            "type": self.type_name(kw.get("type")),
            "default": default,
            "nargs": self.literal(kw.get("nargs")),
            "const": self.literal(kw.get("const")),
            "metavar": self.literal(kw.get("metavar")),
            "choices": self.literal(kw.get("choices")),
            "required": bool(self.literal(kw.get("required"))),
            "group": self.groups[receiver]["id"] if receiver in self.groups else None,
        })

    def literal(self, node: ast.AST | None) -> Any:
        if node is None:
            return None
        if isinstance(node, ast.Name) and node.id in self.constants:
            return self.constants[node.id]
        try:
            value = ast.literal_eval(node)
        except ValueError:
            raise _fail(node, "a non-literal where a literal is needed") from None
        return list(value) if isinstance(value, tuple) else value

    def action(self, node: ast.AST | None) -> str:
        if node is None:
            return "store"
        if isinstance(node, ast.Name) and node.id not in self.constants:
            return node.id  # a custom Action class (defined or imported by the file)
        value = self.literal(node)
        if not isinstance(value, str):
            raise _fail(node, "an action that is neither a string nor a class name")
        return value

    def type_name(self, node: ast.AST | None) -> str | None:
        if node is None:
            return None
        name = node.id if isinstance(node, ast.Name) else None
        if name in BUILTIN_TYPES or name in self.enums or name in self.functions:
            return name
        raise _fail(node, "a type that is not str/int/float, an enum or a function of this file")

    def default(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Name) and node.id in self.constants:
            self.used_constants[node.id] = self.constants[node.id]
            return {"constant": node.id}  # kept as a name: a reader of the source sees a name, not the value
        dotted = _dotted(node)
        if isinstance(node, ast.Attribute) and dotted and dotted.split(".")[0] in self.enums:
            enum_name, member = dotted.split(".", 1)
            return {"enum": enum_name, "member": member}
        try:
            return self.literal(node)
        except ExtractError:
            return {"computed": True}  # e.g. a path built from __file__: the fake gives None

    # --- parsing and after ---

    def _is_parse(self, node: ast.If) -> bool:
        """`if comfy.options.args_parsing: args = parser.parse_args() else: args = parser.parse_args([])`."""
        def parse_call(body, argv_given: bool) -> bool:
            if len(body) != 1 or not isinstance(body[0], ast.Assign):
                return False
            target, call = body[0].targets[0], body[0].value
            return (isinstance(target, ast.Name) and target.id == "args" and isinstance(call, ast.Call)
                    and _dotted(call.func) == f"{self.parser}.parse_args" and not call.keywords
                    and (call.args == [] if not argv_given else
                         len(call.args) == 1 and isinstance(call.args[0], ast.List) and not call.args[0].elts))
        return (_dotted(node.test) == "comfy.options.args_parsing" and parse_call(node.body, False)
                and parse_call(node.orelse, True))

    def fix_up(self, node: ast.If) -> dict:
        """One post-parse rule: `if args.A: args.B = literal`, or `--fast`'s list-to-set conversion."""
        flag = _args_attr(node.test)
        if flag is not None and not node.orelse:
            sets = {}
            for item in node.body:
                if not (isinstance(item, ast.Assign) and len(item.targets) == 1 and _args_attr(item.targets[0])):
                    raise _fail(item, "a post-parse rule that is not args.X = literal")
                sets[_args_attr(item.targets[0])] = self.literal(item.value)
            return {"if": flag, "set": sets}
        rule = self._as_set(node)
        if rule is None:
            raise _fail(node, "an unknown post-parse rule")
        return rule

    def _as_set(self, node: ast.If) -> dict | None:
        """`if args.X is None: args.X = set() elif args.X == []: args.X = set(E) else: args.X = set(args.X)`."""
        test = node.test
        if not (isinstance(test, ast.Compare) and isinstance(test.ops[0], ast.Is)
                and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value is None):
            return None
        dest = _args_attr(test.left)
        if dest is None or len(node.orelse) != 1 or not isinstance(node.orelse[0], ast.If):
            return None

        def assigned_set(body) -> ast.Call | None:
            if (len(body) == 1 and isinstance(body[0], ast.Assign) and _args_attr(body[0].targets[0]) == dest
                    and isinstance(body[0].value, ast.Call) and _dotted(body[0].value.func) == "set"):
                return body[0].value
            return None

        second = node.orelse[0]
        empty, given, none = assigned_set(second.body), assigned_set(second.orelse), assigned_set(node.body)
        if none is None or none.args or empty is None or given is None:
            return None
        everything = _dotted(empty.args[0]) if len(empty.args) == 1 else None
        is_empty_test = (isinstance(second.test, ast.Compare) and _args_attr(second.test.left) == dest
                         and isinstance(second.test.comparators[0], ast.List) and not second.test.comparators[0].elts)
        if everything not in self.enums or not is_empty_test or [_args_attr(a) for a in given.args] != [dest]:
            return None
        return {"as_set": dest, "empty_means_all_of": everything}


def extract(text: str, *, source: str | None = None, filename: str = "cli_args.py") -> dict:
    tree = ast.parse(text, filename=filename)
    reader = _Reader()
    for node in tree.body:
        reader.statement(node)
    if reader.parser is None or reader.parse_when is None:
        raise ExtractError("no `parser = argparse.ArgumentParser()` or no parse_args switch found")
    used_converters = sorted({a["type"] for a in reader.arguments if a["type"] in reader.functions})
    return {
        "format": FORMAT,
        "source": source,
        "constants": reader.used_constants,
        "enums": reader.enums,
        "converters": used_converters,
        "groups": [g for g in reader.groups.values()],
        "arguments": reader.arguments,
        "parse_argv_when": reader.parse_when,
        "after_parse": reader.after_parse,
    }


def dumps(data: dict) -> str:
    """JSON with one line per key, enum, group and argument: readable, and diffs show what changed."""
    lines = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            inner = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items()]
            text = "{\n" + ",\n".join(inner) + "\n }"
        elif isinstance(value, list) and value:
            text = "[\n" + ",\n".join(f"  {json.dumps(v)}" for v in value) + "\n ]"
        else:
            text = json.dumps(value)
        lines.append(f" {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}"


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("cli_args", type=Path, help="a ComfyUI comfy/cli_args.py")
    cli.add_argument("--source", help="where it came from, e.g. Comfy-Org/ComfyUI@<commit> (v0.3.47)")
    opts = cli.parse_args(argv)
    try:
        data = extract(opts.cli_args.read_text(), source=opts.source, filename=str(opts.cli_args))
    except (ExtractError, SyntaxError, OSError) as exc:
        print(f"extract_flagset: {exc}", file=sys.stderr)
        return 1
    print(dumps(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
