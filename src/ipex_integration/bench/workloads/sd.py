"""The "sd" workload: a Stable Diffusion text-to-image pipeline (random weights, nothing downloaded) timed
as a whole, the way SD.Next counts it/s (steps x batch / wall time, text encoding and VAE decode included),
and its UNet step (one forward at the classifier-free-guidance batch of 2) timed alone.

Per model two specs: `<model>_unet_step` (variant "cfg", plus "cfg+graph" when graphs are asked for) and
`<model>_pipeline`. Models: "tiny" (CPU, CI), "sd15", "sdxl"; see sd_models.py.
"""

from __future__ import annotations

import gc
import re
import statistics
from dataclasses import dataclass
from typing import Any, Sequence

from ...errors import UsageError
from ..device import device_ops
from ..harness import Case, CheckResult, run_case, variants
from ..model import BenchSpec, Measurement, Status
from ..workload import BenchContext, SuiteConfig
from .sd_models import MODELS, SD_DTYPES, build_components, count_flops, family, torch_dtype
from .sd_pipeline import GUIDANCE_SCALE, SDPipeline, check_unet

NAME = "sd"
# Every op this workload can list, for `--only OP` (the op names carry the model).
OPS = tuple(f"{model}_{kind}" for model in MODELS for kind in ("unet_step", "pipeline"))
BATCH = 1  # images per prompt; CFG doubles it in the UNet

# The quick suite on a GPU runs SD1.5 with fewer steps: its whole budget is 60 s on an H100 (tensor and conv
# included), and the per-step rate is what the number is about; 10 steps still amortise the text encoder
# and the VAE decode the way real runs do within a few percent.
QUICK_GPU_STEPS = 10
# A pipeline call is seconds long on a GPU (SDXL) and the suite's time budget would allow a single one;
# the median of three is the least that survives one outlier.
PIPELINE_MIN_REPS = 3

_PIPELINE_SHAPE = re.compile(r"^(\d+)x(\d+) (\d+) steps b(\d+)$")
_UNET_SHAPE = re.compile(r"^(\d+)x(\d+) b(\d+)$")


