"""Our own text-to-image loop over built SD components: text encoding, N denoising steps with
classifier-free guidance (uncond + cond through the UNet as one batch of 2), VAE decode. It does what
diffusers' StableDiffusionPipeline does on the device, minus its per-call bookkeeping, so the time is the
model's time. Also the float64 reference check of the UNet."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

from .sd_models import TEXT_TOKENS, Components, _added_cond, build_unet, family, make_scheduler

GUIDANCE_SCALE = 7.5  # the SD1.5 default; any value > 1 turns classifier-free guidance on

# Relative (Frobenius-norm) error of the tiny UNet against float64 on the CPU above which the device's
# result is wrong. A whole network compounds rounding, so these sit above the harness's per-op tolerances.
# Measured on CPU: ~6e-7 at fp32, ~1e-2 at bf16 (fp16 has 3 more mantissa bits: ~8x less). The fp32 margin
# lets a caller outside the harness's strict-fp32 mode pass with cuDNN's default TF32 convolutions.
# A real bug gives errors of order 1.
TOLERANCE = {"fp32": 5e-3, "fp16": 2e-2, "bf16": 6e-2}


class SDPipeline:
    """Text-to-image with classifier-free guidance, `steps` Euler steps, `batch` images per call.

    Each call draws fresh latents from a generator seeded once, so repeat calls are different runs of the
    same work. The prompt is fixed random token ids (no tokenizer: nothing to download); families without
    a text encoder (SDXL here) use fixed random embeddings of the encoders' output shapes instead.
    """

    def __init__(self, comps: Components, *, steps: int, resolution: int, batch: int = 1,
                 guidance_scale: float = GUIDANCE_SCALE, seed: int = 0) -> None:
        import torch

        if steps < 1 or batch < 1:
            raise ValueError("steps and batch must be at least 1")
        if resolution % comps.family.latent_factor:
            raise ValueError(f"resolution must be a multiple of {comps.family.latent_factor}")
        self.comps = comps
        self.steps = steps
        self.resolution = resolution
        self.batch = batch
        self.guidance_scale = guidance_scale
        self.scheduler = make_scheduler(comps.family)
        self.device = comps.device
        self.dtype = comps.dtype
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        fam = comps.family
        if comps.text_encoder is not None:
            self.token_ids = _prompt_ids(batch, comps.text_encoder.config, seed, self.device)
            self.context = None
        else:
            self.token_ids = None
            self.context = torch.randn(2 * batch, TEXT_TOKENS, fam.context_dim, generator=self.generator,
                                       device=self.device, dtype=self.dtype)
        self.added_cond = _added_cond(fam, 2 * batch, resolution, self.device, self.dtype, self.generator)
        self.last_image = None

    @property
    def unet_batch(self) -> int:
        """The UNet's batch: uncond + cond for every image."""
        return 2 * self.batch

    @property
    def items(self) -> int:
        """Iterations per call, counted as SD.Next does: steps x batch."""
        return self.steps * self.batch

    def encode(self):
        """Uncond and cond text embeddings, one encoder call for both halves of the CFG batch."""
        if self.token_ids is None:
            return self.context
        return self.comps.text_encoder(self.token_ids, return_dict=False)[0]

    def __call__(self):
        """One whole text-to-image run; returns the decoded images in [0, 1] (on the device, not synced)."""
        import torch

        with torch.inference_mode():
            context = self.encode()
            latents = self.denoise(context, self.noise())
            image = self.decode(latents)
        self.last_image = image
        return image

    def noise(self):
        """Fresh initial latents from the pipeline's generator."""
        import torch

        return torch.randn(self.comps.family.latent_shape(self.batch, self.resolution), generator=self.generator,
                           device=self.device, dtype=self.dtype)

    def denoise(self, context, noise):
        """The denoising loop alone: `steps` guided UNet calls and scheduler steps from `noise` (unit
        variance; scaled to the scheduler's first sigma here, as diffusers does), given both CFG halves'
        text embeddings (uncond first)."""
        import torch

        with torch.inference_mode():
            sched = self.scheduler
            sched.set_timesteps(self.steps, device=self.device)
            sched.set_begin_index(0)  # else the first step looks its index up with a device->host sync
            latents = noise * sched.init_noise_sigma
            for t in sched.timesteps:
                latents = self._step(sched, latents, t, context)
        return latents

    def _step(self, sched, latents, t, context):
        import torch

        both = sched.scale_model_input(torch.cat([latents, latents]), t)
        noise = self.comps.unet(both, t, encoder_hidden_states=context, added_cond_kwargs=self.added_cond,
                                return_dict=False)[0]
        uncond, cond = noise.chunk(2)
        # Written as diffusers writes it (not one fused lerp), so both round alike and agree to the bit.
        guided = uncond + self.guidance_scale * (cond - uncond)
        return sched.step(guided, t, latents, return_dict=False)[0]

    def decode(self, latents):
        vae = self.comps.vae
        image = vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]
        return (image / 2 + 0.5).clamp(0, 1)

    def unet_step_fn(self) -> Callable[[], Any]:
        """One UNet forward at the CFG batch with fixed random inputs, for timing the UNet alone."""
        import torch

        with torch.inference_mode():
            sample = torch.randn(self.comps.family.latent_shape(self.unet_batch, self.resolution),
                                 generator=self.generator, device=self.device, dtype=self.dtype)
            context = self.encode()
            self.scheduler.set_timesteps(self.steps, device=self.device)
            t = self.scheduler.timesteps[len(self.scheduler.timesteps) // 2]
        unet, added = self.comps.unet, self.added_cond

        def step():
            with torch.inference_mode():
                return unet(sample, t, encoder_hidden_states=context, added_cond_kwargs=added,
                            return_dict=False)[0]

        return step


def _prompt_ids(batch: int, config, seed: int, device):
    """Token ids of an empty negative prompt and a 12-token prompt, padded as CLIP's tokenizer pads:
    [bos, tokens..., eos, eos...]. Shape (2 x batch, 77): uncond rows first, as diffusers orders them."""
    import torch

    bos, eos = config.bos_token_id, config.eos_token_id
    if not all(isinstance(i, int) and 0 <= i < config.vocab_size for i in (bos, eos)):
        bos, eos = 0, config.vocab_size - 1
    uncond = torch.full((TEXT_TOKENS,), eos, dtype=torch.long)
    uncond[0] = bos
    cond = uncond.clone()
    low = min(256, config.vocab_size - 2)  # skip byte-level single characters, as real words do
    cond[1:13] = torch.randint(low, config.vocab_size - 2, (12,), generator=torch.Generator().manual_seed(seed))
    ids = torch.stack([uncond] * batch + [cond] * batch)
    return ids.to(device)


@dataclass(frozen=True)
class UNetCheck:
    rel_error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        # NaN compares False: a non-finite result always fails.
        return self.rel_error <= self.tolerance

    @property
    def reason(self) -> str | None:
        if self.ok:
            return None
        return (f"UNet result differs from the float64 CPU reference: relative error {self.rel_error:.3g} "
                f"> tolerance {self.tolerance:.3g}")


# The reference check's image side for the real models: 64 px = an 8x8 latent, the smallest the three
# down-samplings of the SD UNets take; every layer of the timed model still runs, in float64 in seconds.
CHECK_RESOLUTION = 64


def _float64_copy(unet, fam):
    """The same weights as `unet` (wherever it lives, in whatever dtype) as a float64 module on the CPU,
    built on the meta device first so no random initialisation or second full-precision copy is made."""
    import torch
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        reference = UNet2DConditionModel(**fam.unet)
    state = {k: v.detach().to("cpu", torch.float64) for k, v in unet.state_dict().items()}
    reference.load_state_dict(state, assign=True)
    return reference.eval().requires_grad_(False)


def check_unet(device, dtype_name: str, seed: int = 0, *, model: str = "tiny", unet=None) -> UNetCheck:
    """Run a UNet on `device` in `dtype_name` and the same weights in float64 on the CPU; return the
    relative error of the device's output. With `unet` (the timed model's own UNet, sd15 or sdxl) that module
    is checked at CHECK_RESOLUTION; without, a fresh UNet of `model` (default the tiny one) is built."""
    import torch

    from .sd_models import torch_dtype

    fam = family(model)
    dt = torch_dtype(dtype_name)
    if unet is None:
        reference = build_unet(fam, "cpu", torch.float64, seed)
        # nn.Module.to, not diffusers' override (it warns about from_pretrained on every cast)
        under_test = torch.nn.Module.to(copy.deepcopy(reference), device=device, dtype=dt)
    else:
        reference, under_test = _float64_copy(unet, fam), unet
    resolution = fam.resolution if model == "tiny" else CHECK_RESOLUTION
    gen = torch.Generator().manual_seed(seed)
    sample = torch.randn(fam.latent_shape(2, resolution), generator=gen, dtype=torch.float64)
    context = torch.randn(2, TEXT_TOKENS, fam.context_dim, generator=gen, dtype=torch.float64)
    added = _added_cond(fam, 2, resolution, "cpu", torch.float64, gen)
    t = torch.tensor(500.0, dtype=torch.float64)
    with torch.inference_mode():
        expected = reference(sample, t, encoder_hidden_states=context, added_cond_kwargs=added,
                             return_dict=False)[0]
        added_dev = {k: v.to(device, dt) for k, v in added.items()} if added else None
        # float32 timestep: some GPUs (Intel Arc) have no float64
        got = under_test(sample.to(device, dt), t.to(device, torch.float32),
                         encoder_hidden_states=context.to(device, dt), added_cond_kwargs=added_dev,
                         return_dict=False)[0]
        got = got.to("cpu", torch.float64)
        err = float(torch.linalg.vector_norm(got - expected) / torch.linalg.vector_norm(expected))
    del reference
    return UNetCheck(err, TOLERANCE[dtype_name])
