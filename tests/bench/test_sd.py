"""The "sd" workload: configs, FLOP counts, our pipeline against diffusers', and real runs of the tiny model
on the CPU through the harness. GPU tests run on CUDA/XPU machines and skip elsewhere."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import math
import statistics
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from diffusers import AutoencoderKL, UNet2DConditionModel  # noqa: E402

from ipex_integration.bench.harness import DeviceTimer  # noqa: E402
from ipex_integration.bench.device import device_ops  # noqa: E402
from ipex_integration.bench.model import BenchSpec, Status  # noqa: E402
from ipex_integration.bench.workload import BenchContext, SuiteConfig  # noqa: E402
from ipex_integration.bench.workloads import get_workload  # noqa: E402
from ipex_integration.bench.workloads.sd import QUICK_GPU_STEPS, SDRun, SDWorkload, plan  # noqa: E402
from ipex_integration.bench.workloads.sd_models import (  # noqa: E402
    TEXT_TOKENS,
    build_components,
    count_flops,
    family,
)
from ipex_integration.bench.workloads.sd_peer import diffusers_pipeline, offline_tokenizer  # noqa: E402
from ipex_integration.bench.workloads.sd_pipeline import SDPipeline, UNetCheck, check_unet  # noqa: E402
from ipex_integration.errors import UsageError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# DESIGN.md: one UNet forward, batch 1 (no CFG), counted with FlopCounterMode.
SD15_UNET_GFLOP = 803
SDXL_UNET_GFLOP = 6761


class RecordingTimer:
    """A minimal Timer (bench.workload.Timer) on the host clock that remembers what it returned, so tests can
    redo the workload's arithmetic from the very samples it used."""

    def __init__(self) -> None:
        self.calls: list[list[float]] = []

    def time(self, fn, *, warmup_s, budget_s, flush_l2=False, min_reps=5, max_reps=10_000, wall_clock=False):
        fn()  # warm-up
        samples: list[float] = []
        begin = time.perf_counter()
        while len(samples) < min_reps or (time.perf_counter() - begin < budget_s and len(samples) < max_reps):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        self.calls.append(samples)
        return samples


def cpu_ctx(config: SuiteConfig | None = None, timer=None) -> BenchContext:
    return BenchContext(device=torch.device("cpu"), backend="cpu", config=config or SuiteConfig(),
                        timer=timer or DeviceTimer(device_ops("cpu")), warmup_s=0.0, budget_s=0.0)


