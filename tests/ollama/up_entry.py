"""`ipex up` in its own process, as its console script runs it, except that the GPUs are a fake machine
(helpers.MACHINES) and ComfyUI's plan comes from the real policy with fake torch environments:

    python -m tests.ollama.up_entry MACHINE -- ARGS...
"""

import os
import sys
import tempfile
from pathlib import Path

from ipex_integration.cli.common import run_cli
from ipex_integration.cli.up import up_main
from tests.ollama.helpers import MACHINES, comfyui_resolver

if __name__ == "__main__":
    machine, _dashes, *args = sys.argv[1:]
    hardware = MACHINES[machine]
    cache = Path(os.environ.get("IPEX_INTEGRATION_HOME") or tempfile.gettempdir()) / "cache"
    sys.exit(run_cli(lambda: up_main(args, hardware=hardware, resolve=comfyui_resolver(hardware, cache)),
                     prog="ipex up"))
