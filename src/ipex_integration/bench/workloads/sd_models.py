"""Stable Diffusion model families for the "sd" workload: their configurations, random-weight builds and
FLOP counts. Nothing here downloads anything: every module is built from a config dict with random weights.

The configs are those of the published checkpoints (runwayml/stable-diffusion-v1-5 and
stabilityai/stable-diffusion-xl-base-1.0 `config.json` files), written out here so no hub access is needed.
"tiny" keeps SD1.5's block layout with tiny channels, for CPU and CI runs of a few seconds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Mapping

from ...errors import UsageError

MODELS = ("tiny", "sd15", "sdxl")
SD_DTYPES = ("fp32", "fp16", "bf16")

_SD15_DOWN = ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D")
_SD15_UP = ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")
_VAE_DOWN = ("DownEncoderBlock2D",) * 4
_VAE_UP = ("UpDecoderBlock2D",) * 4

# SD1.5 and SDXL were trained with the same scaled-linear beta schedule; "leading" spacing with offset 1 is
# what their scheduler configs say.
_SCHEDULER = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "steps_offset": 1,
    "timestep_spacing": "leading",
}

_SD15_UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": _SD15_DOWN,
    "up_block_types": _SD15_UP,
    "cross_attention_dim": 768,  # diffusers' default is 1280 (SD2): SD1.5's CLIP-L gives 768
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}
_SD15_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": _VAE_DOWN,
    "up_block_types": _VAE_UP,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
# openai/clip-vit-large-patch14's text tower, as SD1.5's text_encoder/config.json has it.
_SD15_TEXT = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
    "bos_token_id": 49406,  # <|startoftext|> and <|endoftext|> of CLIP's tokenizer
    "eos_token_id": 49407,
    "pad_token_id": 49407,
}

_SDXL_UNET = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "transformer_layers_per_block": (1, 2, 10),
    "attention_head_dim": (5, 10, 20),
    "cross_attention_dim": 2048,  # CLIP-L (768) and OpenCLIP-bigG (1280) hidden states, concatenated
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,  # pooled bigG (1280) + 6 time ids x 256
    "norm_num_groups": 32,
}
_SDXL_VAE = {**_SD15_VAE, "sample_size": 1024, "scaling_factor": 0.13025}

_TINY_UNET = {
    **_SD15_UNET,
    "sample_size": 4,
    "block_out_channels": (32, 32, 64, 64),
    "cross_attention_dim": 32,
    "attention_head_dim": 2,
    "norm_num_groups": 8,
}
_TINY_VAE = {**_SD15_VAE, "block_out_channels": (8, 8, 16, 16), "layers_per_block": 1, "norm_num_groups": 4,
             "sample_size": 32}
_TINY_TEXT = {
    **_SD15_TEXT,
    "vocab_size": 1000,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "projection_dim": 32,
    "bos_token_id": 998,
    "eos_token_id": 999,
    "pad_token_id": 999,
}

TEXT_TOKENS = 77  # CLIP's context length: every prompt is padded to it


@dataclass(frozen=True)
class ModelFamily:
    """One SD model family: its module configs and defaults. `text` None means the text encoders are not built
    and random embeddings of the right shapes stand in for their output (SDXL: its two encoders)."""

    name: str
    unet: Mapping[str, Any]
    vae: Mapping[str, Any]
    text: Mapping[str, Any] | None
    resolution: int
    steps: int
    pooled_dim: int | None = None  # SDXL: the pooled text embedding fed to the "text_time" embedding
    scheduler: Mapping[str, Any] = field(default_factory=lambda: dict(_SCHEDULER))
    note: str = ""

    @property
    def latent_factor(self) -> int:
        """Image pixels per latent pixel: the VAE halves the size in each block but the last."""
        return 2 ** (len(self.vae["block_out_channels"]) - 1)

    @property
    def context_dim(self) -> int:
        return int(self.unet["cross_attention_dim"])

    def latent_shape(self, batch: int, resolution: int) -> tuple[int, int, int, int]:
        side = resolution // self.latent_factor
        return (batch, int(self.unet["in_channels"]), side, side)


FAMILIES: dict[str, ModelFamily] = {
    "tiny": ModelFamily("tiny", _TINY_UNET, _TINY_VAE, _TINY_TEXT, resolution=32, steps=4,
                        note="SD1.5 block layout with tiny channels"),
    "sd15": ModelFamily("sd15", _SD15_UNET, _SD15_VAE, _SD15_TEXT, resolution=512, steps=20),
    "sdxl": ModelFamily("sdxl", _SDXL_UNET, _SDXL_VAE, None, resolution=1024, steps=20, pooled_dim=1280,
                        note="text encoders replaced by random embeddings of their output shapes "
                             "(2x77x2048 hidden states, 2x1280 pooled)"),
}


def family(name: str) -> ModelFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise UsageError(f"unknown SD model {name!r}; choose one of: {', '.join(MODELS)}") from None


def torch_dtype(name: str):
    import torch

    table = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    try:
        return table[name]
    except KeyError:
        raise UsageError(f"the sd workload runs {', '.join(SD_DTYPES)}, not {name!r}") from None


@dataclass
class Components:
    """The built modules of one family on one device, in one dtype (eval mode, no gradients)."""

    family: ModelFamily
    unet: Any
    vae: Any
    text_encoder: Any | None
    device: Any
    dtype: Any


def build_unet(fam: ModelFamily, device="cpu", dtype=None, seed: int = 0):
    from diffusers import UNet2DConditionModel

    return _build(lambda: UNet2DConditionModel(**fam.unet), device, dtype, seed)


def build_components(fam: ModelFamily, device, dtype, seed: int = 0) -> Components:
    """Random-weight UNet, VAE and (where the family has one) CLIP text encoder, built on `device` so the
    initialisation runs there (seconds on a GPU instead of minutes on a CPU for SDXL)."""
    from diffusers import AutoencoderKL

    unet = build_unet(fam, device, dtype, seed)
    vae = _build(lambda: AutoencoderKL(**fam.vae), device, dtype, seed + 1)
    text = None
    if fam.text is not None:
        from transformers import CLIPTextConfig, CLIPTextModel

        config = CLIPTextConfig(**fam.text)
        text = _build(lambda: CLIPTextModel(config), device, dtype, seed + 2)
    import torch

    return Components(fam, unet, vae, text, torch.device(device), dtype)


def make_scheduler(fam: ModelFamily):
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(**fam.scheduler)


def _build(factory, device, dtype, seed: int):
    import torch

    device = torch.device(device)
    # A private RNG state: seeding must not change the caller's global random streams.
    accelerator = device.type in ("cuda", "xpu")
    forked = [device.index or 0] if accelerator else []
    with torch.random.fork_rng(devices=forked, device_type=device.type if accelerator else "cuda"):
        torch.manual_seed(seed)
        with torch.device(device):
            module = factory()
    if dtype is not None:
        # nn.Module.to, not diffusers' override: that one warns about from_pretrained on every cast
        module = torch.nn.Module.to(module, dtype=dtype)
    return module.eval().requires_grad_(False)


@dataclass(frozen=True)
class FlopCount:
    """FLOPs (multiply-add = 2) of one call of each module, counted by torch's FlopCounterMode."""

    unet_forward: float  # one UNet forward at the counted batch
    text_encode: float  # the text encoder at the counted batch (0 where random embeddings stand in)
    vae_decode: float  # decoding the counted number of images

    def pipeline(self, steps: int) -> float:
        return steps * self.unet_forward + self.text_encode + self.vae_decode


