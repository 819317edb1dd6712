"""`ipex service install|remove|status`: ComfyUI, Ollama or llama.cpp's llama-server as a systemd service, on a
device fixed at install.

The device is decided once, now (the same flags as everywhere: --cpu, --cuda, --force-intel-xpu,
--cuda-device N, --intel-device N); the unit runs the launcher with that decision as explicit flags, or, for
llama-server (`ipex service install llama-server --model FILE.gguf`), llama-server itself with the variables
its build needs for that device.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Callable, Mapping, TextIO

from ..errors import UsageError
from ..plan.flags import add_device_arguments, request_from_args
from ..plan.model import DevicePlan
from ..proc import Runner, run_command
from . import types
from .common import EXIT_NEGATIVE, EXIT_OK, print_json

PROGRAM_CHOICES = ("comfyui", "ollama", "llama-server")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "service",
        help="run ComfyUI, Ollama or llama-server as a systemd service (install, remove, status)",
        description=__doc__,
    )
    sub = parser.add_subparsers(dest="service_command", metavar="COMMAND")
    parser.set_defaults(func=lambda args: _usage(parser))

    install = sub.add_parser(
        "install",
        help="write a systemd unit that runs comfyui-ipex, ollama-ipex or llama-server on the device chosen now",
        description="Decide the device now and write a hardened systemd unit that runs the launcher with it "
        "(llama-server: the binary, with the variables its build needs for that device). "
        "System units go to /etc/systemd/system and run as a named user (--run-as; default: you, or "
        "$SUDO_USER under sudo); --user units go to ~/.config/systemd/user.",
    )
    install.add_argument("program", choices=PROGRAM_CHOICES)
    _scope_arguments(install)
    add_device_arguments(install)
    install.add_argument("--listen", default="127.0.0.1", metavar="ADDR", type=types.listen,
                         help="address to listen on (default 127.0.0.1: this machine only)")
    install.add_argument("--port", type=types.port, default=None, metavar="N",
                         help="port (default: ComfyUI 8188, Ollama 11434, llama-server 8080)")
    install.add_argument("--run-as", metavar="USER", type=types.nonempty, help="system units: the user the service runs as")
    install.add_argument("--comfyui", metavar="DIR", type=types.nonempty, help="ComfyUI checkout to pin (default: the one found now)")
    install.add_argument("--ollama-bin", metavar="PATH", help="ollama binary to pin (default: `ollama` on PATH now)")
    install.add_argument("--model", metavar="FILE.gguf", type=types.nonempty, help="llama-server: the model file to serve")
    install.add_argument("--llama-server", metavar="PATH", type=types.nonempty,
                         help="llama-server: the binary to pin (default: $LLAMA_SERVER, else llama-server on PATH)")
    install.add_argument("--launcher", metavar="PATH", type=types.nonempty, help="the launcher to run (default: beside this ipex)")
    install.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                         help="a variable for the service (repeatable)")
    install.add_argument("--extra-args", action="append", default=[], metavar="'ARGS'",
                         help="more arguments, shell-quoted: ComfyUI flags (--extra-args='--lowvram'), ollama-ipex serve "
                         "options (--extra-args='--timeout 120'; Ollama's own settings are --env OLLAMA_*=...) or "
                         "llama-server flags (--extra-args='--ctx-size 8192')")
    install.add_argument("--force", action="store_true", help="replace a unit file that ipex did not write")
    install.add_argument("--dry-run", action="store_true", help="print the unit and where it would go; write nothing")
    install.add_argument("--no-reload", action="store_true", help="do not run `systemctl daemon-reload`")
    install.add_argument("--json", action="store_true", help="print the result as JSON")
    install.set_defaults(func=cmd_install)

    remove = sub.add_parser("remove", help="stop, disable and delete a unit that ipex wrote (never another one)")
    remove.add_argument("program", choices=PROGRAM_CHOICES)
    _scope_arguments(remove)
    remove.add_argument("--dry-run", action="store_true", help="say what would be removed; change nothing")
    remove.add_argument("--no-reload", action="store_true", help="do not run systemctl (disable, daemon-reload)")
    remove.add_argument("--json", action="store_true", help="print the result as JSON")
    remove.set_defaults(func=cmd_remove)

    status = sub.add_parser("status", help="which units are installed, ours or not, active and enabled")
    status.add_argument("program", nargs="?", choices=PROGRAM_CHOICES, help="one service (default: all)")
    _scope_arguments(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=cmd_status)


def _scope_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", action="store_true", help="a unit of your own systemd (systemctl --user)")
    parser.add_argument("--unit-dir", metavar="DIR", type=types.nonempty,
                        help="unit directory (default: /etc/systemd/system, or ~/.config/systemd/user with --user)")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _scope(args: argparse.Namespace) -> str:
    return "user" if args.user else "system"


def _unit_dir(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[Path, bool]:
    """The unit directory, and whether it is the one systemd reads (only then do we run systemctl)."""
    from ..service.install import default_unit_dir

    if args.unit_dir:
        return Path(args.unit_dir).expanduser(), False
    return default_unit_dir(_scope(args), environ), True


def _systemctl_prefix(scope: str) -> str:
    return "systemctl --user" if scope == "user" else "systemctl"


def cmd_install(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    runner: Runner = run_command,
    resolve: Callable[..., DevicePlan] | None = None,
    machine=None,
    hardware=None,
    out: TextIO | None = None,
) -> int:
    """`hardware` (llama-server only): a HardwareReport instead of probing this machine (a test seam)."""
    from ..service.install import install_unit, systemctl
    from ..service.prepare import (
        ServiceOptions, pin_llama_server, pin_program, prepare_spec, run_as_user, this_machine,
        torch_checked_at_install,
    )
    from ..service.units import parse_environment

    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    machine = machine or this_machine()
    scope = _scope(args)
    try:
        extra = tuple(word for chunk in args.extra_args for word in shlex.split(chunk))
    except ValueError as exc:
        raise UsageError(f"--extra-args: {exc}") from None
    options = ServiceOptions(
        program=args.program, scope=scope, listen=args.listen, port=args.port, extra_args=extra,
        environment=parse_environment(args.env), run_as=args.run_as, comfyui=args.comfyui,
        ollama_bin=args.ollama_bin, launcher=args.launcher, llama_server=args.llama_server, model=args.model,
    )
    _check_program_flags(args)
    unit_dir, live = _unit_dir(args, environ)
    run_as = run_as_user(options, environ, machine)
    request = dataclasses.replace(
        request_from_args(args, environ), needs_torch=torch_checked_at_install(options, run_as, machine)
    )
    if args.program == "llama-server":
        pins, plan = pin_llama_server(options, request, environ=environ, hardware=hardware)
    else:
        pins = pin_program(options, environ=environ, machine=machine, run_as=run_as)  # cheap checks before probing
        if resolve is None:
            from ..plan.resolve import resolve_plan as resolve
        plan = resolve(request, environ=environ)
    spec, notes = prepare_spec(options, plan, pins, environ=environ, machine=machine, run_as=run_as)
    if not request.needs_torch and args.program == "comfyui":
        notes.append(f"the Python environment is chosen when the service starts, from {run_as}'s `ipex env` "
                     "registry; check it with: sudo -u " + str(run_as) + " ipex devices")
    result = install_unit(spec, unit_dir=unit_dir, force=args.force, dry_run=args.dry_run, notes=notes)

    warnings: list[str] = []
    if result.changed and live and not args.no_reload:
        done = systemctl(["daemon-reload"], scope=scope, runner=runner)
        if not done.ok:
            warnings.append(f"systemctl daemon-reload failed: {_first_line(done)}")
    if args.json:
        _emit_json({**result.to_dict(), "scope": scope, "plan": plan.to_dict(), "warnings": warnings}, out)
        return EXIT_OK
    if args.dry_run:
        out.write(f"# {result.path} ({result.action})\n{result.text}")
    else:
        out.write(f"{result.unit} {result.action}: {result.path}\n")
    out.write("\n".join(f"note: {n}" for n in (*result.notes, *warnings)) + ("\n" if result.notes or warnings else ""))
    if not args.dry_run:
        hint = "" if live else "(after copying it into systemd's unit directory) "
        out.write(f"start it {hint}with: {_systemctl_prefix(scope)} enable --now {result.unit}\n")
    return EXIT_OK


def _check_program_flags(args: argparse.Namespace) -> None:
    """Flags of one program given to another are an error, not silently ignored."""
    if args.program != "llama-server":
        for flag, value in (("--model", args.model), ("--llama-server", args.llama_server)):
            if value is not None:
                raise UsageError(f"{flag} goes with `ipex service install llama-server`")
        return
    for flag, value in (("--ollama-bin", args.ollama_bin), ("--launcher", args.launcher), ("--comfyui", args.comfyui)):
        if value is not None:
            raise UsageError(f"{flag} does not go with llama-server: its unit runs the binary itself",
                             hint="pin the binary with --llama-server PATH")


def cmd_remove(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    runner: Runner = run_command,
    out: TextIO | None = None,
) -> int:
    from ..service.install import remove_unit, systemctl

    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    scope = _scope(args)
    unit_dir, live = _unit_dir(args, environ)
    use_systemctl = live and not args.no_reload and not args.dry_run
    warnings: list[str] = []
    # Check ownership before stopping anything: a foreign unit must not even be disabled.
    probe = remove_unit(args.program, unit_dir=unit_dir, scope=scope, dry_run=True)
    if probe.action == "would remove" and use_systemctl:
        done = systemctl(["disable", "--now", probe.unit], scope=scope, runner=runner)
        if not done.ok:
            warnings.append(f"systemctl disable --now failed: {_first_line(done)}")
    result = probe if args.dry_run else remove_unit(args.program, unit_dir=unit_dir, scope=scope)
    if result.action == "removed" and use_systemctl:
        done = systemctl(["daemon-reload"], scope=scope, runner=runner)
        if not done.ok:
            warnings.append(f"systemctl daemon-reload failed: {_first_line(done)}")
    if args.json:
        _emit_json({**result.to_dict(), "scope": scope, "warnings": warnings}, out)
    else:
        out.write(f"{result.unit}: {result.action} ({result.path})\n")
        out.write("".join(f"note: {w}\n" for w in warnings))
    return EXIT_OK if result.action != "not installed" else EXIT_NEGATIVE


def cmd_status(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    runner: Runner = run_command,
    out: TextIO | None = None,
) -> int:
    from ..service.install import unit_status

    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    scope = _scope(args)
    unit_dir, _ = _unit_dir(args, environ)
    programs = [args.program] if args.program else list(PROGRAM_CHOICES)
    rows = [unit_status(p, scope=scope, unit_dir=unit_dir, runner=runner) for p in programs]
    if args.json:
        _emit_json({"scope": scope, "units": [r.to_dict() for r in rows]}, out)
        return EXIT_OK
    for row in rows:
        if not row.installed:
            owner = "not installed"
        else:
            owner = "installed by ipex" if row.managed else "installed, NOT written by ipex"
        state = f"{row.active or 'unknown'}, {row.enabled or 'unknown'}"
        line = f"{row.unit:22} {owner:32} {state}"
        if row.note:
            line += f"  ({row.note})"
        out.write(line.rstrip() + "\n")
    return EXIT_OK


def _first_line(result) -> str:
    text = (result.stderr or result.stdout or f"exit status {result.returncode}").strip()
    return text.splitlines()[0] if text else f"exit status {result.returncode}"


def _emit_json(data: dict, out: TextIO) -> None:
    if out is sys.stdout:
        print_json(data)
    else:
        out.write(json.dumps(data, indent=2, default=str) + "\n")
