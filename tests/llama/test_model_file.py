"""The tiny GGUF: what the file holds (read back with gguf's own reader), and the cache by recipe hash."""

from __future__ import annotations

import pytest

gguf = pytest.importorskip("gguf", reason="the gguf package ([test] extra) writes the model")

from ipex_integration.llama.model_file import (  # noqa: E402
    BOS_ID, EOS_ID, SPACE, ModelRecipe, cached_model, vocabulary,
)


def field(reader, name):
    return reader.fields[name].contents()


def test_the_file_is_a_llama_with_a_tokenizer_section(tmp_path):
    recipe = ModelRecipe(layers=2, embedding=64, heads=4, kv_heads=2, feed_forward=96)
    path = cached_model(recipe, folder=tmp_path)
    reader = gguf.GGUFReader(str(path))
    assert field(reader, "general.architecture") == "llama"
    assert field(reader, "llama.block_count") == 2 and field(reader, "llama.attention.head_count_kv") == 2
    assert field(reader, "tokenizer.ggml.model") == "llama"
    tokens = field(reader, "tokenizer.ggml.tokens")
    assert tokens[BOS_ID] == "<s>" and tokens[EOS_ID] == "</s>" and "<0x0A>" in tokens
    assert f"{SPACE}river" in tokens and f"{SPACE}rive" in tokens  # every prefix: the SPM merge path
    assert len(field(reader, "tokenizer.ggml.scores")) == len(tokens) == len(field(reader, "tokenizer.ggml.token_type"))
    names = {t.name: t for t in reader.tensors}
    assert {"token_embd.weight", "output.weight", "blk.1.ffn_down.weight"} <= set(names)
    assert list(names["blk.0.attn_k.weight"].shape) == [64, 32]  # ggml order (in, out): 2 kv heads x 16
    output = names["output.weight"].data.reshape(len(tokens), 64)
    normal = set(vocabulary().ids_of_type(int(gguf.TokenType.NORMAL)))
    assert not output[EOS_ID].any() and output[sorted(normal)[5]].any()  # EOS can never win under greedy


def test_cached_by_recipe_and_remade_when_the_bytes_change(tmp_path):
    first = cached_model(ModelRecipe(layers=1, embedding=32, heads=2, kv_heads=1, feed_forward=48), folder=tmp_path)
    mtime = first.stat().st_mtime_ns
    again = cached_model(ModelRecipe(layers=1, embedding=32, heads=2, kv_heads=1, feed_forward=48), folder=tmp_path)
    assert again == first and again.stat().st_mtime_ns == mtime
    other = cached_model(ModelRecipe(layers=1, embedding=32, heads=2, kv_heads=1, feed_forward=48, seed=1),
                         folder=tmp_path)
    assert other != first and other.read_bytes() != first.read_bytes()
    first.write_bytes(first.read_bytes()[:100])  # a truncated file
    remade = cached_model(ModelRecipe(layers=1, embedding=32, heads=2, kv_heads=1, feed_forward=48), folder=tmp_path)
    assert remade == first and remade.stat().st_size > 100


def test_same_recipe_same_bytes(tmp_path):
    a = cached_model(ModelRecipe(layers=1, embedding=32, heads=2, kv_heads=1, feed_forward=48), folder=tmp_path / "a")
    b = cached_model(ModelRecipe(layers=1, embedding=32, heads=2, kv_heads=1, feed_forward=48), folder=tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()  # seeded: the cache key stands for the content
