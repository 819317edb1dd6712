"""Render a fake comfy/cli_args.py from a flag set (flagsets/*.json, written by extract_flagset.py).

The rendered module builds the argparse parser the flag set describes, one literal `add_argument` call per
option (so the production reader, ipex_integration.comfyui.flags, finds them with `ast` as in a real
checkout), creates each mutually exclusive group before its first option, parses sys.argv only when
comfy.options.args_parsing is on, and applies the flag set's post-parse rules. Custom actions come from
comfy/fake_cli_support.py in the fake tree; converter functions are rendered as pass-throughs.
"""

from __future__ import annotations

import json
from pathlib import Path

FLAGSETS = Path(__file__).resolve().parent / "flagsets"

# A flag set's custom action name -> the class of comfy/fake_cli_support.py that stands in for it.
CUSTOM_ACTIONS = {"EnumAction": "EnumValueAction", "VerboseAction": "AppendValuesAction"}
_ARGPARSE_ACTIONS = {
    "store", "store_const", "store_true", "store_false", "append", "append_const", "extend", "count", "help",
    "version", "BooleanOptionalAction",
}


def load_flagset(name: str) -> dict:
    """The flag set in flagsets/`name` (e.g. "v0_3_47.json")."""
    return json.loads((FLAGSETS / name).read_text())


def render_cli_args(data: dict, *, label: str) -> str:
    """Python source of a comfy/cli_args.py that behaves as the flag set `data` says."""
    parse_module, _, parse_flag = data["parse_argv_when"].rpartition(".")
    actions = sorted({a["action"] for a in data["arguments"]} - _ARGPARSE_ACTIONS)
    unknown = [a for a in actions if a not in CUSTOM_ACTIONS]
    if unknown:
        raise ValueError(f"flag set {label}: no stand-in for custom action(s) {unknown}; add one to CUSTOM_ACTIONS")
    out = [
        f'"""Fake comfy/cli_args.py: ComfyUI {label}\'s options, rendered by tests/fakes/comfyui/flagset.py from',
        'a flag set (data only: no help texts, no upstream code)."""',
        "",
        "import argparse",
        "import enum",
        "",
        f"import {parse_module}",
    ]
    out += [f"from comfy.fake_cli_support import {CUSTOM_ACTIONS[a]} as {a}" for a in actions]
    if data["constants"]:
        out.append("")
        out += [f"{name} = {value!r}" for name, value in data["constants"].items()]
    for name, members in data["enums"].items():
        out += ["", "", f"class {name}(enum.Enum):"] + [f"    {member} = {value!r}" for member, value in members]
    for name in data["converters"]:
        out += ["", "", f"def {name}(value):", "    return value  # the upstream checks are not reproduced"]
    out += ["", "", "parser = argparse.ArgumentParser()"]
    groups = {g["id"]: g for g in data["groups"]}
    created: set[str] = set()
    for argument in data["arguments"]:
        group = argument["group"]
        if group is not None and group not in created:
            required = ", required=True" if groups[group]["required"] else ""
            out.append(f"{_variable(group)} = parser.add_mutually_exclusive_group({required.lstrip(', ')})")
            created.add(group)
        receiver = "parser" if group is None else _variable(group)
        out.append(f"{receiver}.add_argument({', '.join(_call_arguments(argument))})")
    out += [
        "",
        f"if {parse_module}.{parse_flag}:",
        "    args = parser.parse_args()",
        "else:",
        "    args = parser.parse_args([])",
    ]
    for rule in data["after_parse"]:
        out.append("")
        out += _render_rule(rule)
    return "\n".join(out) + "\n"


def _variable(group_id: str) -> str:
    if not group_id.isidentifier():
        raise ValueError(f"group id {group_id!r} is not a Python name")
    return group_id


def _call_arguments(argument: dict) -> list[str]:
    parts = [repr(o) for o in argument["options"]]
    action = argument["action"]
    if action != "store":
        parts.append(f"action={action if action in CUSTOM_ACTIONS else repr(action)}")
    if argument["type"] is not None:
        parts.append(f"type={argument['type']}")  # a name: a builtin, an enum or a converter rendered above
    default = argument["default"]
    if isinstance(default, dict) and "constant" in default:
        parts.append(f"default={default['constant']}")
    elif isinstance(default, dict) and "enum" in default:
        parts.append(f"default={default['enum']}.{default['member']}")
    elif isinstance(default, dict) and default.get("computed"):
        pass  # computed upstream (a path from __file__): None here
    elif default != {"store_true": False, "store_false": True}.get(action):
        parts.append(f"default={default!r}")
    for key in ("nargs", "const", "metavar", "choices"):
        if argument[key] is not None:
            parts.append(f"{key}={argument[key]!r}")
    if argument["required"]:
        parts.append("required=True")
    long = [o for o in argument["options"] if o.startswith("--")]
    if argument["dest"] != (long or argument["options"])[0].lstrip("-").replace("-", "_"):
        parts.append(f"dest={argument['dest']!r}")
    return parts


def _render_rule(rule: dict) -> list[str]:
    if "if" in rule:
        return [f"if args.{rule['if']}:"] + [f"    args.{dest} = {value!r}" for dest, value in rule["set"].items()]
    if "as_set" in rule:
        # None (option absent) -> empty set; given without values -> every member; else the values given.
        dest, every = rule["as_set"], rule["empty_means_all_of"]
        return [
            f"if args.{dest} is None:",
            f"    args.{dest} = set()",
            f"elif args.{dest} == []:",
            f"    args.{dest} = set({every})",
            "else:",
            f"    args.{dest} = set(args.{dest})",
        ]
    raise ValueError(f"unknown post-parse rule {rule}")
