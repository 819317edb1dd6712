"""llama.cpp as an LLM server engine beside Ollama, and the small real model the tests and benchmarks use.

Modules: model_file (a seeded random-weight llama GGUF with a real tokenizer section, cached by content hash),
binary (find `llama-server` and tell its build: CUDA, SYCL, Vulkan or CPU), env (plan + build -> the variables
and flags of the server), serve (the server under the supervisor, ready when /health or /v1/models answers),
peer (llama-cpp-python's OpenAI-compatible server on loopback, for tests and benchmarks).
"""

from __future__ import annotations

from ..errors import FailedError


class LlamaError(FailedError):
    """Finding, starting or talking to a llama.cpp server failed (the message names what, the hint the fix)."""
