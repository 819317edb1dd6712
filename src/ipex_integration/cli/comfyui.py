"""`comfyui-ipex` / `comfyui-cuda` / `comfyui-xpu` (ComfyUI on the chosen device) and `ipex comfyui ...`.

The launchers take our flags out of the command line (GPU selection, see --help-gpu; --dry-run [--json];
--disable-ipex; --comfyui DIR) and pass everything else to ComfyUI unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Callable, Mapping, Sequence, TextIO

from ..argv import take_flags
from ..errors import UsageError
from ..plan.flags import DeviceFlags, split_device_flags
from ..plan.model import DevicePlan, DeviceRequest
from ..plan.vocabulary import BACKEND_CHOICES, FORCE_FLAG, LONG_NAME, backend_of_flag, priority_text
from ..runtime.model import Backend
from . import types
from .common import EXIT_OK, print_json, run_cli, warn_if_exposed

Resolver = Callable[..., DevicePlan]

LAUNCHER_USAGE = """\
usage: {prog} [GPU selection flags] [--dry-run [--json]] [--disable-ipex] [--comfyui DIR] [ComfyUI flags ...]

{what}
  --help-gpu        the GPU selection flags (--cpu, --cuda, --force-intel-xpu, --cuda-device N, --intel-device N,
                    --igpu, --fallback) and variables
  --dry-run         print the device plan, interpreter, environment and command; start nothing (--json: as JSON)
  --disable-ipex    never import intel_extension_for_pytorch (discontinued upstream)
  --comfyui DIR     the ComfyUI checkout (default: $COMFYUI_PATH, else the one `ipex comfyui install|use` registered)