@functools.lru_cache(maxsize=16)
def count_flops(name: str, resolution: int, unet_batch: int, images: int) -> FlopCount:
    """Counted on the meta device: no memory, no compute, the same on every backend (a fraction of a second
    even for SDXL). `unet_batch` is the UNet's batch (2 x images with classifier-free guidance)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    fam = family(name)
    meta = torch.device("meta")
    comps = build_components(fam, meta, None)
    with torch.device(meta):
        sample = torch.randn(fam.latent_shape(unet_batch, resolution))
        context = torch.randn(unet_batch, TEXT_TOKENS, fam.context_dim)
        added = _added_cond(fam, unet_batch, resolution, meta, torch.float32)
        latents = torch.randn(fam.latent_shape(images, resolution))
        ids = torch.zeros(unet_batch, TEXT_TOKENS, dtype=torch.long)
        timestep = torch.tensor(500.0)
    counts = []
    with torch.inference_mode():
        for call in (
            lambda: comps.unet(sample, timestep, encoder_hidden_states=context, added_cond_kwargs=added),
            lambda: comps.text_encoder(ids) if comps.text_encoder is not None else None,
            lambda: comps.vae.decode(latents),
        ):
            with FlopCounterMode(display=False) as counter:
                call()
            counts.append(float(counter.get_total_flops()))
    return FlopCount(*counts)


def _added_cond(fam: ModelFamily, batch: int, resolution: int, device, dtype, generator=None):
    """SDXL's extra conditioning: pooled text embedding and the six "time ids" (original size, crop
    top-left, target size). None for families without it."""
    if fam.pooled_dim is None:
        return None
    import torch

    pooled = torch.randn(batch, fam.pooled_dim, generator=generator, device=device, dtype=dtype)
    time_ids = torch.tensor([resolution, resolution, 0, 0, resolution, resolution], device=device, dtype=dtype)
    return {"text_embeds": pooled, "time_ids": time_ids.repeat(batch, 1)}