@pytest.fixture(autouse=True, scope="module")
def one_cpu_thread():
    """The tiny model's ops are far too small for intra-op threads to pay, and on a shared 2-core machine
    (CI runners, parallel test runs) OpenMP's spinning threads turn a 50 ms pipeline into seconds."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny():
    return build_components(family("tiny"), "cpu", torch.float32, seed=0)


# -- configs (no model built) ---------------------------------------------------------------------------


def _init_params(cls) -> dict:
    return inspect.signature(cls.__init__).parameters


def test_sd15_unet_config_is_sd15s_and_overrides_diffusers_default():
    unet = family("sd15").unet
    assert unet["cross_attention_dim"] == 768
    # The override matters: diffusers' own default (SD2's 1280) would build a different model.
    assert _init_params(UNet2DConditionModel)["cross_attention_dim"].default == 1280
    assert unet["block_out_channels"] == (320, 640, 1280, 1280)
    assert unet["layers_per_block"] == 2 and unet["attention_head_dim"] == 8 and unet["sample_size"] == 64
    assert unet["down_block_types"] == ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",)
    assert unet["up_block_types"] == ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3
    assert set(unet) <= set(_init_params(UNet2DConditionModel)), "a key the constructor does not take"


def test_sd15_vae_text_encoder_and_scheduler_configs():
    fam = family("sd15")
    assert fam.vae["block_out_channels"] == (128, 256, 512, 512) and fam.vae["latent_channels"] == 4
    assert fam.vae["down_block_types"] == ("DownEncoderBlock2D",) * 4
    assert set(fam.vae) <= set(_init_params(AutoencoderKL))
    text = fam.text
    assert (text["hidden_size"], text["num_hidden_layers"], text["num_attention_heads"]) == (768, 12, 12)
    assert (text["max_position_embeddings"], text["vocab_size"]) == (77, 49408)
    assert fam.scheduler["beta_schedule"] == "scaled_linear"
    assert (fam.scheduler["beta_start"], fam.scheduler["beta_end"]) == (0.00085, 0.012)
    assert (fam.resolution, fam.steps, fam.latent_factor) == (512, 20, 8)


def test_sdxl_config():
    fam = family("sdxl")
    unet = fam.unet
    assert unet["block_out_channels"] == (320, 640, 1280)
    assert unet["transformer_layers_per_block"] == (1, 2, 10)
    assert unet["cross_attention_dim"] == 2048 and unet["addition_embed_type"] == "text_time"
    assert fam.resolution == 1024 and fam.text is None and "random embeddings" in fam.note
    assert set(unet) <= set(_init_params(UNet2DConditionModel))


def test_tiny_keeps_sd15s_block_layout_with_small_channels():
    tiny, sd15 = family("tiny"), family("sd15")
    for key in ("down_block_types", "up_block_types", "layers_per_block"):
        assert tiny.unet[key] == sd15.unet[key]
    assert tiny.vae["down_block_types"] == sd15.vae["down_block_types"]
    assert max(tiny.unet["block_out_channels"]) <= 64 and tiny.resolution == 32


def test_unknown_model_is_a_usage_error_naming_the_choices():
    with pytest.raises(UsageError, match="tiny, sd15, sdxl"):
        family("sd3")


# -- FLOPs --------------------------------------------------------------------------------------------


def test_sd15_unet_flops_match_the_design_figure():
    flops = count_flops("sd15", 512, 1, 1)
    assert flops.unet_forward == pytest.approx(SD15_UNET_GFLOP * 1e9, rel=0.05)
    assert count_flops("sd15", 512, 2, 1).unet_forward == pytest.approx(2 * flops.unet_forward, rel=1e-9)
    assert flops.text_encode > 0 and flops.vae_decode > 0


def test_sdxl_unet_flops_match_the_design_figure():
    flops = count_flops("sdxl", 1024, 1, 1)
    assert flops.unet_forward == pytest.approx(SDXL_UNET_GFLOP * 1e9, rel=0.05)
    assert flops.text_encode == 0  # random embeddings stand in for its text encoders


def _analytic_unet_flops(unet, sample, t, context) -> float:
    """Count by hand, from the shapes a real forward sees: 2 x MACs of every convolution and linear layer,
    plus the two attention products (Q K^T and A V) of every attention."""
    total = 0

    def conv(m, args, out):
        nonlocal total
        kh, kw = m.kernel_size
        total += 2 * out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear(m, args, out):
        nonlocal total
        total += 2 * out.numel() * m.in_features

    def attention(m, args, kwargs, out):
        nonlocal total
        query = args[0] if args else kwargs["hidden_states"]
        keys = kwargs.get("encoder_hidden_states")
        keys = query if keys is None else keys
        batch, q_len, k_len = query.shape[0], query.shape[1], keys.shape[1]
        total += 2 * 2 * batch * q_len * k_len * m.inner_dim

    handles = []
    for module in unet.modules():
        if isinstance(module, torch.nn.Conv2d):
            handles.append(module.register_forward_hook(conv))
        elif isinstance(module, torch.nn.Linear):
            handles.append(module.register_forward_hook(linear))
        elif type(module).__name__ == "Attention":
            handles.append(module.register_forward_hook(attention, with_kwargs=True))
    try:
        with torch.inference_mode():
            unet(sample, t, encoder_hidden_states=context)
    finally:
        for handle in handles:
            handle.remove()
    return float(total)


def test_tiny_flop_count_matches_an_analytic_count(tiny):
    fam = tiny.family
    sample = torch.randn(fam.latent_shape(2, fam.resolution))
    context = torch.randn(2, TEXT_TOKENS, fam.context_dim)
    expected = _analytic_unet_flops(tiny.unet, sample, torch.tensor(500.0), context)
    assert expected > 1e7
    assert count_flops("tiny", fam.resolution, 2, 1).unet_forward == pytest.approx(expected, rel=0.01)


# -- our pipeline -------------------------------------------------------------------------------------


def test_our_loop_computes_what_diffusers_pipeline_computes(tiny):
    ours = SDPipeline(tiny, steps=4, resolution=32, seed=1)
    peer = diffusers_pipeline(tiny)
    with torch.inference_mode():
        context = ours.encode()
        noise = ours.noise()
        mine = ours.denoise(context, noise)
        theirs = peer(prompt_embeds=context[1:], negative_prompt_embeds=context[:1], latents=noise.clone(),
                      num_inference_steps=4, guidance_scale=ours.guidance_scale, height=32, width=32,
                      output_type="latent", return_dict=False)[0]
    assert mine.shape == theirs.shape == (1, 4, 4, 4)
    assert float((mine - theirs).norm() / theirs.norm()) < 1e-5


def test_unet_runs_with_cfg_batch_of_two_for_each_step(tiny):
    ours = SDPipeline(tiny, steps=3, resolution=32)
    seen = []
    handle = tiny.unet.register_forward_hook(
        lambda m, args, kwargs, out: seen.append((args[0].shape[0], kwargs["encoder_hidden_states"].shape[0])),
        with_kwargs=True,
    )
    try:
        image = ours()
    finally:
        handle.remove()
    assert seen == [(2, 2)] * 3
    assert ours.unet_batch == 2 and ours.items == 3
    assert image.shape == (1, 3, 32, 32) and 0 <= float(image.min()) and float(image.max()) <= 1


def test_each_call_draws_fresh_latents_reproducibly(tiny):
    first = SDPipeline(tiny, steps=2, resolution=32, seed=7)
    a, b = first(), first()
    assert not torch.equal(a, b)
    again = SDPipeline(tiny, steps=2, resolution=32, seed=7)
    assert torch.allclose(again(), a)


def test_sdxl_path_with_random_text_embeddings_runs():
    """SDXL's code path (no text encoder, pooled embedding and time ids into the "text_time" embedding) on a
    miniature of SDXL's UNet layout."""
    sdxl = family("sdxl")
    mini = dataclasses.replace(
        sdxl,
        name="sdxl-mini",
        unet={**sdxl.unet, "block_out_channels": (32, 64, 64), "transformer_layers_per_block": (1, 2, 2),
              "attention_head_dim": (2, 4, 4), "cross_attention_dim": 64, "addition_time_embed_dim": 8,
              "projection_class_embeddings_input_dim": 32 + 6 * 8, "norm_num_groups": 8, "sample_size": 4},
        vae=family("tiny").vae,
        pooled_dim=32,
        resolution=32,
    )
    comps = build_components(mini, "cpu", torch.float32)
    assert comps.text_encoder is None
    pipe = SDPipeline(comps, steps=2, resolution=32)
    assert pipe.added_cond["text_embeds"].shape == (2, 32)
    assert pipe.added_cond["time_ids"].tolist() == [[32, 32, 0, 0, 32, 32]] * 2
    image = pipe()
    assert image.shape == (1, 3, 32, 32) and bool(torch.isfinite(image).all())
    assert pipe.unet_step_fn()().shape == (2, 4, 4, 4)


