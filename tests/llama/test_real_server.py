"""Against a real llama.cpp: llama-cpp-python's OpenAI-compatible server with the tiny GGUF made here. Runs
wherever `llama_cpp` (and its server extra) is importable; skips with the reason elsewhere."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from ipex_integration.bench.model import Status
from ipex_integration.bench.workloads.llm_serving import ServingConfig, run_serving_benchmark
from ipex_integration.llama.peer import LlamaPeer, llama_cpp_version
from ipex_integration.ollama.client import OpenAIClient

pytest.importorskip("gguf", reason="writing the test model needs the gguf package ([test] extra)")
_missing = [m for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
            if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.skipif(bool(_missing), reason=f"llama-cpp-python[server] is not installed here (no {', '.join(_missing)}): "
                                              "pip install 'llama-cpp-python[server]==0.3.36' (a 10-15 min build)"),
    pytest.mark.timeout(120),
]


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    home = tmp_path_factory.mktemp("llama-home")
    with LlamaPeer.start(environ={"IPEX_INTEGRATION_HOME": str(home)}, threads=2) as running:
        yield running
    assert running.server.poll() is not None  # stopped with the block


def test_the_interpreter_reports_its_llama_cpp_version():
    version, why = llama_cpp_version(sys.executable)
    assert version and version[0].isdigit() and why == ""


def test_tokens_come_from_the_real_model_and_counts_agree(peer):
    client = OpenAIClient(peer.url, timeout=60)
    assert client.resolve_model(peer.model) == peer.model
    streamed = client.chat(peer.model, [{"role": "user", "content": "time river light"}], max_tokens=12,
                           temperature=0.0, seed=0, stream=True)
    whole = client.chat(peer.model, [{"role": "user", "content": "time river light"}], max_tokens=12,
                        temperature=0.0, seed=0, stream=False)
    assert streamed.chunks == 12 and streamed.done_reason == "length"  # one chunk per token; EOS never chosen
    assert whole.usage_sent and whole.eval_count == 12 and whole.prompt_eval_count > 3
    assert streamed.text == whole.text and whole.text.strip()  # greedy: the same tokens either way


def test_serving_sweep_against_the_real_server(peer):
    config = ServingConfig(model=peer.model, url=peer.url, concurrency=(1, 4), requests=4, prompt_tokens=32,
                           max_tokens=16)
    report = run_serving_benchmark(config, OpenAIClient(peer.url, timeout=60), system={})
    by_key = {(m.spec.variant, m.spec.op): m for m in report.runs[0].measurements}
    assert not [k for k, m in by_key.items() if m.status is Status.FAILED]
    assert by_key[("stream c4", "ttft")].extra["token_check"] == "max_tokens"  # no usage in 0.3's streams
    assert by_key[("nostream c4", "output_throughput")].extra["count"] == 4 * 16
    # one request at a time on the server: with 4 in flight the first token waits behind the others
    assert by_key[("stream c4", "ttft")].extra["p95_s"] > by_key[("stream c1", "ttft")].stats.median_s
