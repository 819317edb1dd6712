"""The official `ollama` Python client and our client against the fake server (real HTTP on loopback)."""

from __future__ import annotations

import ollama
import pytest

from ipex_integration.ollama import OllamaError
from ipex_integration.ollama.client import OllamaClient, OpenAIClient, match_model

from .helpers import free_port


def test_official_client_talks_to_the_fake(fake_server):
    url = fake_server(FAKE_OLLAMA_MODELS="llama3.2:latest,qwen2.5:0.5b", FAKE_OLLAMA_TOKENS_PER_S="500")
    client = ollama.Client(host=url)
    assert [m.model for m in client.list().models] == ["llama3.2:latest", "qwen2.5:0.5b"]
    parts = list(client.generate(model="llama3.2", prompt="why is the sky blue", stream=True,
                                 options={"num_predict": 5}))
    assert [p.done for p in parts] == [False] * 5 + [True]
    final = parts[-1]
    assert final.done_reason == "length" and final.eval_count == 5 and final.prompt_eval_count == 5
    assert final.eval_duration > 0 and final.prompt_eval_duration > 0 and final.load_duration > 0
    assert final.total_duration >= final.load_duration + final.prompt_eval_duration + final.eval_duration
    chat = client.chat(model="qwen2.5:0.5b", messages=[{"role": "user", "content": "hello"}],
                       options={"num_predict": 3})
    assert chat.message.role == "assistant" and chat.message.content == "the sky is " and chat.eval_count == 3
    running = client.ps().models
    assert {m.model for m in running} == {"llama3.2:latest", "qwen2.5:0.5b"} and all(m.size_vram == 0 for m in running)
    assert client.show("llama3.2").details.quantization_level == "Q4_K_M"
    with pytest.raises(ollama.ResponseError) as info:
        client.generate(model="mistral", prompt="x")
    assert info.value.status_code == 404
    assert info.value.error == 'model "mistral" not found, try pulling it first'


def test_load_and_unload_requests(fake_server):
    url = fake_server()
    client = OllamaClient(url)
    client.load("llama3.2")
    assert [m.name for m in client.running()] == ["llama3.2:latest"]
    client.unload("llama3.2")
    assert client.running() == []


def test_our_client_times_the_stream(fake_server):
    url = fake_server(FAKE_OLLAMA_TOKENS_PER_S="200")
    done = OllamaClient(url).generate("llama3.2", "one two three four", options={"num_predict": 10})
    assert done.chunks == 10 and done.eval_count == 10 and done.prompt_eval_count == 4
    assert done.text.split() == ["the", "sky", "is", "blue", "because", "of", "rayleigh", "scattering", "light", "waves"]
    assert 0 < done.t_first < done.t_last <= done.t_done
    assert done.t_last - done.t_first == pytest.approx(9 / 200, rel=0.5)


def test_missing_model_lists_what_the_server_has(fake_server):
    url = fake_server(FAKE_OLLAMA_MODELS="llama3.2:latest,qwen2.5:0.5b")
    client = OllamaClient(url)
    with pytest.raises(OllamaError) as info:
        client.resolve_model("mistral")
    assert info.value.message == f"model 'mistral' is not on the server at {url}; it has: llama3.2:latest, qwen2.5:0.5b"
    with pytest.raises(OllamaError, match="it has: llama3.2:latest, qwen2.5:0.5b"):
        client.generate("mistral", "hi")  # a 404 mid-run says the same
    assert client.resolve_model("llama3.2") == "llama3.2:latest"


def test_unreachable_server():
    url = f"127.0.0.1:{free_port()}"
    with pytest.raises(OllamaError, match="no Ollama server answers at http://127.0.0.1") as info:
        OllamaClient(url).models()
    assert "ollama-ipex serve" in info.value.hint
    with pytest.raises(OllamaError, match="no Ollama server answers"):
        OllamaClient(url).version()


def test_openai_compatible_stream_with_usage(fake_server):
    url = fake_server(FAKE_OLLAMA_TOKENS_PER_S="300")
    client = OpenAIClient(url)
    assert [m.name for m in client.models()] == ["llama3.2:latest", "qwen2.5:0.5b"]
    done = client.chat("llama3.2:latest", [{"role": "user", "content": "a b c"}], max_tokens=6)
    assert done.chunks == 6 and done.eval_count == 6 and done.prompt_eval_count == 3
    assert done.done_reason == "length" and done.eval_duration_ns is None  # no server timings over /v1
    with pytest.raises(OllamaError, match="model 'nope' is not on the server .* it has: llama3.2:latest"):
        client.chat("nope", [{"role": "user", "content": "x"}], max_tokens=2)


def test_match_model_tag_rules():
    assert match_model("llama3.2", ["llama3.2:latest"], "u") == "llama3.2:latest"
    assert match_model("llama3.2:1b", ["llama3.2:1b", "llama3.2:latest"], "u") == "llama3.2:1b"
    with pytest.raises(OllamaError, match="it has: none"):
        match_model("x", [], "u")
