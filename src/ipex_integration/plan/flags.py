"""Device-selection flags and IPEX_DEVICE -> DeviceRequest.

Two front doors share one set of rules (`_build_request`):
- `add_device_arguments` + `request_from_args` for our own argparse commands (`ipex devices`, benchmarks);
- `split_device_flags` for launchers that pass every other argument through unchanged to a program with its
  own parser (ComfyUI, Ollama): it removes exactly our flags and nothing else.

Precedence: backend flags (--cpu / --cuda / --force-intel-xpu) > a lone device-index flag (--cuda-device N
means CUDA, --intel-device N means XPU) > IPEX_DEVICE > config `device` > auto.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..argv import take_flags
from ..errors import UsageError
from ..runtime.model import Backend
from .model import DeviceRequest
from .vocabulary import BACKEND_FLAGS as _BACKEND_FLAGS
from .vocabulary import DEVICE_CHOICES, FORCE_FLAG, INDEX_FLAG, parse_backend_choice

__all__ = ["DEVICE_CHOICES", "DEVICE_VARIABLE", "DeviceFlags", "add_device_arguments", "request_from_args",
           "request_from_env", "split_device_flags"]

DEVICE_VARIABLE = "IPEX_DEVICE"
# Flags without a value, and where split_device_flags records them.
_SWITCHES: dict[str, str] = {
    "--fallback": "fallback",
    "--igpu": "igpu",
    "--dry-run": "dry_run",
    "--json": "json",
    "--help-gpu": "help_gpu",
}
_INDEX_FLAGS: dict[str, str] = {INDEX_FLAG[Backend.XPU]: "intel_device", INDEX_FLAG[Backend.CUDA]: "cuda_device"}


def add_device_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add the GPU-selection flags to an argparse parser (as their own help group)."""
    group = parser.add_argument_group("GPU selection (see `ipex --help-gpu`)")
    group.add_argument("--cpu", action="store_true", help="run on the CPU, hide every GPU")
    group.add_argument("--cuda", action="store_true", help="run on an NVIDIA GPU (CUDA), even if auto would not")
    group.add_argument(
        "--force-intel-xpu", "--xpu", dest="force_intel_xpu", action="store_true",
        help="run on an Intel GPU (XPU), even when CUDA is available",
    )
    group.add_argument(
        "--intel-device", metavar="N", type=_index_arg, default=None,
        help="Intel GPU N as `ipex devices` numbers them (integrated GPUs count); implies --xpu",
    )
    group.add_argument(
        "--cuda-device", metavar="N", type=_index_arg, default=None,
        help="NVIDIA GPU N as `ipex devices` numbers them (PCI order); implies --cuda",
    )
    group.add_argument("--fallback", action="store_true", help="fall back to the next backend instead of failing")
    group.add_argument("--igpu", action="store_true", help="allow an integrated Intel GPU when no discrete one exists")
    return group


def request_from_args(
    args: argparse.Namespace, environ: Mapping[str, str], config: Mapping[str, Any] | None = None
) -> DeviceRequest:
    """The DeviceRequest for parsed args (from `add_device_arguments`), IPEX_DEVICE and config."""
    backend_flags = [
        flag
        for flag in FORCE_FLAG.values()
        if getattr(args, flag.lstrip("-").replace("-", "_"), False)
    ]
    return _build_request(
        backend_flags,
        intel_device=getattr(args, "intel_device", None),
        cuda_device=getattr(args, "cuda_device", None),
        igpu=bool(getattr(args, "igpu", False)),
        fallback=bool(getattr(args, "fallback", False)),
        environ=environ,
        config=config,
    )


def request_from_env(environ: Mapping[str, str], config: Mapping[str, Any] | None = None) -> DeviceRequest:
    """The DeviceRequest when there are no flags (services, library callers): IPEX_DEVICE, then config."""
    return _build_request([], None, None, False, False, environ, config)


@dataclass(frozen=True)
class DeviceFlags:
    """Our flags as found in a launcher's argv by `split_device_flags`."""

    backend_flags: tuple[str, ...] = ()  # spellings as given, in order: ("--cpu", "--xpu")
    intel_device: int | None = None
    cuda_device: int | None = None
    fallback: bool = False
    igpu: bool = False
    dry_run: bool = False
    json: bool = False
    help_gpu: bool = False
    removed: tuple[str, ...] = field(default=())  # the argv items we took out, for messages

    def to_request(self, environ: Mapping[str, str], config: Mapping[str, Any] | None = None) -> DeviceRequest:
        return _build_request(
            list(self.backend_flags), self.intel_device, self.cuda_device, self.igpu, self.fallback, environ, config
        )


