"""ComfyUI's arguments checked by an argparse parser built from the installed version's flag set.

ComfyUI parses its argv with argparse at import, after seconds of start-up, and exits 2 on a bad value. A
parser with the same options, value counts, types, choices and mutually exclusive groups (flags.FlagSet, read
from that version's cli_args.py) refuses the same argv here, before anything starts. Values of a type we
cannot reproduce (a converter function of cli_args.py) are accepted as any string: ComfyUI checks those.
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

from ..errors import UsageError
from .flags import ANY, NONE, ONE, OPTIONAL, SOME, FlagSet, FlagSpec

_TYPES = {"int": int, "float": float}  # argparse names them in its message: "invalid int value: 'x'"
_NARGS = {ONE: None, OPTIONAL: "?", ANY: "*", SOME: "+"}


class _Refused(Exception):
    pass


class _RaisingParser(argparse.ArgumentParser):
    """argparse reports errors by printing and exiting; this one raises, so the caller decides."""

    def error(self, message: str):  # type: ignore[override]
        raise _Refused(message)


def build_parser(flag_set: FlagSet, *, version_label: str) -> argparse.ArgumentParser:
    """An argparse parser that accepts what ComfyUI `version_label`'s parser accepts (values are not kept)."""
    parser = _RaisingParser(prog=f"ComfyUI {version_label}", add_help=False, allow_abbrev=True,
                            conflict_handler="resolve")
    groups: dict[str, Any] = {}
    for spec in flag_set.flags:
        receiver: Any = parser
        if spec.group is not None:
            receiver = groups.setdefault(spec.group, parser.add_mutually_exclusive_group())
        receiver.add_argument(*spec.options, dest=spec.dest, **_argument_kwargs(spec))
    return parser


def _argument_kwargs(spec: FlagSpec) -> dict[str, Any]:
    if spec.values == NONE:
        return {"action": "store_true"}
    kwargs: dict[str, Any] = {"nargs": _NARGS[spec.values]}
    convert = _TYPES.get(spec.type or "")
    if convert is not None:
        kwargs["type"] = convert
    if spec.choices is not None:
        kwargs["choices"] = _typed_choices(spec.choices, convert)
    return kwargs


def _typed_choices(choices: Sequence[str], convert: Any) -> list[Any]:
    """Choices are kept as text; argparse compares them with the converted value."""
    if convert is None:
        return list(choices)
    try:
        return [convert(c) for c in choices]
    except ValueError:
        return list(choices)


def check_argv(argv: Sequence[str], flag_set: FlagSet, *, version_label: str) -> None:
    """UsageError, naming the version, when ComfyUI `version_label` would refuse `argv`."""
    parser = build_parser(flag_set, version_label=version_label)
    try:
        parser.parse_args(list(argv))
    except _Refused as exc:
        raise UsageError(
            f"ComfyUI {version_label} would refuse its arguments: {exc}",
            hint="`ipex comfyui flags` lists the flags the installed ComfyUI accepts and their values",
        ) from None
