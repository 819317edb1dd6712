"""A random-weight SD1.x checkpoint small enough for a VM test, built from ComfyUI's own classes so its keys are
the ones ComfyUI's loader detects: a one-level UNet with SD1.5's detection keys (model_channels 320,
context_dim 768), CLIP-L (its size is fixed by ComfyUI's config) and a VAE. The weights are random: the test
checks that ComfyUI runs the workflow and writes an image, not what the image shows.

    COMFYUI_PATH=... python make-checkpoint.py OUT.safetensors
"""

import os
import sys

OUT = sys.argv[1]
sys.path.insert(0, os.environ["COMFYUI_PATH"])
sys.argv = [sys.argv[0], "--cpu"]  # ComfyUI parses the command line at import

import comfy.options  # noqa: E402

comfy.options.enable_args_parsing()

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import comfy.sd  # noqa: E402
import comfy.sd1_clip  # noqa: E402
from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel  # noqa: E402


def randomised(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """The module's weights, drawn at random (ComfyUI's layers skip initialisation), under `prefix`."""
    generator = torch.Generator().manual_seed(0)
    out = {}
    for name, tensor in module.state_dict().items():
        values = torch.randn(tensor.shape, generator=generator) * 0.02
        out[prefix + name] = values.to(torch.float16).contiguous()
    return out


def main(path: str) -> None:
    unet = UNetModel(
        image_size=32, in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[1], channel_mult=[1],
        use_spatial_transformer=True, transformer_depth=[1], transformer_depth_output=[1, 1],
        transformer_depth_middle=1, context_dim=768, num_heads=8, legacy=False, use_linear_in_transformer=False,
        dtype=torch.float32, device="cpu",
    )
    clip = comfy.sd1_clip.SDClipModel(device="cpu", dtype=torch.float32)
    # ComfyUI's VAE picks its shape from these keys: SD's VAE (four levels, 8x from latent to pixels).
    vae = comfy.sd.VAE(sd={
        "decoder.conv_in.weight": torch.zeros(512, 4, 3, 3),
        "decoder.up.3.upsample.conv.weight": torch.zeros(512, 512, 3, 3),
    })
    weights = {
        **randomised(unet, "model.diffusion_model."),
        **randomised(clip, "cond_stage_model."),
        **randomised(vae.first_stage_model, "first_stage_model."),
    }
    save_file(weights, path)
    print(f"{path}: {len(weights)} tensors, {sum(t.numel() for t in weights.values()) / 1e6:.0f}M weights")


if __name__ == "__main__":
    main(OUT)