def test_offline_tokenizer_pads_like_clip():
    tok = offline_tokenizer()
    ids = tok(["a cat", ""], padding="max_length", max_length=tok.model_max_length, return_tensors="pt").input_ids
    assert ids.shape == (2, 77)
    assert ids[0, 0] == tok.bos_token_id and ids[1, 1] == tok.eos_token_id
    assert int(ids.max()) < family("tiny").text["vocab_size"]


def test_float64_reference_check():
    good = check_unet("cpu", "fp32")
    assert good.ok and good.rel_error < 1e-5 and good.reason is None
    bf16 = check_unet("cpu", "bf16")
    assert bf16.ok and bf16.rel_error > good.rel_error  # bf16 rounding shows, within its tolerance
    bad = UNetCheck(math.nan, 1e-2)
    assert not bad.ok and "relative error nan" in bad.reason


def test_reference_check_runs_the_timed_unet_itself():
    """Issue 14: the check takes the timed model's UNet (its own weights) and compares it with a float64
    copy of exactly those weights; a fault in that module is caught, which a fresh tiny UNet would miss."""
    from ipex_integration.bench.workloads.sd_models import build_unet

    unet = build_unet(family("tiny"), "cpu", None, seed=3)
    assert check_unet("cpu", "fp32", model="tiny", unet=unet).rel_error < 1e-5
    handle = unet.conv_out.register_forward_hook(lambda mod, args, out: out * 1.5)  # a wrong kernel
    try:
        broken = check_unet("cpu", "fp32", model="tiny", unet=unet)
    finally:
        handle.remove()
    assert not broken.ok and broken.rel_error == pytest.approx(0.5, rel=1e-3)


