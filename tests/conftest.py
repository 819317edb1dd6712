"""Shared fixtures. Every test gets its own IPEX_INTEGRATION_HOME so no test reads or writes the user's
real config, cache or data (the same trick simonw/llm uses with LLM_USER_PATH)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("ipex-home")
    monkeypatch.setenv("IPEX_INTEGRATION_HOME", str(home))
    # Device-selection variables from the developer's shell must not leak into tests.
    for name in ("IPEX_DEVICE", "CUDA_VISIBLE_DEVICES", "ONEAPI_DEVICE_SELECTOR", "ZE_AFFINITY_MASK"):
        monkeypatch.delenv(name, raising=False)
    return home