def split_device_flags(argv: Sequence[str]) -> tuple[DeviceFlags, list[str]]:
    """Take our flags out of argv; return them and the rest, unchanged and in order.

    Exactly our spellings are recognised (no abbreviations, so the program's own flags are never swallowed);
    `--intel-device 1` and `--intel-device=1` both work. Everything after a bare `--` is passed through.
    """
    taken, rest = take_flags(
        argv,
        switches=(*_BACKEND_FLAGS, *_SWITCHES),
        valued={name: f"a device number, e.g. {name} 0" for name in _INDEX_FLAGS},
    )
    found: dict[str, Any] = {}
    backend_flags: list[str] = []
    removed: list[str] = []
    for flag in taken:
        removed.extend(flag.tokens)
        if flag.name in _BACKEND_FLAGS:
            backend_flags.append(flag.name)
        elif flag.name in _SWITCHES:
            found[_SWITCHES[flag.name]] = True
        else:
            found[_INDEX_FLAGS[flag.name]] = _parse_index(flag.value, flag.name)
    flags = DeviceFlags(backend_flags=tuple(backend_flags), removed=tuple(removed), **found)
    _check_backend_flags(flags.backend_flags)  # conflicts are an error however the request is used
    return flags, rest


# --- shared rules -----------------------------------------------------------------------------------------


def _build_request(
    backend_flags: list[str],
    intel_device: int | None,
    cuda_device: int | None,
    igpu: bool,
    fallback: bool,
    environ: Mapping[str, str],
    config: Mapping[str, Any] | None,
) -> DeviceRequest:
    _check_backend_flags(backend_flags)
    for flag, index in (("--intel-device", intel_device), ("--cuda-device", cuda_device)):
        if index is not None and index < 0:
            raise UsageError(f"{flag} {index}: device numbers start at 0", hint="`ipex devices` lists them")

    if intel_device is not None and cuda_device is not None and not backend_flags:
        # Without --cuda/--xpu nothing says which of the two to use: refused rather than silently auto.
        raise UsageError(f"conflicting flags: --cuda-device {cuda_device} and --intel-device {intel_device}",
                         hint="pick one GPU: drop one of them, or add --cuda or --xpu to say which backend")
    backend: Backend | None
    if backend_flags:
        backend, source = _BACKEND_FLAGS[backend_flags[0]], backend_flags[0]
    elif intel_device is not None and cuda_device is None:
        backend, source = Backend.XPU, f"--intel-device {intel_device}"
    elif cuda_device is not None and intel_device is None:
        backend, source = Backend.CUDA, f"--cuda-device {cuda_device}"
    else:
        backend, source = _backend_from_settings(environ, config)
    return DeviceRequest(
        backend=backend,
        cuda_device=cuda_device,
        intel_device=intel_device,
        allow_integrated=igpu,
        fallback=fallback,
        source=source,
    )


def _check_backend_flags(backend_flags: Sequence[str]) -> None:
    distinct = {_BACKEND_FLAGS[f] for f in backend_flags}
    if len(distinct) > 1:
        first, second = backend_flags[0], next(f for f in backend_flags if _BACKEND_FLAGS[f] is not _BACKEND_FLAGS[backend_flags[0]])
        raise UsageError(f"conflicting flags: {first} and {second}", hint=f"drop {first} or {second}")


def _backend_from_settings(environ: Mapping[str, str], config: Mapping[str, Any] | None) -> tuple[Backend | None, str]:
    raw = environ.get(DEVICE_VARIABLE, "").strip()
    if raw:
        return parse_backend_choice(raw, f"{DEVICE_VARIABLE}={raw}"), f"{DEVICE_VARIABLE}={raw.lower()}"
    value = (config or {}).get("device")
    if value is not None and str(value).strip():
        text = str(value).strip()
        return parse_backend_choice(text, f"config device = {text!r}"), f'config (device = "{text.lower()}")'
    return None, "default"


def _parse_index(text: str, flag: str) -> int:
    try:
        index = int(text.strip())
    except ValueError:
        raise UsageError(f"{flag} expects a device number, got {text!r}", hint="`ipex devices` lists them") from None
    if index < 0:
        raise UsageError(f"{flag} {index}: device numbers start at 0", hint="`ipex devices` lists them")
    return index


def _index_arg(text: str) -> int:
    """argparse type: any integer (the sign is checked by request_from_args, with a UsageError)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a device number, got {text!r}") from None
