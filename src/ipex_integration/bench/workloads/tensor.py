"""Tensor ops: matmul and batched matmul (TFLOP/s), elementwise ops, reductions, softmax and norms (GB/s, L2
flushed), scaled dot-product attention at Stable Diffusion 1.5 shapes, and copy bandwidth.

Sizes per suite are data (the tables below). On CPU the fixed-shape ops run smaller and say so in their
shape ("cpu-scaled"); sweeps (matmul, elementwise) just use a CPU sweep. `--size N` replaces the matmul
size and the N x N elementwise tensors. Every op is first checked against float64 on the CPU at a small size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from ..device import synchronize
from ..harness import Case, check_against_reference, run_case
from ..model import BenchSpec, Measurement, Status
from ..workload import DTYPES, BenchContext, SuiteConfig

TORCH_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
CPU_SCALED = " cpu-scaled"
MIB = 1 << 20
GIB = 1 << 30

ALL = ("fp32", "tf32", "fp16", "bf16")
NO_TF32 = ("fp32", "fp16", "bf16")  # TF32 only changes matmul-like ops

# (suite, "gpu"|"cpu") -> values. Suites not listed for an op use the row above them (quick < standard < full).
MATMUL_SIZES = {
    ("quick", "gpu"): (4096, 8192),
    ("standard", "gpu"): (1024, 2048, 4096, 8192),
    ("full", "gpu"): (256, 512, 1024, 2048, 4096, 8192),
    ("quick", "cpu"): (512, 1024),
    ("standard", "cpu"): (512, 1024, 2048),
    ("full", "cpu"): (256, 512, 1024, 2048),
}
# N for the N x N tensors of elementwise ops, reductions and softmax.
ELEMENTWISE_SIZES = {
    ("quick", "gpu"): (8192,),
    ("standard", "gpu"): (4096, 8192),
    ("full", "gpu"): (2048, 4096, 8192, 16384),
    ("quick", "cpu"): (2048,),
    ("standard", "cpu"): (2048, 4096),
    ("full", "cpu"): (1024, 2048, 4096),
}
# Default dtypes per op family. CPU skips fp16 by default: its fp16 matmul is ~100x slower than fp32.
MATMUL_DTYPES = {("quick", "gpu"): ALL, ("quick", "cpu"): ("fp32", "bf16")}
BMM_DTYPES = {("quick", "gpu"): ("fp16", "bf16"), ("standard", "gpu"): ALL, ("quick", "cpu"): ("fp32",)}
MEMORY_DTYPES = {
    ("quick", "gpu"): ("fp32", "bf16"),
    ("standard", "gpu"): NO_TF32,
    ("quick", "cpu"): ("fp32",),
    ("standard", "cpu"): ("fp32", "bf16"),
}
ATTENTION_DTYPES = {
    ("quick", "gpu"): ("fp16", "bf16"),
    ("standard", "gpu"): NO_TF32,
    ("quick", "cpu"): ("fp32",),
    ("standard", "cpu"): ("fp32", "bf16"),
}
# batch x heads x seq x head_dim: SD1.5's attention at 64x64, 32x32 and 16x16 latents (8 heads, CFG batch 2).
ATTENTION_SHAPES = {
    ("quick", "gpu"): ((2, 8, 4096, 40),),
    ("standard", "gpu"): ((2, 8, 4096, 40), (2, 8, 1024, 80), (2, 8, 256, 160)),
    ("quick", "cpu"): ((1, 8, 1024, 40),),
    ("standard", "cpu"): ((1, 8, 1024, 40), (1, 8, 256, 80)),
}
TEXT_TOKENS = 77  # CLIP's context length: the keys/values of SD's cross-attention
BMM_SHAPES = {("quick", "gpu"): ((32, 1024),), ("quick", "cpu"): ((8, 256),)}  # (batch, n): b x n x n x n
# Tokens x channels of SD1.5's transformer blocks, and its GroupNorm(32) inputs.
LAYER_NORM_SHAPES = {
    ("quick", "gpu"): ((2, 4096, 320),),
    ("standard", "gpu"): ((2, 4096, 320), (2, 1024, 640), (2, 256, 1280)),
    ("quick", "cpu"): ((1, 1024, 320),),
}
GROUP_NORM_SHAPES = {
    ("quick", "gpu"): ((2, 320, 64, 64),),
    ("standard", "gpu"): ((2, 320, 64, 64), (2, 640, 32, 32), (2, 1280, 16, 16)),
    ("quick", "cpu"): ((1, 320, 32, 32),),
}
GROUPS = 32
COPY_BYTES = {
    ("quick", "gpu"): 256 * MIB,
    ("standard", "gpu"): GIB,
    ("quick", "cpu"): 64 * MIB,
    ("standard", "cpu"): 256 * MIB,
}

SUITE_ORDER = ("quick", "standard", "full")
CHECK_N = 256  # side of the small problem checked against float64


def pick(table: dict, suite: str, kind: str) -> Any:
    """The table's value for (suite, kind), falling back to the nearest smaller suite."""
    for name in reversed(SUITE_ORDER[: SUITE_ORDER.index(suite) + 1]):
        if (name, kind) in table:
            return table[(name, kind)]
    raise KeyError((suite, kind))


