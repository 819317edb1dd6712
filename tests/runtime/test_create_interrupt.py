"""SIGTERM or SIGINT during `ipex env create` leaves no `.NAME.creating-*` folder and no venv/ensurepip/pip
still writing into it: the staging folder is removed on the way out and run_command kills the child's whole
process group (venv runs ensurepip, which runs pip: grandchildren)."""

from __future__ import annotations

import sys

import psutil
import pytest

from tests.fakes import interrupt

CREATE = """
from ipex_integration.hardware.model import HardwareReport
from ipex_integration.runtime.create import create_environment
from ipex_integration.runtime.model import Backend
create_environment(Backend.CPU, target_dir=sys.argv[2], find_links=sys.argv[3], hardware=HardwareReport(),
                   register=False, python=sys.argv[4])
"""


def _shim(tmp_path):
    """An interpreter shim (as pyenv or a wrapper script is) that runs the real one as its child, output to
    /dev/null: killing only the direct child leaves the real venv/ensurepip/pip running, with no broken pipe
    to stop them."""
    shim = tmp_path / "python-shim"
    shim.write_text(f'#!/bin/sh\n"{sys.executable}" "$@" >/dev/null 2>&1 &\nwait $!\n')
    shim.chmod(0o755)
    return str(shim)


@pytest.mark.parametrize("shim", [False, True], ids=["python", "shim"])
@pytest.mark.parametrize("signum", interrupt.SIGNALS, ids=lambda s: s.name)
def test_interrupted_create_leaves_nothing_running_or_behind(tmp_path, signum, shim):
    parent = tmp_path / "envs"
    parent.mkdir()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    python = _shim(tmp_path) if shim else sys.executable
    child = interrupt.start(CREATE, str(parent / "cpu"), str(wheels), python)
    tree = []
    try:
        # ensurepip runs under `python -m venv`: interrupt while a grandchild writes into the staging folder.
        tree = interrupt.wait_for_descendant(child, lambda argv: "ensurepip" in " ".join(argv))
        assert any(p.name.startswith(".cpu.creating-") for p in parent.iterdir())
        tree = psutil.Process(child.pid).children(recursive=True)  # all of it, now
        code, err = interrupt.interrupt(child, signum)
        assert code == interrupt.INTERRUPTED_EXIT, err[-2000:]
        assert interrupt.alive(tree) == []
        assert interrupt.alive(interrupt.mentioning(parent)) == []
        assert sorted(p.name for p in parent.iterdir()) == []
    finally:
        interrupt.kill_tree(tree)
