"""conv2d at the shapes of the Stable Diffusion 1.5 UNet: every 3x3, stride 1, padding 1 convolution of a
512x512 image's 64x64 latent (resnet convs, upsampler convs, conv_in/conv_out), CFG batch 2, in contiguous
(NCHW) and channels_last layouts. On CPU the latents are halved and the batch is 1 ("cpu-scaled").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from ..harness import Case, check_against_reference, run_case
from ..model import BenchSpec, Measurement, Status
from ..workload import DTYPES, BenchContext, SuiteConfig
from .tensor import CPU_SCALED, TORCH_DTYPES, pick

# (in channels, out channels, latent side) of SD1.5's UNet (block_out_channels 320/640/1280/1280,
# layers_per_block 2): the first suite a shape appears in, then every larger suite has it too.
UNET_CONVS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "quick": (
        (320, 320, 64),  # down block 0 / up block 3 resnet conv2
        (640, 640, 32),  # down block 1 / up block 2
        (1280, 1280, 16),  # down block 2 / up block 1
        (1280, 1280, 8),  # down block 3, mid block, up block 0
    ),
    "standard": (
        (320, 640, 32),  # down block 1 first resnet conv1
        (640, 1280, 16),  # down block 2 first resnet conv1
        (2560, 1280, 16),  # up block 1: previous output + skip
        (960, 320, 64),  # up block 3 first resnet conv1
    ),
    "full": (
        (4, 320, 64),  # conv_in
        (2560, 1280, 8),  # up block 0
        (1920, 1280, 16),  # up block 1 last resnet
        (1280, 1280, 32),  # up block 1 upsampler conv
        (1920, 640, 32),  # up block 2
        (1280, 640, 32),
        (960, 640, 32),
        (640, 640, 64),  # up block 2 upsampler conv
        (640, 320, 64),  # up block 3
        (320, 4, 64),  # conv_out
    ),
}
SUITE_ORDER = ("quick", "standard", "full")
CFG_BATCH = 2  # classifier-free guidance runs the conditional and unconditional latents together
CONV_DTYPES = {
    ("quick", "gpu"): ("fp16", "bf16"),
    ("standard", "gpu"): ("fp32", "fp16", "bf16"),
    ("full", "gpu"): ("fp32", "tf32", "fp16", "bf16"),
    ("quick", "cpu"): ("fp32",),
    ("standard", "cpu"): ("fp32", "bf16"),
}
CPU_SHAPES = {"quick": 2, "standard": 4}  # CPU runs only the first N quick shapes in quick/standard: 2 cores
LAYOUTS = ("", "channels_last")


@dataclass(frozen=True)
class ConvParams:
    batch: int
    cin: int
    cout: int
    side: int


def unet_shapes(suite: str) -> tuple[tuple[int, int, int], ...]:
    shapes: tuple[tuple[int, int, int], ...] = ()
    for name in SUITE_ORDER[: SUITE_ORDER.index(suite) + 1]:
        shapes += UNET_CONVS[name]
    return shapes


class ConvWorkload:
    name = "conv"

    def __init__(self) -> None:
        self._params: dict[BenchSpec, ConvParams] = {}

    def specs(self, config: SuiteConfig, backend: str) -> list[BenchSpec]:
        found = list(self._enumerate(config, backend))
        self._params.update(found)
        return [spec for spec, _ in found]

    def _enumerate(self, config: SuiteConfig, backend: str) -> Iterator[tuple[BenchSpec, ConvParams]]:
        kind = "cpu" if backend == "cpu" else "gpu"
        default = pick(CONV_DTYPES, config.suite, kind)
        dtypes = default if config.dtypes is None else tuple(d for d in DTYPES if d in config.dtypes)
        shapes = unet_shapes(config.suite)
        if kind == "cpu" and config.suite in CPU_SHAPES:
            shapes = shapes[: CPU_SHAPES[config.suite]]
        graph = ("graph",) if config.graph and kind == "gpu" else ()
        for dtype in dtypes:
            for cin, cout, side in shapes:
                batch, s = (1, side // 2) if kind == "cpu" else (CFG_BATCH, side)
                shape = f"{batch}x{cin}x{s}x{s}->{cout} k3" + (CPU_SCALED if kind == "cpu" else "")
                for layout in LAYOUTS:
                    for variant in ("", *graph):
                        joined = "+".join(v for v in (layout, variant) if v)
                        yield BenchSpec("conv", "conv2d", dtype, shape, joined), ConvParams(batch, cin, cout, s)

    def run(self, spec: BenchSpec, ctx: BenchContext) -> Measurement:
        params = self._params.get(spec)
        if params is None:
            self.specs(ctx.config, ctx.backend)
            params = self._params.get(spec)
        if params is None:
            return Measurement(spec, Status.FAILED, reason=f"not a spec of the conv workload: {spec.key}")
        if ctx.backend == "cuda":
            # Let cuDNN pick its fastest algorithm per shape (the warm-up pays for the search), as
            # ComfyUI and most SD front ends do.
            torch.backends.cudnn.benchmark = True
        return run_case(spec, ctx, lambda: conv_case(spec, params, ctx.device))


def conv_case(spec: BenchSpec, p: ConvParams, device: Any) -> Case:
    dtype = TORCH_DTYPES[spec.dtype]
    channels_last = "channels_last" in spec.variant.split("+")
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def tensors(batch: int, cin: int, cout: int, side: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = torch.randn(batch, cin, side, side, dtype=dtype, device=device).to(memory_format=fmt)
        w = torch.randn(cout, cin, 3, 3, dtype=dtype, device=device).to(memory_format=fmt)
        w = w / (cin * 9) ** 0.5  # keep outputs near unit scale, as initialised weights do
        b = torch.randn(cout, dtype=dtype, device=device)
        return x, w, b

    def build():
        x, w, b = tensors(p.batch, p.cin, p.cout, p.side)
        return lambda: F.conv2d(x, w, b, padding=1)

    def check():
        x, w, b = tensors(1, min(p.cin, 16), min(p.cout, 16), 8)
        cpu64 = lambda t: t.detach().to("cpu", torch.float64)
        return check_against_reference(
            lambda: F.conv2d(x, w, b, padding=1),
            lambda: F.conv2d(cpu64(x), cpu64(w), cpu64(b), padding=1),
            spec.dtype,
        )

    flops = 2.0 * p.batch * p.cout * p.side * p.side * p.cin * 9
    elements = p.batch * p.cin * p.side**2 + p.cout * p.cin * 9 + p.batch * p.cout * p.side**2
    size = torch.empty((), dtype=dtype).element_size()
    return Case(build, check, flops=flops, bytes_moved=float(elements * size), extra={"channels_last": channels_last})


WORKLOAD = ConvWorkload()