@dataclass(frozen=True)
class Params:
    """What run() needs beyond the spec: sizes as numbers."""

    dims: tuple[int, ...]


def _dtypes(config: SuiteConfig, allowed: tuple[str, ...], default: tuple[str, ...]) -> tuple[str, ...]:
    if config.dtypes is None:
        return default
    return tuple(d for d in DTYPES if d in config.dtypes and d in allowed)


def _x(dims: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in dims)


class TensorWorkload:
    name = "tensor"

    def __init__(self) -> None:
        self._params: dict[BenchSpec, Params] = {}

    # -- what would run -------------------------------------------------------------------------------

    def specs(self, config: SuiteConfig, backend: str) -> list[BenchSpec]:
        found = list(self._enumerate(config, backend))
        self._params.update(found)
        return [spec for spec, _ in found]

    def _enumerate(self, config: SuiteConfig, backend: str) -> Iterator[tuple[BenchSpec, Params]]:
        suite, kind = config.suite, ("cpu" if backend == "cpu" else "gpu")
        scaled = CPU_SCALED if kind == "cpu" else ""
        variants = ("", "graph") if config.graph and kind == "gpu" else ("",)

        def spec(op: str, dtype: str, shape: str, dims: tuple[int, ...], graphable: bool = True):
            for variant in variants if graphable else ("",):
                yield BenchSpec("tensor", op, dtype, shape, variant), Params(dims)

        matmul_sizes = config.sizes or pick(MATMUL_SIZES, suite, kind)
        for dtype in _dtypes(config, ALL, pick(MATMUL_DTYPES, suite, kind)):
            for n in matmul_sizes:
                yield from spec("matmul", dtype, _x((n, n, n)), (n,))
        for dtype in _dtypes(config, ALL, pick(BMM_DTYPES, suite, kind)):
            for b, n in pick(BMM_SHAPES, suite, kind):
                yield from spec("bmm", dtype, _x((b, n, n, n)) + scaled, (b, n))
        memory_dtypes = _dtypes(config, NO_TF32, pick(MEMORY_DTYPES, suite, kind))
        element_sizes = config.sizes or pick(ELEMENTWISE_SIZES, suite, kind)
        for op in ("add", "mul", "gelu", "sum", "softmax"):
            for dtype in memory_dtypes:
                for n in element_sizes:
                    yield from spec(op, dtype, _x((n, n)), (n,))
        for dtype in memory_dtypes:
            for dims in pick(LAYER_NORM_SHAPES, suite, kind):
                yield from spec("layer_norm", dtype, _x(dims) + scaled, dims)
            for dims in pick(GROUP_NORM_SHAPES, suite, kind):
                yield from spec("group_norm", dtype, f"{_x(dims)} g{GROUPS}{scaled}", dims)
        for dtype in _dtypes(config, NO_TF32, pick(ATTENTION_DTYPES, suite, kind)):
            for dims in pick(ATTENTION_SHAPES, suite, kind):
                yield from spec("sdpa", dtype, _x(dims) + scaled, dims)
                yield from spec("sdpa_cross", dtype, f"{_x(dims)} kv{TEXT_TOKENS}{scaled}", dims)
        nbytes = pick(COPY_BYTES, suite, kind)
        label = f"{nbytes // GIB}GiB" if nbytes >= GIB else f"{nbytes // MIB}MiB"
        if kind == "gpu":  # host<->device only means something with a device
            yield from spec("copy_h2d", "-", label, (nbytes,), graphable=False)
            yield from spec("copy_d2h", "-", label, (nbytes,), graphable=False)
        yield from spec("copy_d2d", "-", label, (nbytes,))

    # -- measuring ------------------------------------------------------------------------------------

    def run(self, spec: BenchSpec, ctx: BenchContext) -> Measurement:
        params = self._params.get(spec)
        if params is None:
            self.specs(ctx.config, ctx.backend)
            params = self._params.get(spec)
        maker = CASES.get(spec.op)
        if params is None or maker is None:
            return Measurement(spec, Status.FAILED, reason=f"not a spec of the tensor workload: {spec.key}")
        return run_case(spec, ctx, lambda: maker(spec, params, ctx.device))


