"""Random-weight Stable Diffusion checkpoints in the original single-file layout, made locally (never
downloaded), for `ipex-benchmark comfyui`: ComfyUI's CheckpointLoaderSimple detects the model type from the
keys and shapes, so these load as the real SD1.5 / SDXL would, and run at the real model's speed.

The modules are built by sd_models (diffusers / transformers classes from the published configs, seeded) and
their diffusers key names mapped to the original (ldm) ones:
- UNet: `model.diffusion_model.*` (time_embed, input_blocks, middle_block, output_blocks, out);
- VAE: `first_stage_model.*` (encoder.down.N.block.M, mid.attn_1, ...; attention weights as 1x1 convs);
- text: SD1.5 `cond_stage_model.transformer.text_model.*` (CLIP-L as transformers names it); SDXL
  `conditioner.embedders.0.transformer.text_model.*` (CLIP-L) and `conditioner.embedders.1.model.*`
  (OpenCLIP bigG, open_clip's names).

"tiny" is what a CPU test can run: the SD1.5 layout with the channels ComfyUI's detection requires (model
channels 320, context 768) but one resolution level pair and one block per level; its VAE and CLIP-L are
full size, since ComfyUI builds those from fixed configs and leaves missing weights uninitialised.

Run as a child (`python -m ipex_integration.bench.workloads.comfyui_checkpoint FAMILY PATH`): it imports
torch, which the CLI's own process never does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

from ...errors import UsageError

FAMILIES = ("tiny", "sd15", "sdxl")
# Bumped when the mapping or the configs change, so a cached file made by an older version is not reused.
FORMAT_VERSION = 2


def family_config(name: str) -> dict[str, Any]:
    """The module configs of one checkpoint family (plain data: its hash names the cached file)."""
    from . import sd_models as m

    if name == "sd15":
        return {"unet": dict(m._SD15_UNET), "vae": dict(m._SD15_VAE), "clip_l": dict(m._SD15_TEXT), "clip_g": None}
    if name == "tiny":
        unet = {**m._SD15_UNET, "sample_size": 8, "block_out_channels": (320, 320), "layers_per_block": 1,
                "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
                "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D")}
        return {"unet": unet, "vae": dict(m._SD15_VAE), "clip_l": dict(m._SD15_TEXT), "clip_g": None}
    if name == "sdxl":
        clip_l = {**m._SD15_TEXT, "projection_dim": 768}
        clip_g = {**m._SD15_TEXT, "hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32,
                  "num_attention_heads": 20, "projection_dim": 1280, "hidden_act": "gelu"}
        return {"unet": dict(m._SDXL_UNET), "vae": dict(m._SDXL_VAE), "clip_l": clip_l, "clip_g": clip_g}
    raise UsageError(f"unknown checkpoint family {name!r}; choose one of: {', '.join(FAMILIES)}")


def config_hash(name: str, seed: int, dtype: str) -> str:
    payload = json.dumps({"v": FORMAT_VERSION, "family": name, "seed": seed, "dtype": dtype,
                          "config": family_config(name)}, sort_keys=True, default=list)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def checkpoint_name(name: str, seed: int = 0, dtype: str = "fp16") -> str:
    """The file name: the family plus the hash of everything that decides its bytes."""
    return f"ipex-random-{name}-{config_hash(name, seed, dtype)}.safetensors"


# --------------------------------------------------------------------------------------------- key maps


def _block_has_attention(block_type: str) -> bool:
    return block_type.startswith("CrossAttn")


def unet_key_map(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(diffusers prefix, ldm prefix) pairs for a UNet2DConditionModel of `config`, longest prefixes first
    where they overlap. Generalises the SD1.5 table to any number of levels and blocks per level."""
    n = int(config["layers_per_block"])
    down, up = config["down_block_types"], config["up_block_types"]
    pairs = [("time_embedding.linear_1.", "time_embed.0."), ("time_embedding.linear_2.", "time_embed.2."),
             ("add_embedding.linear_1.", "label_emb.0.0."), ("add_embedding.linear_2.", "label_emb.0.2."),
             ("conv_in.", "input_blocks.0.0."), ("conv_norm_out.", "out.0."), ("conv_out.", "out.2."),
             ("mid_block.attentions.0.", "middle_block.1."),
             ("mid_block.resnets.0.", "middle_block.0."), ("mid_block.resnets.1.", "middle_block.2.")]
    for i, kind in enumerate(down):
        for j in range(n):
            block = 1 + i * (n + 1) + j
            pairs.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{block}.0."))
            if _block_has_attention(kind):
                pairs.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{block}.1."))
        if i < len(down) - 1:
            pairs.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(i + 1) * (n + 1)}.0.op."))
    for i, kind in enumerate(up):
        for j in range(n + 1):
            block = i * (n + 1) + j
            pairs.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{block}.0."))
            if _block_has_attention(kind):
                pairs.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{block}.1."))
        if i < len(up) - 1:
            slot = 2 if _block_has_attention(kind) else 1
            pairs.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{i * (n + 1) + n}.{slot}."))
    return pairs


