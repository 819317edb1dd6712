"""The cheap mtime drift check of `ipex nodes list`."""

from __future__ import annotations

import os
from datetime import datetime, timezone

from ipex_integration.nodes.drift import changed_since


def _touch(path, stamp):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    os.utime(path, (stamp, stamp))


def test_edits_after_the_install_are_drift_and_bytecode_is_not(tmp_path):
    installed = datetime(2026, 1, 1, tzinfo=timezone.utc)
    t0 = installed.timestamp()
    node = tmp_path / "demo"
    _touch(node / "nodes.py", t0 - 10)
    _touch(node / "__pycache__" / "nodes.cpython-312.pyc", t0 + 100)  # ComfyUI ran the node
    _touch(node / "web" / "app.js.pyc", t0 + 100)
    assert changed_since(node, installed.isoformat()) is None
    _touch(node / "web" / "app.js", t0 + 100)
    assert changed_since(node, installed.isoformat()) == os.path.join("web", "app.js")
    assert changed_since(tmp_path / "gone", installed.isoformat()) == "(missing)"
    assert changed_since(node, "not a time") is None