# -- one case maker per op: inputs at full size in build(), the float64 check at a small size -------------


def _rand(shape: tuple[int, ...], dtype: str, device: Any, positive: bool = False) -> torch.Tensor:
    """Fresh random data (never zeros); `positive` for sums, so the relative error is not about cancellation."""
    maker = torch.rand if positive else torch.randn
    return maker(shape, dtype=TORCH_DTYPES[dtype], device=device)


def _same_op_check(op: Callable[..., torch.Tensor], inputs: Callable[[], tuple[torch.Tensor, ...]], dtype: str):
    """Check `op` on small device inputs against the same op on those inputs in float64 on the CPU."""

    def check():
        args = inputs()
        return check_against_reference(
            lambda: op(*args), lambda: op(*(a.detach().to("cpu", torch.float64) for a in args)), dtype
        )

    return check


def _size(dtype: str) -> int:
    return torch.empty((), dtype=TORCH_DTYPES.get(dtype, torch.uint8)).element_size()


def _matmul(spec: BenchSpec, p: Params, device: Any) -> Case:
    (n,) = p.dims
    dt = spec.dtype

    def build():
        a, b = _rand((n, n), dt, device), _rand((n, n), dt, device)
        return lambda: torch.matmul(a, b)

    small = lambda: (_rand((CHECK_N, CHECK_N), dt, device), _rand((CHECK_N, CHECK_N), dt, device))
    return Case(build, _same_op_check(torch.matmul, small, dt), flops=2.0 * n**3, bytes_moved=3.0 * n * n * _size(dt))


def _bmm(spec: BenchSpec, p: Params, device: Any) -> Case:
    b, n = p.dims
    dt = spec.dtype

    def build():
        x, y = _rand((b, n, n), dt, device), _rand((b, n, n), dt, device)
        return lambda: torch.bmm(x, y)

    small = lambda: (_rand((4, 64, 64), dt, device), _rand((4, 64, 64), dt, device))
    check = _same_op_check(torch.bmm, small, dt)
    return Case(build, check, flops=2.0 * b * n**3, bytes_moved=3.0 * b * n * n * _size(dt))


ELEMENTWISE: dict[str, tuple[Callable[..., torch.Tensor], int, int | None, bool]] = {
    # op: (function, tensors read + written, flops per element or None, positive inputs)
    "add": (torch.add, 3, 1, False),
    "mul": (torch.mul, 3, 1, False),
    "gelu": (F.gelu, 2, None, False),
    "sum": (lambda x: x.sum(dim=-1), 1, 1, True),  # rows of N: the output is N values, negligible
    "softmax": (lambda x: torch.softmax(x, dim=-1), 2, None, False),
}


def _elementwise(spec: BenchSpec, p: Params, device: Any) -> Case:
    (n,) = p.dims
    dt = spec.dtype
    fn, tensors, flops_per, positive = ELEMENTWISE[spec.op]
    arity = 2 if spec.op in ("add", "mul") else 1

    def build():
        args = tuple(_rand((n, n), dt, device, positive) for _ in range(arity))
        return lambda: fn(*args)

    small = lambda: tuple(_rand((CHECK_N, CHECK_N), dt, device, positive) for _ in range(arity))
    return Case(
        build,
        _same_op_check(fn, small, dt),
        flops=float(flops_per * n * n) if flops_per else None,
        bytes_moved=float(tensors * n * n * _size(dt)),
        flush_l2=True,
    )


def _layer_norm(spec: BenchSpec, p: Params, device: Any) -> Case:
    dims, dt = p.dims, spec.dtype
    width = dims[-1]
    op = lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w, b)

    def build():
        x, w, b = _rand(dims, dt, device), _rand((width,), dt, device), _rand((width,), dt, device)
        return lambda: op(x, w, b)

    small = lambda: (_rand((2, 64, 32), dt, device), _rand((32,), dt, device), _rand((32,), dt, device))
    elements = 1
    for d in dims:
        elements *= d
    moved = float((2 * elements + 2 * width) * _size(dt))  # read x, write y, read weight and bias
    return Case(build, _same_op_check(op, small, dt), bytes_moved=moved, flush_l2=True)


