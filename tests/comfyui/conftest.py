"""Fixtures for the ComfyUI tests: fake checkouts (tests/fakes/comfyui) and a clean COMFYUI_PATH."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.comfyui import build_fake_comfyui


@pytest.fixture(autouse=True)
def no_comfyui_path(monkeypatch):
    """A developer's own COMFYUI_PATH must not decide which checkout a test finds."""
    monkeypatch.delenv("COMFYUI_PATH", raising=False)


@pytest.fixture
def comfyui(tmp_path):
    """Factory: a fake ComfyUI checkout of a given version (see tests/fakes/comfyui VERSIONS)."""
    counter = iter(range(1000))

    def make(version: str = "0.3.47", **kwargs) -> Path:
        return build_fake_comfyui(tmp_path / f"ComfyUI-{version}-{next(counter)}", version, **kwargs)

    return make
