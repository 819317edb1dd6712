"""ipex-benchmark comfyui without a ComfyUI: the checkpoint key layout, the workflow, the image check, the
config and CLI checks. The run against a real ComfyUI is tests/comfyui/test_real_benchmark.py."""

from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from ipex_integration.bench.model import BenchSpec, DeviceRun, Measurement, Stats, Status  # noqa: E402
from ipex_integration.bench.workloads import comfyui_checkpoint as ckpt  # noqa: E402
from ipex_integration.bench.workloads import sd_models  # noqa: E402
from ipex_integration.bench.workloads.comfyui import ComfyConfig, ratios  # noqa: E402
from ipex_integration.bench.workloads.comfyui_client import image_is_blank, txt2img_workflow  # noqa: E402
from ipex_integration.errors import UsageError  # noqa: E402


def _meta_state(factory):
    with torch.device("meta"):
        return factory().state_dict()


def test_sd15_keys_are_the_original_checkpoints():
    """The original SD1.5 single file has 686 UNet and 248 VAE tensors; spot checks of names and shapes that
    ComfyUI's detection reads (upsampler slots, 1x1-conv attention, conv proj_in)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    unet = ckpt.convert_unet(_meta_state(lambda: UNet2DConditionModel(**sd_models._SD15_UNET)), sd_models._SD15_UNET)
    vae = ckpt.convert_vae(_meta_state(lambda: AutoencoderKL(**sd_models._SD15_VAE)), sd_models._SD15_VAE)
    assert (len(unet), len(vae)) == (686, 248)
    prefix = "model.diffusion_model."
    assert unet[prefix + "output_blocks.2.1.conv.weight"].shape == (1280, 1280, 3, 3)  # level 0: no attention
    assert unet[prefix + "output_blocks.5.2.conv.weight"].shape == (1280, 1280, 3, 3)
    assert unet[prefix + "input_blocks.3.0.op.weight"].shape == (320, 320, 3, 3)
    assert unet[prefix + "middle_block.1.proj_in.weight"].ndim == 4  # SD1.5: use_linear_in_transformer False
    assert unet[prefix + "input_blocks.1.0.in_layers.2.weight"].shape == (320, 320, 3, 3)
    assert vae["first_stage_model.encoder.mid.attn_1.q.weight"].shape == (512, 512, 1, 1)
    assert vae["first_stage_model.decoder.up.0.block.0.nin_shortcut.weight"].shape == (128, 256, 1, 1)
    assert not any("resnets" in k or "attentions" in k or "up_blocks" in k for k in [*unet, *vae])


def test_sdxl_unet_keys_include_the_added_embedding():
    from diffusers import UNet2DConditionModel

    unet = ckpt.convert_unet(_meta_state(lambda: UNet2DConditionModel(**sd_models._SDXL_UNET)), sd_models._SDXL_UNET)
    assert len(unet) == 1680
    assert "model.diffusion_model.label_emb.0.0.weight" in unet
    assert "model.diffusion_model.output_blocks.2.2.conv.weight" in unet  # up level 0 has attention in SDXL


def test_open_clip_conversion_fuses_qkv_and_transposes_the_projection():
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                            num_attention_heads=2, projection_dim=8, max_position_embeddings=77)
    state = CLIPTextModelWithProjection(config).state_dict()
    out = ckpt.convert_open_clip(state, "conditioner.embedders.1.model.")
    p = "conditioner.embedders.1.model."
    assert out[p + "transformer.resblocks.1.attn.in_proj_weight"].shape == (48, 16)
    assert torch.equal(out[p + "transformer.resblocks.0.attn.in_proj_weight"][16:32],
                       state["text_model.encoder.layers.0.self_attn.k_proj.weight"])
    assert out[p + "text_projection"].shape == (16, 8)


def test_checkpoint_name_changes_with_seed_and_family():
    names = {ckpt.checkpoint_name("tiny"), ckpt.checkpoint_name("tiny", seed=1), ckpt.checkpoint_name("sd15")}
    assert len(names) == 3 and all(n.endswith(".safetensors") for n in names)
    assert ckpt.checkpoint_name("tiny") == ckpt.checkpoint_name("tiny")
    with pytest.raises(UsageError):
        ckpt.family_config("sd3")


def test_workflow_links_the_seven_nodes():
    wf = txt2img_workflow(checkpoint="x.safetensors", width=64, height=96, batch=4, steps=2, sampler="euler",
                          scheduler="normal", seed=7)
    assert [n["class_type"] for n in wf.values()] == [
        "CheckpointLoaderSimple", "CLIPTextEncode", "CLIPTextEncode", "EmptyLatentImage", "KSampler",
        "VAEDecode", "SaveImage"]
    assert wf["4"]["inputs"] == {"width": 64, "height": 96, "batch_size": 4}
    assert wf["5"]["inputs"]["positive"] == ["2", 0] and wf["5"]["inputs"]["negative"] == ["3", 0]
    assert wf["6"]["inputs"]["vae"] == ["1", 2] and wf["2"]["inputs"]["clip"] == ["1", 1]


def _png(pixels) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (4, 4), (10, 20, 30))
    for xy, colour in pixels:
        image.putpixel(xy, colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_blank_image_is_caught():
    assert image_is_blank(_png([]))[0] is True
    assert image_is_blank(_png([((1, 1), (11, 20, 30))]))[0] is False


@pytest.mark.parametrize("kwargs", [dict(width=60), dict(batches=()), dict(batches=(0,)), dict(steps=0),
                                    dict(images=0), dict(repetitions=0)])
def test_config_refuses_bad_values(kwargs):
    with pytest.raises(UsageError):
        ComfyConfig(**kwargs)


def test_ratio_is_ours_over_stock():
    def run(server, median):
        spec = BenchSpec("comfyui", "sd15_txt2img", "-", "512x512 20 steps b1", server)
        m = Measurement(spec, Status.OK, samples_s=[median], stats=Stats.from_samples([median]), items=20)
        return DeviceRun("cuda", "gpu", device={"server": server}, measurements=[m])

    assert ratios([run("ours", 1.0), run("stock", 1.1)]) == {"512x512 20 steps b1": pytest.approx(1.1)}


def test_cli_refuses_an_unknown_peer(capsys):
    from ipex_integration.cli.benchmark import main

    assert main(["comfyui", "--peer", "sdnext", "--cpu", "--output", "/tmp/never-made-by-this-test"]) == 2
    assert "unknown --peer 'sdnext'" in capsys.readouterr().err


def test_clip_l_keys_carry_text_model_whatever_the_transformers_version():
    """ComfyUI's SDXL loader takes conditioner.embedders.0.transformer.text_model.* only."""
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                            num_attention_heads=2, projection_dim=8, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    keys = ckpt.hf_clip_keys(CLIPTextModel(config).state_dict())
    assert keys and all(k.startswith("text_model.") for k in keys)
    assert "text_model.final_layer_norm.weight" in keys