# -- the workload -------------------------------------------------------------------------------------


def test_registry_finds_the_sd_workload():
    assert get_workload("sd").name == "sd"


def test_default_specs_by_backend_and_suite():
    cpu = SDWorkload().specs(SuiteConfig(), "cpu")
    assert [s.op for s in cpu] == ["tiny_unet_step", "tiny_pipeline"]
    assert {s.dtype for s in cpu} == {"fp32"} and {s.variant for s in cpu} == {"cfg"}
    quick = plan(SuiteConfig(suite="quick"), "cuda")
    assert [(r.model, r.dtype, r.resolution, r.steps) for r in quick] == [("sd15", "fp16", 512, QUICK_GPU_STEPS)]
    standard = plan(SuiteConfig(suite="standard"), "cuda")
    assert [(r.model, r.steps) for r in standard] == [("sd15", 20)]
    assert [r.model for r in plan(SuiteConfig(suite="full"), "xpu")] == ["sd15", "sdxl"]
    graph = SDWorkload().specs(SuiteConfig(graph=True), "cuda")
    assert [s.variant for s in graph if s.op == "sd15_unet_step"] == ["cfg", "cfg+graph"]
    assert all(s.variant == "cfg" for s in SDWorkload().specs(SuiteConfig(graph=True), "cpu"))


def test_overrides_and_bad_input():
    runs = plan(SuiteConfig(sd_model="sdxl", sd_steps=5, sd_resolution=768, dtypes=("bf16", "tf32")), "cuda")
    assert [(r.model, r.dtype, r.resolution, r.steps) for r in runs] == [("sdxl", "bf16", 768, 5)]
    # tf32 is a matmul mode, not a model dtype: the device's usual dtype runs instead
    assert [r.dtype for r in plan(SuiteConfig(dtypes=("tf32",)), "cuda")] == ["fp16"]
    with pytest.raises(UsageError, match="tiny, sd15, sdxl"):
        plan(SuiteConfig(sd_model="sd2"), "cpu")
    with pytest.raises(UsageError, match="multiple of 8"):
        plan(SuiteConfig(sd_resolution=500), "cpu")
    with pytest.raises(UsageError, match="at least 1"):
        plan(SuiteConfig(sd_steps=-1), "cpu")


def test_specs_round_trip():
    run = SDRun("sd15", "fp16", 512, 20, 2)
    assert SDRun.from_spec(run.pipeline_spec()) == run
    assert SDRun.from_spec(run.unet_spec(graph=True), steps=20) == run
    assert run.unet_spec().shape == "512x512 b4"
    with pytest.raises(UsageError):
        SDRun.from_spec(BenchSpec("sd", "sd15_pipeline", "fp16", "512 pixels"))


def test_unknown_spec_is_failed_not_raised():
    m = SDWorkload().run(BenchSpec("sd", "sd9_pipeline", "fp32", "32x32 4 steps b1", "cfg"), cpu_ctx())
    assert m.status is Status.FAILED and "not an sd spec" in m.reason


