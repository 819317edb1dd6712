"""The ComfyUI servers `ipex-benchmark comfyui` measures, each a supervised child on a free loopback port:
ours through the launcher pipeline (`prepare_launch`, as `comfyui-ipex` starts it), stock `python main.py` of
the same checkout in the same environment; and the local checkpoint, written once by a child interpreter.

Both servers read the checkpoint through an extra-model-paths file and write images to a folder of ours, so
the user's checkout gets nothing new.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from ... import state
from ...errors import FailedError
from ...proc import Child, run_command
from .comfyui_client import ComfyClient

START_TIMEOUT_S = 600.0  # a first start imports torch and ComfyUI's nodes: minutes on a slow disk
CHECKPOINT_TIMEOUT_S = 1800.0  # SDXL's random init on a CPU


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_checkpoint(family: str, folder: Path, *, python: str = sys.executable, seed: int = 0,
                      environ: Mapping[str, str] | None = None) -> Path:
    """The cached checkpoint for `family` in `folder` (its name carries the content hash), written by a child
    interpreter with torch, diffusers and safetensors when it is not there yet."""
    from .comfyui_checkpoint import checkpoint_name

    path = folder / checkpoint_name(family, seed)
    if path.exists():
        return path
    state.ensure_writable_dir(folder, what="checkpoint folder")
    result = run_command([python, "-m", "ipex_integration.bench.workloads.comfyui_checkpoint", family, str(path),
                          "--seed", str(seed)], timeout=CHECKPOINT_TIMEOUT_S,
                         env=dict(environ) if environ is not None else None)
    if result.returncode != 0 or not path.exists():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise FailedError(f"writing the random {family} checkpoint failed: {' / '.join(tail) or result.returncode}",
                          hint=f"{python} needs torch, diffusers, transformers and safetensors "
                               "(pip install 'ipex-integration[bench,comfyui]')")
    return path


def model_paths_yaml(folder: Path, checkpoints: Path) -> Path:
    """An extra_model_paths.yaml that adds our checkpoint folder to ComfyUI's search path."""
    path = folder / "extra_model_paths.yaml"
    state.write_text(path, f"ipex_benchmark:\n    checkpoints: {checkpoints}\n")
    return path


def common_args(port: int, yaml: Path, output: Path) -> list[str]:
    return ["--listen", "127.0.0.1", "--port", str(port), "--extra-model-paths-config", str(yaml),
            "--output-directory", str(output), "--disable-auto-launch"]


def wait_ready(child: Child, client: ComfyClient, *, timeout: float = START_TIMEOUT_S,
               clock: Callable[[], float] = time.monotonic) -> None:
    deadline = clock() + timeout
    while clock() < deadline:
        code = child.poll()
        if code is not None:
            raise FailedError(f"{child.name} exited with {code} before answering: " + " / ".join(child.tail(4)),
                              hint=f"its log: {child.log_path}")
        if client.ready():
            return
        time.sleep(0.5)
    raise FailedError(f"{child.name} did not answer on {client.url} within {timeout:.0f} s",
                      hint=f"its log: {child.log_path}")


@contextlib.contextmanager
def ours(request: Any, comfyui: str | None, work: Path, yaml: Path, *, environ: Mapping[str, str],
         extra_args: Sequence[str] = (), resolve: Any = None, timeout: float = 600.0) -> Iterator[tuple[ComfyClient, Any]]:
    """ComfyUI through our launcher pipeline; yields its client and the PreparedLaunch."""
    from ...comfyui.launch import check_port_free, child
    from ...comfyui.prepare import prepare_launch

    port = free_port()
    prepared = prepare_launch(request, [*common_args(port, yaml, work / "out-ours"), *extra_args], comfyui=comfyui,
                              prog="comfyui-ipex", environ=environ, resolve=resolve)
    check_port_free(prepared.spec)
    comfy = child(prepared.spec, log_path=work / "ours.log")
    comfy.name = "ComfyUI (ours)"
    client = ComfyClient(f"http://127.0.0.1:{port}", timeout=timeout)
    with comfy:
        wait_ready(comfy, client)
        yield client, prepared


@contextlib.contextmanager
def stock(prepared: Any, work: Path, yaml: Path, *, environ: Mapping[str, str], extra_args: Sequence[str] = (),
          timeout: float = 600.0) -> Iterator[ComfyClient]:
    """`python main.py` of the same checkout, interpreter and environment as `prepared`; only --cpu is added
    for a CPU plan (what a user of stock ComfyUI types), the plan's variables select the GPU."""
    from ...proc import ensure_port_free

    port = free_port()
    ensure_port_free("127.0.0.1", port, server="ComfyUI (stock)")
    plan = prepared.plan
    device = ["--cpu"] if plan.backend.value == "cpu" else []
    argv = [plan.python, "main.py", *device, *common_args(port, yaml, work / "out-stock"), *extra_args]
    comfy = Child("ComfyUI (stock)", argv, env=plan.child_env(environ), cwd=str(prepared.checkout.path),
                  log_path=work / "stock.log")
    client = ComfyClient(f"http://127.0.0.1:{port}", timeout=timeout)
    with comfy:
        wait_ready(comfy, client)
        yield client
