"""The proof that ComfyUI imports in an environment: its core model code (comfy.model_management, comfy.sd),
with `--cpu` parsed as ComfyUI's own argv, in a child of the environment's interpreter under the supervisor
with a timeout. pip can leave an environment where `main.py` exists but nothing imports: a torchvision built
for another torch fails with "operator torchvision::nms does not exist". `ipex comfyui install` ends here,
and fails with the fix when the import fails.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Mapping

from ..errors import EnvironmentSetupError
from ..proc import Runner, run_command
from ..runtime.model import Environment

IMPORT_TIMEOUT_S = 300.0  # importing torch and ComfyUI's model code cold on a slow disk

# Run by the environment's interpreter: argv[1] is the checkout. Prints one JSON line.
_SCRIPT = r"""
import importlib.util, json, os, sys
root = sys.argv[1]
sys.path.insert(0, root)
os.chdir(root)
sys.argv = ["main.py", "--cpu"]
report = {}
try:
    import torch
    report["torch"] = torch.__version__
    if importlib.util.find_spec("torchvision") is not None:
        import torchvision
        report["torchvision"] = getattr(torchvision, "__version__", "unknown")
        import torchvision.ops  # its compiled operators: a build for another torch fails here
    import comfy.options
    comfy.options.enable_args_parsing()
    import comfy.model_management
    import comfy.sd
except BaseException as exc:
    report["error"] = "%s: %s" % (type(exc).__name__, exc)
print(json.dumps(report))
"""


@dataclass(frozen=True)
class ImportCheck:
    environment: str
    torch: str | None
    torchvision: str | None


def matching_torchvision(torch_version: str) -> str | None:
    """The torchvision release made for a torch release: 2.X.Y -> 0.(X+15).Y (the rule since torch 2.0 /
    torchvision 0.15). None for a version this rule does not cover."""
    match = re.match(r"^2\.(\d+)\.(\d+)", torch_version)
    return f"0.{int(match.group(1)) + 15}.{match.group(2)}" if match else None


def prove_comfyui_imports(checkout_dir: str | os.PathLike[str], env: Environment, *,
                          environ: Mapping[str, str] | None = None, runner: Runner = run_command,
                          timeout: float = IMPORT_TIMEOUT_S) -> ImportCheck:
    """ImportCheck when ComfyUI's model code imports in `env`; EnvironmentSetupError with the fix otherwise."""
    result = runner([env.python, "-c", _SCRIPT, str(checkout_dir)], timeout=timeout,
                    env=dict(os.environ if environ is None else environ))
    where = f"environment {env.name} ({env.python})"
    if result.timed_out:
        raise EnvironmentSetupError(f"importing ComfyUI in {where} took over {timeout:.0f} s",
                                    hint=f"try it by hand: cd {checkout_dir} && {env.python} -c 'import comfy.sd'")
    report: dict = {}
    for line in reversed(result.stdout.splitlines()):
        try:
            report = json.loads(line)
            break
        except ValueError:
            continue
    if not report:
        tail = " / ".join((result.stderr or result.stdout).strip().splitlines()[-2:])
        raise EnvironmentSetupError(f"ComfyUI could not be imported in {where}: exit {result.returncode}: {tail}")
    error = report.get("error")
    if error:
        raise EnvironmentSetupError(f"ComfyUI does not import in {where}: {error}", hint=_fix(error, report, env))
    return ImportCheck(env.name, report.get("torch"), report.get("torchvision"))


def _fix(error: str, report: Mapping[str, str], env: Environment) -> str:
    torch_version = report.get("torch")
    if "torchvision" in error and torch_version:
        base = torch_version.split("+")[0]
        vision = matching_torchvision(base)
        pin = f"torch=={base} torchvision=={vision}" if vision else f"torch=={base} torchvision"
        return (f"torchvision does not match torch {torch_version}: {env.python} -m pip install {pin} (from the "
                f"index of torch's build), or `ipex env create {env.name} --package torchvision`")
    if error.startswith(("ModuleNotFoundError", "ImportError")):
        return f"a requirement is missing: ipex comfyui requirements --backend {env.name}"
    return f"see the error above; `ipex env create {env.name}` rebuilds the environment"