def test_tiny_pipeline_measurement_on_cpu():
    """A real run through the harness; it/s, s/image and UNet it/s recomputed from the timer's samples."""
    timer = RecordingTimer()
    workload = SDWorkload()
    ctx = cpu_ctx(SuiteConfig(sd_steps=3), timer)
    unet_spec, pipe_spec = workload.specs(ctx.config, "cpu")
    unet = workload.run(unet_spec, ctx)
    assert unet.status is Status.OK, unet.reason
    unet_samples = timer.calls[-1]
    assert unet.samples_s == unet_samples and unet.items == 1
    assert unet.flops == count_flops("tiny", 32, 2, 1).unet_forward
    assert unet.check_error is not None and unet.check_error < 1e-5

    pipe = workload.run(pipe_spec, ctx)
    assert pipe.status is Status.OK, pipe.reason
    samples = timer.calls[-1]
    assert len(samples) >= 3 and pipe.samples_s == samples
    median = statistics.median(samples)
    assert pipe.items == 3  # steps x batch
    assert pipe.its == pytest.approx(3 / median)
    assert pipe.extra["it_s"] == pytest.approx(pipe.its)
    assert pipe.extra["s_per_image"] == pytest.approx(median)
    assert pipe.extra["unet_it_s"] == pytest.approx(1 / statistics.median(unet_samples))
    flops = count_flops("tiny", 32, 2, 1)
    assert pipe.flops == pytest.approx(3 * flops.unet_forward + flops.text_encode + flops.vae_decode)
    assert pipe.tflops == pytest.approx(pipe.flops / median / 1e12)
    assert pipe.extra["unet_tflops"] == pytest.approx(flops.unet_forward * pipe.extra["unet_it_s"] / 1e12)
    assert pipe.extra["cfg_batch"] == 2 and pipe.extra["scheduler"] == "EulerDiscreteScheduler"


def test_pipeline_times_the_unet_itself_when_its_spec_did_not_run():
    timer = RecordingTimer()
    ctx = cpu_ctx(SuiteConfig(sd_steps=2), timer)
    pipe_spec = SDWorkload().specs(ctx.config, "cpu")[1]
    m = SDWorkload().run(pipe_spec, ctx)
    assert m.status is Status.OK, m.reason
    assert len(timer.calls) == 2  # the UNet step, then the pipeline
    assert m.extra["unet_it_s"] == pytest.approx(1 / statistics.median(timer.calls[0]))


def test_nan_weights_fail_both_specs():
    workload = SDWorkload()
    ctx = cpu_ctx(SuiteConfig(sd_steps=2))
    for spec in workload.specs(ctx.config, "cpu"):
        pipe = workload.pipeline_for(SDRun.from_spec(spec), ctx)  # a failure releases the model: poison anew
        with torch.no_grad():
            pipe.comps.unet.conv_out.bias.fill_(float("nan"))
        m = workload.run(spec, ctx)
        # the float64 check of the timed UNet itself now catches it first (issue 14); before it, the NaN scan
        assert m.status is Status.FAILED and m.stats is None, spec.key
        assert "NaN" in m.reason or "relative error nan" in m.reason, m.reason


def test_out_of_memory_is_reported_as_oom():
    # 2^25 pixels a side: the latents alone would be 256 TiB, more than any address space; the allocation
    # fails at once, whatever the overcommit policy.
    workload = SDWorkload()
    ctx = cpu_ctx(SuiteConfig(sd_steps=1, sd_resolution=2**25))
    for spec in workload.specs(ctx.config, "cpu"):
        m = workload.run(spec, ctx)
        assert m.status is Status.OOM, (spec.key, m.status, m.reason)
        assert "out of memory" in m.reason


# -- the comparison script ------------------------------------------------------------------------------