# Inside a ResnetBlock2D / ResBlock: diffusers name -> ldm name.
_RESNET = (("norm1.", "in_layers.0."), ("conv1.", "in_layers.2."), ("norm2.", "out_layers.0."),
           ("conv2.", "out_layers.3."), ("time_emb_proj.", "emb_layers.1."), ("conv_shortcut.", "skip_connection."))


def convert_unet(state: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pairs = sorted(unet_key_map(config), key=lambda p: -len(p[0]))
    for key, value in state.items():
        for hf, ldm in pairs:
            if key.startswith(hf):
                rest = key[len(hf):]
                if ".resnets." in hf:
                    rest = _replace_prefix(rest, _RESNET)
                out["model.diffusion_model." + ldm + rest] = value
                break
        else:
            raise ValueError(f"UNet key without a mapping: {key}")
    return out


def convert_vae(state: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    levels = len(config["block_out_channels"])
    n = int(config["layers_per_block"])
    pairs = [("encoder.mid_block.attentions.0.", "encoder.mid.attn_1."),
             ("decoder.mid_block.attentions.0.", "decoder.mid.attn_1."),
             ("encoder.conv_norm_out.", "encoder.norm_out."), ("decoder.conv_norm_out.", "decoder.norm_out.")]
    for side in ("encoder", "decoder"):
        for j in range(2):
            pairs.append((f"{side}.mid_block.resnets.{j}.", f"{side}.mid.block_{j + 1}."))
    for i in range(levels):
        for j in range(n):
            pairs.append((f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}."))
        for j in range(n + 1):
            pairs.append((f"decoder.up_blocks.{i}.resnets.{j}.", f"decoder.up.{levels - 1 - i}.block.{j}."))
        if i < levels - 1:
            pairs.append((f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."))
            pairs.append((f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{levels - 1 - i}.upsample."))
    pairs.sort(key=lambda p: -len(p[0]))
    attention = (("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."),
                 ("to_out.0.", "proj_out."))
    out: dict[str, Any] = {}
    for key, value in state.items():
        new = key
        for hf, ldm in pairs:
            if key.startswith(hf):
                rest = key[len(hf):]
                if "attentions" in hf:
                    rest = _replace_prefix(rest, attention)
                    if value.ndim == 2:  # the original attention is made of 1x1 convolutions
                        value = value[:, :, None, None]
                else:
                    rest = _replace_prefix(rest, (("conv_shortcut.", "nin_shortcut."),))
                new = ldm + rest
                break
        out["first_stage_model." + new] = value
    return out


def _replace_prefix(rest: str, table: Iterable[tuple[str, str]]) -> str:
    for old, new in table:
        if rest.startswith(old):
            return new + rest[len(old):]
    return rest


def hf_clip_keys(state: Mapping[str, Any]) -> dict[str, Any]:
    """transformers' CLIP text weights under `text_model.*` whatever its version: 5.x's CLIPTextModel drops
    that level (`embeddings.*`), 4.x's and CLIPTextModelWithProjection keep it; the original checkpoints
    have it."""
    return {(k if k.startswith(("text_model.", "text_projection")) else "text_model." + k): v
            for k, v in state.items()}


def convert_open_clip(state: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """A transformers CLIPTextModelWithProjection's weights under open_clip's names (SDXL's bigG):
    fused in_proj of q/k/v, `transformer.resblocks.N`, `text_projection` transposed."""
    import torch

    state = hf_clip_keys(state)
    out: dict[str, Any] = {}
    layers = 1 + max(int(k.split(".")[3]) for k in state if k.startswith("text_model.encoder.layers."))
    for i in range(layers):
        src, dst = f"text_model.encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for part in ("weight", "bias"):
            out[dst + f"attn.in_proj_{part}"] = torch.cat([state[src + f"self_attn.{p}_proj.{part}"]
                                                          for p in ("q", "k", "v")])
            out[dst + f"attn.out_proj.{part}"] = state[src + f"self_attn.out_proj.{part}"]
            out[dst + f"ln_1.{part}"] = state[src + f"layer_norm1.{part}"]
            out[dst + f"ln_2.{part}"] = state[src + f"layer_norm2.{part}"]
            out[dst + f"mlp.c_fc.{part}"] = state[src + f"mlp.fc1.{part}"]
            out[dst + f"mlp.c_proj.{part}"] = state[src + f"mlp.fc2.{part}"]
    out[prefix + "token_embedding.weight"] = state["text_model.embeddings.token_embedding.weight"]
    out[prefix + "positional_embedding"] = state["text_model.embeddings.position_embedding.weight"]
    out[prefix + "ln_final.weight"] = state["text_model.final_layer_norm.weight"]
    out[prefix + "ln_final.bias"] = state["text_model.final_layer_norm.bias"]
    out[prefix + "text_projection"] = state["text_projection.weight"].t().contiguous()
    return out


# --------------------------------------------------------------------------------------------- writing


def build_state_dict(name: str, seed: int = 0) -> dict[str, Any]:
    """The whole checkpoint's tensors (fp32, on the CPU), seeded."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from .sd_models import _build

    config = family_config(name)
    unet = _build(lambda: UNet2DConditionModel(**config["unet"]), "cpu", None, seed)
    state = convert_unet(unet.state_dict(), config["unet"])
    del unet
    vae = _build(lambda: AutoencoderKL(**config["vae"]), "cpu", None, seed + 1)
    state.update(convert_vae(vae.state_dict(), config["vae"]))
    del vae
    clip_l = _build(lambda: CLIPTextModel(CLIPTextConfig(**config["clip_l"])), "cpu", None, seed + 2)
    l_prefix = ("conditioner.embedders.0.transformer." if config["clip_g"] else "cond_stage_model.transformer.")
    state.update({l_prefix + k: v for k, v in hf_clip_keys(clip_l.state_dict()).items()})
    if config["clip_g"]:
        clip_g = _build(lambda: CLIPTextModelWithProjection(CLIPTextConfig(**config["clip_g"])), "cpu", None,
                        seed + 3)
        state.update(convert_open_clip(clip_g.state_dict(), "conditioner.embedders.1.model."))
    # position_ids is a buffer transformers keeps; the original checkpoints have none.
    return {k: v.contiguous() for k, v in state.items() if not k.endswith("position_ids")}


def write_checkpoint(name: str, path: Path, *, seed: int = 0, dtype: str = "fp16") -> Path:
    """Write the checkpoint to `path` (atomically: a temporary file renamed into place)."""
    import torch
    from safetensors.torch import save_file

    cast = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    state = {k: v.to(cast) for k, v in build_state_dict(name, seed).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file(state, str(partial), metadata={"ipex_integration": f"random {name} seed {seed}",
                                             "format_version": str(FORMAT_VERSION)})
    partial.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="comfyui_checkpoint", description=__doc__.split("\n\n")[0])
    parser.add_argument("family", choices=FAMILIES)
    parser.add_argument("path", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=("fp16", "bf16", "fp32"), default="fp16")
    args = parser.parse_args(argv)
    write_checkpoint(args.family, args.path, seed=args.seed, dtype=args.dtype)
    print(args.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
