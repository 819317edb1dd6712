"""Start ComfyUI's main.py in this interpreter, on the backend the plan chose.

Run by the backend environment's interpreter, which has ComfyUI's dependencies but maybe not ours, so this
file uses the standard library only and imports nothing from ipex_integration. The launcher runs it by path:

    python .../ipex_integration/comfyui/bootstrap.py --comfyui DIR --backend cuda|xpu|cpu [--disable-ipex] \
        -- <ComfyUI's own arguments>

(`python -m ipex_integration.comfyui.bootstrap ...` works too where the package is installed.)

What it does, in this order, and why:
1. sys.argv becomes ComfyUI's own arguments, DIR replaces this file's folder as sys.path[0] and becomes the
   working directory: exactly what `python main.py` would see.
2. comfy.options.enable_args_parsing() before anything imports comfy.cli_args: otherwise cli_args parses an
   empty list and `--cpu` and every other flag are silently ignored.
3. Import hooks, so nothing imports torch early (main.py sets CUDA_VISIBLE_DEVICES / ONEAPI_DEVICE_SELECTOR
   from its flags before its first torch import, and warns if torch came first):
   - CUDA: when torch is imported, torch.xpu reports no device, and intel_extension_for_pytorch cannot be
     imported. Stock ComfyUI checks XPU before CUDA, once, when comfy.model_management is imported; with a
     torch that sees both it would pick the Intel GPU. torch must also see a CUDA device, or we stop with a
     message instead of ComfyUI's crash in torch.cuda.current_device().
   - XPU: when torch is imported, torch.xpu must see a device, or we stop with a message (stock ComfyUI falls
     through to torch.cuda.current_device() and crashes).
   - --disable-ipex: intel_extension_for_pytorch cannot be imported (discontinued upstream, breaks models).
4. runpy.run_path("main.py", run_name="__main__").
"""

from __future__ import annotations

import argparse
import importlib.abc
import os
import runpy
import sys

IPEX_MODULE = "intel_extension_for_pytorch"
# Our exit code when the chosen device is not usable (ComfyUI's own argument errors exit 2).
EXIT_DEVICE_MISSING = 3


class ImportBlocker(importlib.abc.MetaPathFinder):
    """Makes `import NAME` (and its submodules) raise ImportError, as if NAME were not installed."""

    def __init__(self, names: tuple[str, ...], why: str) -> None:
        self.names = names
        self.why = why

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.names:
            raise ImportError(f"{fullname} is disabled by the launcher ({self.why})", name=fullname)
        return None


class AfterImport(importlib.abc.MetaPathFinder):
    """Calls `callback(module)` right after module `name` has been executed by its own loader.

    It finds the module's real spec with the other finders and wraps that loader's exec_module, so the
    module is loaded exactly as it would be otherwise (same loader, same __spec__), just observed."""

    def __init__(self, name: str, callback) -> None:
        self.name = name
        self.callback = callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module
        callback = self.callback

        def exec_module(module):
            original(module)
            callback(module)

        loader.exec_module = exec_module  # this loader instance serves this one import only
        return spec


def _stop(prog: str, message: str, hint: str) -> None:
    """Fatal start-up error: one message, no traceback. os._exit, because ComfyUI imports torch in places
    where a broad `except:` would swallow SystemExit."""
    sys.stdout.flush()
    sys.stderr.write(f"{prog}: error: {message}\n{prog}: hint: {hint}\n")
    sys.stderr.flush()
    os._exit(EXIT_DEVICE_MISSING)


def _torch_label(torch) -> str:
    return f"torch {getattr(torch, '__version__', '?')} ({sys.executable})"


def hide_xpu(torch) -> None:
    """Make torch report no XPU, so ComfyUI's XPU-first device choice falls through to CUDA."""
    xpu = getattr(torch, "xpu", None)
    if xpu is not None:
        xpu.is_available = lambda: False
        xpu.device_count = lambda: 0