def _script():
    path = REPO / "benchmarks" / "sd_vs_diffusers.py"
    spec = importlib.util.spec_from_file_location("sd_vs_diffusers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_comparison_script_tiny_smoke(tmp_path, capsys):
    out = tmp_path / "sd.json"
    code = _script().main(["--tiny", "--device", "cpu", "--runs", "2", "--warmup", "1", "--unet-budget", "0.05", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "pipeline ours/diffusers =" in printed
    results = json.loads(out.read_text())
    assert results["agreement"] < 1e-4
    for part in ("pipeline", "loop"):
        assert results[part]["ratio"] == pytest.approx(results[part]["diffusers_s"] / results[part]["ours_s"])
        assert results[part]["ours_it_s"] == pytest.approx(4 / results[part]["ours_s"])
    statuses = {key: m["status"] for key, m in results["workload"].items()}
    assert statuses == {"sd/tiny_unet_step/fp32/32x32 b2/cfg": "ok", "sd/tiny_pipeline/fp32/32x32 4 steps b1/cfg": "ok"}


def test_comparison_script_refuses_sd15_on_cpu(capsys):
    assert _script().main(["--device", "cpu"]) == 2
    assert "--tiny" in capsys.readouterr().err


# -- GPU ----------------------------------------------------------------------------------------------


def _gpu() -> str | None:
    if torch.cuda.is_available():
        return "cuda:0"
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        return "xpu:0"
    return None


GPU = _gpu()


def gpu_ctx(config: SuiteConfig) -> BenchContext:
    ops = device_ops(GPU)
    return BenchContext(device=torch.device(GPU), backend=ops.backend, config=config, timer=DeviceTimer(ops),
                        warmup_s=0.1, budget_s=0.3, info=ops.info())


@pytest.mark.gpu
@pytest.mark.skipif(GPU is None, reason="needs a CUDA or XPU device")
@pytest.mark.parametrize("dtype", ["fp16", "bf16", "fp32"])
def test_gpu_reference_check(dtype):
    reason = device_ops(GPU).dtype_unsupported(dtype)
    if reason:
        pytest.skip(reason)
    result = check_unet(GPU, dtype)
    assert result.ok, result.reason
    assert result.rel_error > 0  # really computed on the device in that dtype, not on the CPU in float64


@pytest.mark.gpu
@pytest.mark.skipif(GPU is None, reason="needs a CUDA or XPU device")
def test_gpu_sd15_workload_fp16():
    workload = SDWorkload()
    ctx = gpu_ctx(SuiteConfig(suite="quick", sd_model="sd15", sd_steps=4, graph=True))
    results = {spec.key: workload.run(spec, ctx) for spec in workload.specs(ctx.config, ctx.backend)}
    workload.release(ctx)
    step = results["sd/sd15_unet_step/fp16/512x512 b2/cfg"]
    pipe = results["sd/sd15_pipeline/fp16/512x512 4 steps b1/cfg"]
    for m in (step, pipe):
        assert m.status is Status.OK, m.reason
        assert m.peak_memory_bytes and m.peak_memory_bytes > 1.5e9  # fp16 SD1.5 weights alone are ~2 GB
    assert step.flops == pytest.approx(2 * SD15_UNET_GFLOP * 1e9, rel=0.05)
    assert step.tflops > 1 and pipe.its > 1
    graph = results["sd/sd15_unet_step/fp16/512x512 b2/cfg+graph"]
    assert graph.status in (Status.OK, Status.SKIPPED), graph.reason


@pytest.mark.gpu
@pytest.mark.skipif(GPU is None, reason="needs a CUDA or XPU device")
def test_gpu_our_loop_matches_diffusers_fp16():
    comps = build_components(family("sd15"), GPU, torch.float16, seed=0)
    ours = SDPipeline(comps, steps=4, resolution=512)
    peer = diffusers_pipeline(comps)
    with torch.inference_mode():
        context = ours.encode()
        noise = ours.noise()
        mine = ours.denoise(context, noise).float()
        theirs = peer(prompt_embeds=context[1:], negative_prompt_embeds=context[:1], latents=noise.clone(),
                      num_inference_steps=4, guidance_scale=ours.guidance_scale, height=512, width=512,
                      output_type="latent", return_dict=False)[0].float()
    assert bool(torch.isfinite(mine).all())
    assert float((mine - theirs).norm() / theirs.norm()) < 5e-2


@pytest.mark.gpu
@pytest.mark.skipif(GPU is None, reason="needs a CUDA or XPU device")
def test_gpu_comparison_script(tmp_path):
    out = tmp_path / "sd.json"
    code = _script().main(["--device", GPU, "--steps", "4", "--runs", "2", "--warmup", "1", "--unet-budget", "0.3",
                           "--no-workload", "--json", str(out)])
    assert code == 0
    results = json.loads(out.read_text())
    assert results["pipeline"]["ratio"] > 0 and results["unet_tflops"] > 1

