"""The peer our SD numbers are compared with: diffusers' own StableDiffusionPipeline assembled from the very
same component objects as our pipeline (same UNet, VAE and text encoder in memory), with a CLIP tokenizer
built offline from a tiny vocabulary so nothing is downloaded. Used by benchmarks/sd_vs_diffusers.py and the
tests that prove our loop computes what diffusers computes."""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

from .sd_models import TEXT_TOKENS, Components, make_scheduler


def offline_tokenizer():
    """A CLIPTokenizer whose vocabulary is the 26 letters (as word pieces and word ends) plus CLIP's two
    special tokens: any prompt tokenizes into letters, padded to 77 like the real one. Its ids are small,
    so they are valid for any text encoder vocabulary."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in string.ascii_lowercase:
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    with tempfile.TemporaryDirectory(prefix="ipex-clip-tok-") as tmp:
        folder = Path(tmp)
        (folder / "vocab.json").write_text(json.dumps(vocab))
        (folder / "merges.txt").write_text("#version: 0.2\n")
        # A local folder and local_files_only: the hub is never asked.
        return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True, model_max_length=TEXT_TOKENS)


def diffusers_pipeline(comps: Components):
    """StableDiffusionPipeline over `comps`' modules (shared, not copied) with its own scheduler instance of
    the same class and config as ours. No safety checker, no progress bar (its drawing would be timed)."""
    from diffusers import StableDiffusionPipeline

    if comps.text_encoder is None:
        raise ValueError(f"{comps.family.name} has no text encoder: diffusers' SD pipeline needs one")
    pipe = StableDiffusionPipeline(
        vae=comps.vae,
        text_encoder=comps.text_encoder,
        tokenizer=offline_tokenizer(),
        unet=comps.unet,
        scheduler=make_scheduler(comps.family),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