@dataclass(frozen=True)
class SDRun:
    """One model at one dtype, resolution, step count and batch: the two specs it yields and back."""

    model: str
    dtype: str
    resolution: int
    steps: int
    batch: int = BATCH

    @property
    def cfg_batch(self) -> int:
        return 2 * self.batch

    def pipeline_spec(self) -> BenchSpec:
        shape = f"{self.resolution}x{self.resolution} {self.steps} steps b{self.batch}"
        return BenchSpec(NAME, f"{self.model}_pipeline", self.dtype, shape, "cfg")

    def unet_spec(self, graph: bool = False) -> BenchSpec:
        shape = f"{self.resolution}x{self.resolution} b{self.cfg_batch}"
        return BenchSpec(NAME, f"{self.model}_unet_step", self.dtype, shape, "cfg+graph" if graph else "cfg")

    @classmethod
    def from_spec(cls, spec: BenchSpec, steps: int | None = None) -> "SDRun":
        """Parse a spec back. `steps` (default: the model's) is for UNet-step specs, whose shape does not
        carry it; it only picks the timestep the UNet is timed at."""
        model, _, kind = spec.op.partition("_")
        if spec.workload != NAME or model not in MODELS or kind not in ("pipeline", "unet_step"):
            raise UsageError(f"not an sd spec: {spec.key}")
        if spec.dtype not in SD_DTYPES:
            raise UsageError(f"the sd workload runs {', '.join(SD_DTYPES)}, not {spec.dtype!r}")
        if kind == "pipeline":
            m = _PIPELINE_SHAPE.match(spec.shape)
            if not m:
                raise UsageError(f"bad sd pipeline shape {spec.shape!r}")
            return cls(model, spec.dtype, int(m[1]), int(m[3]), int(m[4]))
        m = _UNET_SHAPE.match(spec.shape)
        if not m or int(m[3]) % 2:
            raise UsageError(f"bad sd UNet-step shape {spec.shape!r}")
        return cls(model, spec.dtype, int(m[1]), steps or family(model).steps, int(m[3]) // 2)


def plan(config: SuiteConfig, backend: str) -> list[SDRun]:
    """What the suite measures on a backend. CPU: the tiny model only (SD1.5 takes minutes per image on a
    CI machine). GPU: SD1.5; the full suite adds SDXL. Explicit --sd-model/--sd-steps/--sd-resolution win."""
    gpu = backend != "cpu"
    if config.sd_model is not None:
        models = [family(config.sd_model).name]
    elif not gpu:
        models = ["tiny"]
    else:
        models = ["sd15", "sdxl"] if config.suite == "full" else ["sd15"]
    runs = []
    for model in models:
        fam = family(model)
        steps = config.sd_steps or (QUICK_GPU_STEPS if gpu and model == "sd15" and config.suite == "quick"
                                    else fam.steps)
        resolution = config.sd_resolution or fam.resolution
        if steps < 1:
            raise UsageError(f"--sd-steps must be at least 1, got {steps}")
        if resolution < fam.latent_factor or resolution % fam.latent_factor:
            raise UsageError(f"--sd-resolution must be a positive multiple of {fam.latent_factor}, got {resolution}")
        for dtype in _dtypes(config, gpu):
            runs.append(SDRun(model, dtype, resolution, steps))
    return runs


def _dtypes(config: SuiteConfig, gpu: bool) -> list[str]:
    """The requested dtypes the pipeline can run in (tf32 is a matmul mode, not a model dtype); the
    device's usual one (fp16 on GPUs, fp32 on CPU) when none is asked for or none fits."""
    asked = [d for d in (config.dtypes or ()) if d in SD_DTYPES]
    return asked or (["fp16"] if gpu else ["fp32"])


class SDWorkload:
    """Implements bench.workload.Workload. Keeps the last built model (building SDXL takes seconds) and the
    results of the reference check and the UNet timing, so the pipeline spec can report UNet it/s."""

    name = NAME

    def __init__(self) -> None:
        self._built: tuple[tuple, Any] | None = None  # (key, Components)
        self._unet_median: dict[tuple, float] = {}  # SDRun key (+device) -> UNet step median seconds
        self._checks: dict[tuple, CheckResult] = {}  # (model, device, dtype, seed) -> reference check

    def specs(self, config: SuiteConfig, backend: str) -> Sequence[BenchSpec]:
        out: list[BenchSpec] = []
        for run in plan(config, backend):
            out.append(run.unet_spec())
            if config.graph and backend != "cpu":
                out.append(run.unet_spec(graph=True))
            out.append(run.pipeline_spec())
        return out

    def run(self, spec: BenchSpec, ctx: BenchContext) -> Measurement:
        try:
            run = SDRun.from_spec(spec, steps=ctx.config.sd_steps)
        except UsageError as exc:
            return Measurement(spec, Status.FAILED, reason=exc.message)
        if spec.op.endswith("_unet_step"):
            result = run_case(spec, ctx, lambda: self._unet_case(run, ctx))
            if result.status is Status.OK and "graph" not in variants(spec):
                self._unet_median[self._key(run, ctx)] = result.stats.median_s
        else:
            holder: list[SDPipeline] = []
            result = run_case(spec, ctx, lambda: self._pipeline_case(run, ctx, holder))
            if result.status is Status.OK:
                result = _finish_pipeline(result, holder[0], run)
        if result.status in (Status.OOM, Status.FAILED):
            self.release(ctx)  # the next spec (or workload) starts with the memory back
        return result

    def release(self, ctx: BenchContext | None = None) -> None:
        """Drop the built model and give its memory back."""
        self._built = None
        gc.collect()
        if ctx is not None:
            device_ops(str(ctx.device)).empty_cache()

    def pipeline_for(self, run: SDRun, ctx: BenchContext) -> SDPipeline:
        """Our pipeline for `run` over the cached components (built on first use, random weights)."""
        key = (run.model, str(ctx.device), run.dtype, ctx.config.seed)
        if self._built is None or self._built[0] != key:
            self.release(ctx)
            comps = build_components(family(run.model), ctx.device, torch_dtype(run.dtype), seed=ctx.config.seed)
            self._built = (key, comps)
        return SDPipeline(self._built[1], steps=run.steps, resolution=run.resolution, batch=run.batch,
                          seed=ctx.config.seed)

    # -- cases: check, then build and allocate (an OOM shows here), then count -----------------------------
    # Built in make_case, not in Case.build: the harness resets the peak-memory counter between the two, and
    # building (fp32 first, then cast) would otherwise count as the peak.

    def _unet_case(self, run: SDRun, ctx: BenchContext) -> Case:
        check = self._check(run, ctx)
        if not check.ok:
            return Case(build=_never, check=lambda: check)
        step = self.pipeline_for(run, ctx).unet_step_fn()
        if not _finite(step()):  # also the first call, with its lazy initialisation
            raise NonFiniteOutput("the UNet's output has NaN or Inf")
        flops = count_flops(run.model, run.resolution, run.cfg_batch, run.batch)
        return Case(
            build=lambda: step,
            check=lambda: check,
            flops=flops.unet_forward,
            items=1,  # one denoising step (both CFG halves)
            extra={**self._extra(run, flops), "cfg_batch": run.cfg_batch},
        )

    def _pipeline_case(self, run: SDRun, ctx: BenchContext, holder: list) -> Case:
        check = self._check(run, ctx)
        if not check.ok:
            return Case(build=_never, check=lambda: check)
        pipe = self.pipeline_for(run, ctx)
        holder.append(pipe)
        # A first whole run: lazy initialisation out of the way, and a model that produces NaN fails here.
        if not _finite(pipe()):
            raise NonFiniteOutput("the pipeline's image has NaN or Inf")
        flops = count_flops(run.model, run.resolution, run.cfg_batch, run.batch)
        unet_s = self._unet_median.get(self._key(run, ctx))
        if unet_s is None:  # the UNet-step spec did not run before this one: time the step here
            unet_s = statistics.median(
                ctx.timer.time(pipe.unet_step_fn(), warmup_s=ctx.warmup_s, budget_s=ctx.budget_s)
            )
        extra = {
            **self._extra(run, flops),
            "steps": run.steps,
            "batch": run.batch,
            "cfg_batch": run.cfg_batch,
            "guidance_scale": GUIDANCE_SCALE,
            "scheduler": type(pipe.scheduler).__name__,
            "it_s_counting": "steps x batch / wall time of the whole pipeline (text encode, steps, VAE decode)",
            "pipeline_gflop": flops.pipeline(run.steps) / 1e9,
            "unet_it_s": 1.0 / unet_s,
            "unet_step_ms": unet_s * 1e3,
            "unet_tflops": flops.unet_forward / unet_s / 1e12,
        }
        return Case(
            build=lambda: pipe,
            check=lambda: check,
            flops=flops.pipeline(run.steps),
            items=run.steps * run.batch,
            min_reps=PIPELINE_MIN_REPS,
            # SD.Next's it/s: steps x batch over the wall time a user waits for one image.
            wall_clock=True,
            extra=extra,
        )

    # -- helpers --------------------------------------------------------------------------------------

    @staticmethod
    def _extra(run: SDRun, flops) -> dict[str, Any]:
        note = family(run.model).note
        return {
            "model": run.model,
            "resolution": run.resolution,
            "unet_gflop_per_image": flops.unet_forward / run.cfg_batch / 1e9,
            **({"note": note} if note else {}),
        }

    def _check(self, run: SDRun, ctx: BenchContext) -> CheckResult:
        """The timed model's own UNet (its weights, on the device, in the run's dtype) against the same
        weights in float64 on the CPU, at a small input; once per model, device, dtype and seed."""
        key = (run.model, str(ctx.device), run.dtype, ctx.config.seed)
        if key not in self._checks:
            unet = self.pipeline_for(run, ctx).comps.unet
            result = check_unet(str(ctx.device), run.dtype, ctx.config.seed, model=run.model, unet=unet)
            self._checks[key] = CheckResult(result.ok, result.rel_error, result.tolerance, result.reason)
        return self._checks[key]

    @staticmethod
    def _key(run: SDRun, ctx: BenchContext) -> tuple:
        return (run.model, run.dtype, run.resolution, run.batch, str(ctx.device))


def _finite(tensor) -> bool:
    import torch

    return bool(torch.isfinite(tensor).all())


def _never():
    raise AssertionError("not built: the reference check failed")


class NonFiniteOutput(RuntimeError):
    """The pipeline produced NaN/Inf: run_case reports it as FAILED."""


def _finish_pipeline(result: Measurement, pipe: SDPipeline, run: SDRun) -> Measurement:
    """Add what needs the timed median, and fail a run whose last image went non-finite while timed."""
    if pipe.last_image is not None and not _finite(pipe.last_image):
        return Measurement(result.spec, Status.FAILED, reason="the pipeline's image has NaN or Inf",
                           check_error=result.check_error)
    result.extra["s_per_image"] = result.stats.median_s / run.batch
    result.extra["it_s"] = result.its
    return result


WORKLOAD = SDWorkload()
