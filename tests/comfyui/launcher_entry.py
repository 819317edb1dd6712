"""A launcher (comfyui-ipex / -cuda / -xpu) in its own process, as its console script runs it, except that the
plan comes from the real policy on fake hardware (this machine has no GPU):

    python -m tests.comfyui.launcher_entry PROG CUDA_COUNT XPU_COUNT -- ARGS...
"""

import os
import sys
import tempfile
from pathlib import Path

from ipex_integration.cli.comfyui import launcher_main
from tests.comfyui.helpers import resolver

if __name__ == "__main__":
    prog, cuda, xpu, _dashes, *args = sys.argv[1:]
    cache = Path(os.environ.get("IPEX_INTEGRATION_HOME") or tempfile.gettempdir())
    sys.exit(launcher_main(prog, args, resolve=resolver(cache, cuda=int(cuda), xpu=int(xpu))))
