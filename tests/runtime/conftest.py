"""Fixtures for runtime tests."""

from __future__ import annotations

import pytest

from .helpers import RecordingRunner


@pytest.fixture
def recording_runner():
    return RecordingRunner()
