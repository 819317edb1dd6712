"""Helpers for the fake comfy/cli_args.py that tests/fakes/comfyui/flagset.py renders (not part of ComfyUI).

Stands in for the custom pieces of ComfyUI's argument parser: an option whose value is the member of an
Enum with that value (ComfyUI's `--preview-method`).
"""

import argparse


class EnumValueAction(argparse.Action):
    """Store `enum_type(value)`; the choices (and the metavar shown in --help) are the enum's values."""

    def __init__(self, option_strings, dest, type=None, **kwargs):  # noqa: A002 - argparse's keyword
        if type is None:
            raise ValueError(f"{dest}: EnumValueAction needs type=<an Enum>")
        values = [member.value for member in type]
        kwargs.setdefault("choices", values)
        kwargs.setdefault("metavar", "[" + ",".join(values) + "]")
        super().__init__(option_strings, dest, **kwargs)
        self.enum_type = type

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, self.enum_type(values))


class AppendValuesAction(argparse.Action):
    """Append the option's values (a list, nargs='*') to the list under `dest`: ComfyUI 0.38's `--verbose`,
    which may be given several times, each with no value, a LEVEL, or LEVEL FILE."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, [*getattr(namespace, self.dest, []), tuple(values)])
