"""One ComfyUI launch, prepared: checkout -> flag set -> flag check -> device plan -> LaunchSpec.

`comfyui-ipex|-cuda|-xpu` and `ipex up` both call `prepare_launch`; they only print or run the result. The
cheap checks come first (the checkout exists, every ComfyUI flag is one the installed version accepts, with
a valid value), so a mistake is reported before any interpreter is probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from ..hardware.model import HardwareReport
from ..plan.model import DevicePlan, DeviceRequest
from .argcheck import check_argv
from .checkout import Checkout, find_checkout
from .flags import FlagSet, read_flag_set, scan_argv
from .launch import LaunchSpec, build_launch_spec

# resolve(request, environ=...) -> DevicePlan: plan.resolve.resolve_plan, or a test's fake environments.
Resolver = Callable[..., DevicePlan]


@dataclass(frozen=True)
class PreparedLaunch:
    """Everything `--dry-run` shows and `run` needs."""

    checkout: Checkout
    flag_set: FlagSet
    plan: DevicePlan
    spec: LaunchSpec

    @property
    def notes(self) -> tuple[str, ...]:
        """How the plan's device became ComfyUI flags."""
        return self.spec.notes

    def to_dict(self) -> dict:
        return {"comfyui": self.checkout.to_dict(), "plan": self.plan.to_dict(), "launch": self.spec.to_dict()}


def check_comfyui_argv(argv: Sequence[str], checkout: Checkout, flag_set: FlagSet) -> None:
    """UsageError when the installed ComfyUI would refuse `argv`: an unknown option, a missing value, a value
    of the wrong type or not among the choices, two options of one mutually exclusive group."""
    scan_argv(argv, flag_set, version_label=checkout.label)  # the precise messages for names and counts
    check_argv(argv, flag_set, version_label=checkout.label)


def prepare_launch(
    request: DeviceRequest | Callable[[], DeviceRequest],
    comfyui_argv: Sequence[str],
    *,
    comfyui: str | None = None,
    prog: str = "comfyui-ipex",
    disable_ipex: bool = False,
    environ: Mapping[str, str],
    hardware: HardwareReport | None = None,
    resolve: Resolver | None = None,
) -> PreparedLaunch:
    """Find the checkout (`comfyui`: a folder, else $COMFYUI_PATH, else the registered one), check
    `comfyui_argv` against its flags, plan the device for `request` and build the launch.

    `request` may be a callable, so that a request that cannot be built (a bad IPEX_DEVICE) is reported after
    the checkout and flag errors, as before. `resolve` defaults to plan.resolve.resolve_plan with `hardware`
    (probed when None)."""
    checkout = find_checkout(comfyui, environ=environ)
    flag_set = read_flag_set(checkout.path, version=checkout.version, environ=environ)
    check_comfyui_argv(comfyui_argv, checkout, flag_set)
    if callable(request):
        request = request()
    if resolve is None:
        from ..plan.resolve import resolve_plan

        plan = resolve_plan(request, environ=environ, hardware=hardware)
    else:
        plan = resolve(request, environ=environ)
    spec = build_launch_spec(plan, checkout, comfyui_argv, base_env=environ, disable_ipex=disable_ipex,
                             flag_set=flag_set, prog=prog, environ=environ)
    # Our own flags (the plan's device, --listen) joined the user's: the whole argv must pass too.
    check_argv(spec.comfyui_argv, flag_set, version_label=checkout.label)
    return PreparedLaunch(checkout, flag_set, plan, spec)
