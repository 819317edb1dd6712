"""`ipex env`: one Python environment per backend (cuda, xpu, cpu): list, add, create, check, remove."""

from __future__ import annotations

import argparse
import sys

from ..errors import EnvironmentSetupError, UsageError
from ..runtime.model import Backend, Environment, RuntimeInfo
from . import common, types

IPEX_NOTE = "IPEX {v} is installed: discontinued upstream after 2.8; torch.xpu replaces it (not required)"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "env",
        help="manage the Python environment of each backend (cuda, xpu, cpu)",
        description="One Python environment per backend: official torch wheels are built for one backend only.",
    )
    parser.set_defaults(func=lambda args: _no_subcommand(parser))
    sub = parser.add_subparsers(dest="env_command", metavar="SUBCOMMAND")

    p = sub.add_parser("list", help="list the environments and what their torch can do")
    p.add_argument("--json", action="store_true", help="print JSON")
    _timeout_option(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("add", help="register an existing Python interpreter for a backend")
    p.add_argument("backend", metavar="BACKEND", help="cuda, xpu or cpu")
    p.add_argument("python", metavar="PYTHON", help="path of the interpreter (e.g. /opt/venv/bin/python)")
    p.add_argument("--force", action="store_true", help="register it even if its torch does not fit the backend")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("create", help="create a venv with the backend's torch build, verify it, register it")
    p.add_argument("backend", metavar="BACKEND", help="cuda, xpu or cpu")
    p.add_argument("--index-url", metavar="URL", help="wheel index for torch (default: PyTorch's for the backend)")
    p.add_argument("--find-links", metavar="DIR", help="folder of wheels; without --index-url, install offline")
    p.add_argument("--python", metavar="PY", default=sys.executable, type=types.nonempty, help="interpreter to base the venv on")
    p.add_argument("--target", metavar="DIR", type=types.nonempty, help="where to create it (default: <data dir>/envs/BACKEND)")
    p.add_argument(
        "--package",
        metavar="REQ",
        action="append",
        default=[],
        help="also install this (repeatable; torchvision/torchaudio come from the torch index)",
    )
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("check", help="probe and verify the registered environments (exit 1 on a problem)")
    p.add_argument("backend", metavar="BACKEND", nargs="?", help="only this backend")
    p.add_argument("--json", action="store_true", help="print JSON")
    _timeout_option(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("remove", help="unregister a backend's environment (its files stay)")
    p.add_argument("backend", metavar="BACKEND", help="cuda, xpu or cpu")
    p.set_defaults(func=cmd_remove)


def _timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", metavar="S", type=types.positive_seconds, default=30.0, help="seconds to wait for each probe (default 30)"
    )


def _no_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return common.EXIT_USAGE


# --- helpers -------------------------------------------------------------------------------------------------


def _hardware():
    from ..hardware.probe import probe_hardware

    return probe_hardware()


def _summary(info: RuntimeInfo) -> str:
    if not info.ok:
        return f"{'MISSING' if _missing(info) else 'ERROR'} ({info.error})"
    if info.torch_error:
        return f"torch broken ({info.torch_error})"
    if not info.has_torch:
        return "no torch"
    parts = [f"torch {info.torch_version}"]
    devices = [f"{d.backend.value}:{d.index} {d.name}" for d in info.devices]
    parts.append(", ".join(devices) if devices else "CPU only")
    if info.ipex_version:
        parts.append(f"IPEX {info.ipex_version} (discontinued)")
    return "  ".join(parts)


def _env_row(env: Environment, info: RuntimeInfo) -> dict:
    return {**env.to_dict(), "runtime": info.to_dict()}


# --- commands ------------------------------------------------------------------------------------------------


def cmd_list(args) -> int:
    """List registered environments and the current interpreter, with what each one's torch can do."""
    from ..runtime.probe import probe_runtimes
    from ..runtime.registry import load_registry

    registry = load_registry()
    envs = list(registry.environments())
    rows = list(zip(envs, probe_runtimes([env.python for env in envs], timeout=args.timeout)))  # one deadline
    if args.json:
        common.print_json(
            {"registry": str(registry.path), "environments": [_env_row(env, info) for env, info in rows]}
        )
        return common.EXIT_OK
    width = max(len(env.name) for env, _ in rows)
    for env, info in rows:
        print(f"{env.name:<{width}}  {env.python}")
        print(f"{'':<{width}}  {_summary(info)}")
    if not registry.entries:
        print("no backend environment registered yet: `ipex env create cuda|xpu|cpu` or `ipex env add`")
    print(f"registry: {registry.path}")
    return common.EXIT_OK


def cmd_add(args) -> int:
    """Register PYTHON for BACKEND after checking that its torch fits the backend."""
    from ..runtime.probe import probe_runtime
    from ..runtime.registry import load_registry
    from ..runtime.verify import verify_environment

    backend = Backend.parse(args.backend)
    registry = load_registry()  # a corrupt registry fails here, before anything is probed
    info = probe_runtime(args.python, use_cache=False)
    if not info.ok:
        raise UsageError(f"{args.python} is not a usable Python interpreter: {info.error}")
    problems = verify_environment(backend, info, _hardware())
    if problems and not args.force:
        raise EnvironmentSetupError(
            f"refusing to register {args.python} as the {backend.value} environment: {problems[0]}",
            hint=f"`ipex env create {backend.value}` makes a fitting one; --force registers it anyway",
        )
    previous = registry.get(backend)
    env = registry.add(backend, args.python)
    registry.save()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    replaced = f" (replacing {previous.python})" if previous and previous.python != env.python else ""
    print(f"registered {env.python} as the {backend.value} environment{replaced}: {_summary(info)}")
    return common.EXIT_OK


def cmd_create(args) -> int:
    """Create a venv for BACKEND with torch from its wheel index, verify it and register it."""
    from ..runtime.create import create_environment

    backend = Backend.parse(args.backend)
    import shutil

    if shutil.which(args.python) is None:  # before any folder is made or any progress printed
        raise UsageError(f"--python {args.python}: no such interpreter (or it is not executable)",
                         hint="pass the path of a Python 3.11 or newer, e.g. --python /usr/bin/python3")
    env = create_environment(
        backend,
        target_dir=args.target,
        index_url=args.index_url,
        find_links=args.find_links,
        extra_packages=tuple(args.package),
        python=args.python,
        progress=lambda message: print(f"ipex env create: {message}", file=sys.stderr, flush=True),
    )
    print(f"created the {backend.value} environment: {env.python}")
    return common.EXIT_OK


def cmd_check(args) -> int:
    """Probe each registered environment afresh and verify its torch against this machine's GPUs."""
    from ..runtime.probe import probe_runtime
    from ..runtime.registry import load_registry
    from ..runtime.verify import verify_environment

    registry = load_registry()
    envs = registry.environments(include_current=False)
    if args.backend:
        backend = Backend.parse(args.backend)
        envs = [e for e in envs if e.backend is backend]
        if not envs:
            raise UsageError(
                f"no {backend.value} environment is registered",
                hint=f"`ipex env create {backend.value}` or `ipex env add {backend.value} PYTHON`",
            )
    if not envs:
        print("no backend environment registered: `ipex env create cuda|xpu|cpu` or `ipex env add`", file=sys.stderr)
        return common.EXIT_NEGATIVE
    hardware = _hardware()
    results = []
    for env in envs:
        info = probe_runtime(env.python, timeout=args.timeout, use_cache=False)
        problems = verify_environment(env.backend, info, hardware)
        notes = [IPEX_NOTE.format(v=info.ipex_version)] if info.ipex_version else []
        results.append((env, info, problems, notes))
    failed = any(problems for _, _, problems, _ in results)
    if args.json:
        common.print_json(
            {
                "ok": not failed,
                "environments": [
                    {**_env_row(env, info), "ok": not problems, "problems": problems, "notes": notes}
                    for env, info, problems, notes in results
                ],
            }
        )
    else:
        for env, info, problems, notes in results:
            verdict = "ok" if not problems else ("MISSING" if _missing(info) else "FAIL")
            print(f"{env.name}: {verdict}  {env.python}")
            print(f"  {_summary(info)}")
            for line in problems:
                print(f"  problem: {line}")
            for line in notes:
                print(f"  note: {line}")
    return common.EXIT_NEGATIVE if failed else common.EXIT_OK


def _missing(info: RuntimeInfo) -> bool:
    return not info.ok and bool(info.error) and info.error.startswith("interpreter not found")


def cmd_remove(args) -> int:
    """Unregister BACKEND's environment. Its files stay where they are."""
    from .. import paths
    from ..runtime.registry import load_registry

    backend = Backend.parse(args.backend)
    registry = load_registry()
    env = registry.remove(backend)
    registry.save()
    print(f"unregistered the {backend.value} environment ({env.python})")
    managed = paths.data_dir() / "envs" / backend.value
    if env.python.startswith(str(managed) + "/"):
        print(f"its files are still in {managed}; delete that folder to free the space")
    return common.EXIT_OK