Every other flag goes to ComfyUI unchanged; ComfyUI's own help follows.
"""
_WHAT = {
    "comfyui-ipex": f"Start ComfyUI on the best device here: {priority_text(LONG_NAME, ', else ')}.",
    "comfyui-cuda": "Start ComfyUI on an NVIDIA GPU (CUDA), even where an Intel GPU is present.",
    "comfyui-xpu": "Start ComfyUI on an Intel GPU (XPU), even where an NVIDIA GPU is present.",
}
# The backend flag each launcher implies, and the backend it forces.
_FORCED = {prog: (FORCE_FLAG[backend], backend) for prog, backend in
           (("comfyui-cuda", Backend.CUDA), ("comfyui-xpu", Backend.XPU))}


def main_auto(argv: Sequence[str] | None = None) -> int:
    return launcher_main("comfyui-ipex", argv)


def main_cuda(argv: Sequence[str] | None = None) -> int:
    return launcher_main("comfyui-cuda", argv)


def main_xpu(argv: Sequence[str] | None = None) -> int:
    return launcher_main("comfyui-xpu", argv)


def launcher_main(
    prog: str,
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    resolve: Resolver | None = None,
    out: TextIO | None = None,
) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_cli(lambda: launch(prog, argv, environ=environ, resolve=resolve, out=out), prog=prog)


@dataclasses.dataclass(frozen=True)
class LauncherFlags:
    comfyui: str | None = None
    disable_ipex: bool = False


def split_launcher_flags(argv: Sequence[str]) -> tuple[LauncherFlags, list[str]]:
    """Take --comfyui DIR / --comfyui=DIR and --disable-ipex out of argv (up to a bare `--`)."""
    taken, rest = take_flags(
        argv, switches=("--disable-ipex",), valued={"--comfyui": "a directory, e.g. --comfyui ~/ComfyUI"}
    )
    comfyui = next((f.value for f in reversed(taken) if f.name == "--comfyui"), None)
    if comfyui is not None and not comfyui.strip():
        raise UsageError("--comfyui must not be empty", hint="e.g. --comfyui ~/ComfyUI")
    return LauncherFlags(comfyui, any(f.name == "--disable-ipex" for f in taken)), rest


def _apply_forced(prog: str, flags: DeviceFlags) -> DeviceFlags:
    if prog not in _FORCED:
        return flags
    forced_flag, backend = _FORCED[prog]
    for flag in flags.backend_flags:
        if backend_of_flag(flag) is not backend:
            raise UsageError(
                f"{prog} always runs on {backend.name}; {flag} asks for {backend_of_flag(flag).name}",
                hint=f"drop {flag}, or use comfyui-ipex {flag}",
            )
    return dataclasses.replace(flags, backend_flags=(forced_flag, *flags.backend_flags))


def _request(prog: str, flags: DeviceFlags, environ: Mapping[str, str]) -> DeviceRequest:
    request = flags.to_request(environ)
    if prog in _FORCED:
        request = dataclasses.replace(request, source=prog)
    return request


def launch(
    prog: str,
    argv: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    resolve: Resolver | None = None,
    out: TextIO | None = None,
) -> int:
    from ..comfyui.launch import run
    from ..comfyui.prepare import prepare_launch

    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    launcher, rest = split_launcher_flags(argv)
    device_flags, passthrough = split_device_flags(rest)
    device_flags = _apply_forced(prog, device_flags)
    if device_flags.help_gpu:
        from ..plan.helpgpu import HELP_GPU

        out.write(HELP_GPU.rstrip("\n") + "\n")
        return EXIT_OK
    if device_flags.json and not device_flags.dry_run:
        raise UsageError("--json only goes with --dry-run", hint=f"{prog} --dry-run --json")
    wants_help = any(a in ("-h", "--help") for a in passthrough)
    if wants_help:
        out.write(LAUNCHER_USAGE.format(prog=prog, what=_WHAT[prog]) + "\n")
        out.flush()

    prepared = prepare_launch(lambda: _request(prog, device_flags, environ), passthrough,
                              comfyui=launcher.comfyui, prog=prog, disable_ipex=launcher.disable_ipex,
                              environ=environ, resolve=resolve)
    warn_if_exposed(prog, prepared.spec.listen)
    if device_flags.dry_run:
        if device_flags.json:
            data = prepared.to_dict()
            if out is sys.stdout:
                print_json(data)
            else:
                import json

                out.write(json.dumps(data, indent=2, default=str) + "\n")
        else:
            out.write(dry_run_text(prepared.checkout, prepared.plan, prepared.spec) + "\n")
        return EXIT_OK
    return run(prepared.spec, check_port=not wants_help)  # --help prints and exits: it listens on nothing


def dry_run_text(checkout, plan: DevicePlan, spec) -> str:
    lines = [f"comfyui:     {checkout.path} (version {checkout.label}, {checkout.found_by})"]
    lines += plan.to_text().splitlines()
    lines.append(f"interpreter: {plan.python}")
    lines.append(f"cwd:         {spec.cwd}")
    lines.append(f"listen:      {spec.listen} port {spec.port}")
    lines += [f"flags:       {note}" for note in spec.notes]
    lines.append(f"command:     {spec.command}")
    return "\n".join(lines)


# --- ipex comfyui install|use|flags|requirements ------------------------------------------------------------


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "comfyui",
        help="install ComfyUI, register a checkout, show its flags",
        description="Install ComfyUI or register an existing checkout; start it with comfyui-ipex/-cuda/-xpu.",
    )
    sub = parser.add_subparsers(dest="comfyui_command", metavar="COMMAND")
    parser.set_defaults(func=lambda args: _usage(parser))

    install = sub.add_parser(
        "install",
        help="clone ComfyUI and install its requirements into the backend environments",
        description="Clone ComfyUI (default: its newest release), install requirements.txt into the backend "
        "environments without replacing their torch, and register the checkout.",
    )
    install.add_argument("--dir", type=types.nonempty, help="where to put it (default: the data dir's ComfyUI/); must not exist or be empty")
    install.add_argument("--ref", help="release tag, branch or commit (default: the newest vX.Y.Z tag)")
    install.add_argument("--repo", default=None, help="git URL (file:// and local paths work; default: Comfy-Org/ComfyUI)")
    _backend_argument(install)
    install.add_argument("--no-requirements", action="store_true", help="only clone and register")
    install.add_argument("--json", action="store_true", help="print the result as JSON")
    install.set_defaults(func=cmd_install)

    use = sub.add_parser("use", help="register an existing ComfyUI checkout", description="Register DIR as the ComfyUI to launch.")
    use.add_argument("dir", metavar="DIR", type=types.nonempty)
    use.add_argument("--json", action="store_true", help="print the registered checkout as JSON")
    use.set_defaults(func=cmd_use)

    flags = sub.add_parser("flags", help="the flags the installed ComfyUI accepts (from its comfy/cli_args.py)")
    flags.add_argument("--comfyui", metavar="DIR", type=types.nonempty, help="the checkout (default: the registered one)")
    flags.add_argument("--json", action="store_true", help="print JSON")
    flags.set_defaults(func=cmd_flags)

    req = sub.add_parser(
        "requirements",
        help="install the checkout's requirements into backend environments (torch kept)",
    )
    req.add_argument("--comfyui", metavar="DIR", type=types.nonempty, help="the checkout (default: the registered one)")
    req.add_argument(
        "--backend", choices=(*BACKEND_CHOICES, "all", "current"), default="all",
        help="environment(s) to install into (default: all registered; current: the interpreter running ipex)",
    )
    req.set_defaults(func=cmd_requirements)


def _backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=(*BACKEND_CHOICES, "all"), default="all",
        help="environment(s) to install the requirements into (default: all registered)",
    )


def _backends(choice: str) -> list[Backend] | None:
    return None if choice == "all" else [Backend.parse(choice)]


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _say(message: str) -> None:
    print(f"ipex comfyui: {message}", file=sys.stderr, flush=True)


def cmd_install(args: argparse.Namespace) -> int:
    from ..comfyui.install import DEFAULT_REPO, install

    result = install(
        target=args.dir,
        repo=args.repo or DEFAULT_REPO,
        ref=args.ref,
        backends=_backends(args.backend),
        requirements=not args.no_requirements,
        progress=None if args.json else _say,
    )
    if args.json:
        print_json(result.to_dict())
        return EXIT_OK
    print(f"installed ComfyUI {result.checkout.label} ({result.ref}, {result.commit[:10]}) in {result.checkout.path}")
    for req in result.requirements:
        kept = ", ".join(f"{k} {v}" for k, v in req.pinned.items())
        print(f"requirements installed into {req.environment} ({kept} kept)")
    for note in result.notes:
        print(f"note: {note}")
    print("start it with: comfyui-ipex  (or comfyui-cuda / comfyui-xpu; --dry-run shows the plan)")
    return EXIT_OK


def cmd_use(args: argparse.Namespace) -> int:
    from ..comfyui.checkout import inspect_checkout, register_checkout

    checkout = inspect_checkout(args.dir, found_by="registered", with_commit=True)
    register_checkout(checkout)
    if args.json:
        print_json(checkout.to_dict())
    else:
        print(f"registered ComfyUI {checkout.label} at {checkout.path}")
    return EXIT_OK


def cmd_flags(args: argparse.Namespace) -> int:
    from ..comfyui.checkout import find_checkout
    from ..comfyui.flags import read_flag_set

    checkout = find_checkout(args.comfyui)
    flag_set = read_flag_set(checkout.path, version=checkout.version)
    if args.json:
        print_json({"comfyui": checkout.to_dict(), **flag_set.to_dict()})
        return EXIT_OK
    print(f"ComfyUI {checkout.label} at {checkout.path}: {len(flag_set.flags)} flags")
    for flag in flag_set.flags:
        value = {"none": "", "one": " VALUE", "optional": " [VALUE]", "any": " [VALUE ...]", "some": " VALUE [...]"}[flag.values]
        group = f"  (one of group {flag.group})" if flag.group else ""
        print(f"  {', '.join(flag.options)}{value}{group}")
    return EXIT_OK


def cmd_requirements(args: argparse.Namespace) -> int:
    from ..comfyui.checkout import find_checkout
    from ..comfyui.install import (
        install_requirements,
        missing_torch_note,
        registered_environments,
        select_environments,
    )

    checkout = find_checkout(args.comfyui)
    if args.backend == "current":
        from ..runtime.registry import current_environment

        envs = [current_environment()]
    else:
        envs = select_environments(_backends(args.backend), registered_environments(None))
    for env in envs:
        result = install_requirements(checkout.path, env, progress=_say)
        kept = ", ".join(f"{k} {v}" for k, v in result.pinned.items())
        print(f"requirements installed into {result.environment} ({kept} kept)")
        for note in missing_torch_note(result):
            print(f"note: {note}")
    return EXIT_OK