def _group_norm(spec: BenchSpec, p: Params, device: Any) -> Case:
    dims, dt = p.dims, spec.dtype
    channels = dims[1]
    op = lambda x, w, b: F.group_norm(x, GROUPS, w, b)

    def build():
        x, w, b = _rand(dims, dt, device), _rand((channels,), dt, device), _rand((channels,), dt, device)
        return lambda: op(x, w, b)

    small = lambda: (_rand((2, 64, 8, 8), dt, device), _rand((64,), dt, device), _rand((64,), dt, device))
    elements = dims[0] * dims[1] * dims[2] * dims[3]
    moved = float((2 * elements + 2 * channels) * _size(dt))
    return Case(build, _same_op_check(op, small, dt), bytes_moved=moved, flush_l2=True)


def _sdpa(spec: BenchSpec, p: Params, device: Any) -> Case:
    b, h, s, d = p.dims
    dt = spec.dtype
    kv = TEXT_TOKENS if spec.op == "sdpa_cross" else s
    op = F.scaled_dot_product_attention

    def build():
        q, k, v = _rand((b, h, s, d), dt, device), _rand((b, h, kv, d), dt, device), _rand((b, h, kv, d), dt, device)
        return lambda: op(q, k, v)

    small_kv = TEXT_TOKENS if spec.op == "sdpa_cross" else 128
    small = lambda: (
        _rand((1, 2, 128, d), dt, device),
        _rand((1, 2, small_kv, d), dt, device),
        _rand((1, 2, small_kv, d), dt, device),
    )
    flops = 4.0 * b * h * s * kv * d  # Q K^T and P V; softmax's few flops per score are left out
    moved = float(b * h * (2 * s * d + 2 * kv * d) * _size(dt))  # read q, k, v, write out
    return Case(build, _same_op_check(op, small, dt), flops=flops, bytes_moved=moved)


def _copy(spec: BenchSpec, p: Params, device: Any) -> Case:
    (nbytes,) = p.dims
    host = torch.device("cpu")
    src_dev, dst_dev = {"copy_h2d": (host, device), "copy_d2h": (device, host), "copy_d2d": (device, device)}[spec.op]
    pinned = spec.op != "copy_d2d"  # pinned host memory: the transfer runs async at full PCIe/NVLink speed

    def tensor(count: int, where: Any, random: bool) -> torch.Tensor:
        if pinned and torch.device(where).type == "cpu":
            t = torch.empty(count, dtype=torch.uint8, pin_memory=True)
            if random:  # the device's RNG fills 1 GiB in milliseconds; the CPU's takes seconds
                t.copy_(torch.randint(0, 256, (count,), dtype=torch.uint8, device=device))
            return t
        if random:
            return torch.randint(0, 256, (count,), dtype=torch.uint8, device=where)
        return torch.empty(count, dtype=torch.uint8, device=where)

    def build():
        src, dst = tensor(nbytes, src_dev, True), tensor(nbytes, dst_dev, False)
        return lambda: dst.copy_(src, non_blocking=pinned)

    def check():
        src, dst = tensor(4096, src_dev, True), tensor(4096, dst_dev, False)

        def device_copy():
            dst.copy_(src, non_blocking=pinned)
            synchronize(device)  # a non-blocking copy is only done once the stream says so
            return dst

        return check_against_reference(device_copy, lambda: src.to("cpu", torch.float64), "-")

    # Host<->device moves each byte once over the bus; device->device reads and writes it.
    moved = float(2 * nbytes if spec.op == "copy_d2d" else nbytes)
    return Case(build, check, bytes_moved=moved, flush_l2=True)


CASES: dict[str, Callable[[BenchSpec, Params, Any], Case]] = {
    "matmul": _matmul,
    "bmm": _bmm,
    **{op: _elementwise for op in ELEMENTWISE},
    "layer_norm": _layer_norm,
    "group_norm": _group_norm,
    "sdpa": _sdpa,
    "sdpa_cross": _sdpa,
    "copy_h2d": _copy,
    "copy_d2h": _copy,
    "copy_d2d": _copy,
}

WORKLOAD = TensorWorkload()