def require_cuda(torch, prog: str) -> None:
    if not torch.cuda.is_available():
        _stop(
            prog,
            f"CUDA was selected, but {_torch_label(torch)} sees no CUDA device "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')})",
            "check `nvidia-smi` and `ipex status`, or choose another device (--cpu, --force-intel-xpu)",
        )


def require_xpu(torch, prog: str, allow_ipex: bool) -> None:
    def available() -> bool:
        xpu = getattr(torch, "xpu", None)
        return bool(xpu is not None and xpu.is_available())

    if not available() and allow_ipex and IPEX_MODULE not in sys.modules:
        # torch builds older than 2.5 get torch.xpu only from IPEX.
        try:
            __import__(IPEX_MODULE)
        except Exception:  # noqa: BLE001 - a broken IPEX is the same as none here
            pass
    if not available():
        _stop(
            prog,
            f"Intel XPU was selected, but {_torch_label(torch)} sees no XPU "
            f"(ONEAPI_DEVICE_SELECTOR={os.environ.get('ONEAPI_DEVICE_SELECTOR', '<unset>')})",
            "check the Intel GPU driver (level-zero, intel-compute-runtime) and `ipex status`, "
            "or choose another device (--cuda, --cpu)",
        )


def install_hooks(backend: str, *, disable_ipex: bool, prog: str) -> None:
    if backend == "cuda" or disable_ipex:
        why = "--disable-ipex" if disable_ipex else "CUDA was selected"
        sys.meta_path.insert(0, ImportBlocker((IPEX_MODULE,), why))
    if backend == "cuda":

        def on_torch(torch) -> None:
            hide_xpu(torch)
            require_cuda(torch, prog)

    elif backend == "xpu":

        def on_torch(torch) -> None:
            require_xpu(torch, prog, not disable_ipex)

    else:
        return
    if "torch" in sys.modules:  # imported already (a sitecustomize or .pth did): act now
        on_torch(sys.modules["torch"])
    else:
        sys.meta_path.insert(0, AfterImport("torch", on_torch))


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    ours, sep, theirs = _split(argv)
    parser = argparse.ArgumentParser(prog="bootstrap.py", description="Start ComfyUI on a chosen backend.")
    parser.add_argument("--comfyui", required=True, help="the ComfyUI checkout (holds main.py)")
    parser.add_argument("--backend", required=True, choices=("cpu", "cuda", "xpu"))  # by name: runs without our package
    parser.add_argument("--disable-ipex", action="store_true")
    parser.add_argument("--prog", default="comfyui-ipex", help="program name for messages")
    return parser.parse_args(ours), theirs


def _split(argv: list[str]) -> tuple[list[str], str, list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], "--", argv[i + 1:]
    return argv, "", []


def main(argv: list[str] | None = None) -> None:
    args, comfy_argv = parse(sys.argv[1:] if argv is None else argv)
    comfy_dir = os.path.abspath(args.comfyui)
    main_py = os.path.join(comfy_dir, "main.py")
    if not os.path.isfile(main_py):
        _stop(args.prog, f"{comfy_dir} is not a ComfyUI checkout (no main.py)", "pass --comfyui DIR")

    sys.argv = [main_py, *comfy_argv]
    # sys.path[0] is this file's folder (run by path) or the working directory (-m): neither belongs there.
    ours = {os.path.realpath(os.path.dirname(__file__)), os.path.realpath(os.getcwd())}
    if sys.path and os.path.realpath(sys.path[0] or os.curdir) in ours:
        sys.path[0] = comfy_dir
    else:
        sys.path.insert(0, comfy_dir)
    os.chdir(comfy_dir)

    install_hooks(args.backend, disable_ipex=args.disable_ipex, prog=args.prog)

    import comfy.options

    comfy.options.enable_args_parsing()
    runpy.run_path(main_py, run_name="__main__")


if __name__ == "__main__":
    main()
