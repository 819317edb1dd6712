"""`ipex env create`: a virtual environment holding the torch build of one backend, verified, then registered.

The venv is built in a temporary folder beside the target and renamed into place only after the runtime probe
verified it, so a failed create leaves nothing half-made and an existing environment untouched. Console scripts
and activate scripts name their venv by absolute path; those paths are rewritten after the rename.

torch (and torchvision/torchaudio when asked for) come ONLY from the backend's wheel index: with PyPI as an extra
index pip could pick PyPI's default (CUDA) torch over a +xpu or +cpu build. Other extra packages are installed
in a second step from pip's usual index, with torch pinned to what step one installed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .. import paths
from ..errors import EnvironmentSetupError
from ..hardware.model import HardwareReport
from ..proc import CommandResult, Runner, run_command
from .model import Backend, Environment, RuntimeInfo
from .probe import probe_runtime
from .registry import load_registry
from .requirements import install_requirements, requirement_name, tail
from .verify import verify_environment
from .wheels import default_index_url

__all__ = ["create_environment", "default_target", "split_packages", "torch_source", "verify_environment"]

Progress = Callable[[str], None]
VENV_TIMEOUT_S = 300.0
# Real CUDA wheels are 1-3 GB with their nvidia-* dependencies: allow a slow link.
PIP_TIMEOUT_S = 3 * 3600.0
PROBE_TIMEOUT_S = 120.0  # the first import of a fresh torch compiles its bytecode
TORCH_FAMILY = frozenset({"torch", "torchvision", "torchaudio"})


def default_target(backend: Backend, environ: Mapping[str, str] | None = None) -> Path:
    return paths.data_dir(environ) / "envs" / backend.value


def split_packages(extra_packages: Sequence[str]) -> tuple[list[str], list[str]]:
    """(torch-family requirements for the backend index, everything else)."""
    torch_family, others = [], []
    for req in extra_packages:
        (torch_family if requirement_name(req) in TORCH_FAMILY else others).append(req.strip())
    return torch_family, others


def create_environment(
    backend: Backend,
    *,
    target_dir: str | os.PathLike[str] | None = None,
    index_url: str | None = None,
    find_links: str | os.PathLike[str] | None = None,
    extra_packages: Sequence[str] = (),
    driver_version: str | None = None,
    python: str = sys.executable,
    runner: Runner = run_command,
    progress: Progress | None = None,
    hardware: HardwareReport | None = None,
    environ: Mapping[str, str] | None = None,
    register: bool = True,
) -> Environment:
    """Create, verify and register the `backend` environment; return it.

    `find_links` alone means offline (`--no-index --find-links DIR`); with `index_url` both are used.
    `hardware` defaults to probing this machine; `driver_version` defaults to its NVIDIA driver.
    """
    say = progress or (lambda message: None)
    target = Path(target_dir).expanduser().absolute() if target_dir else default_target(backend, environ)
    if target.exists() and not (target / "pyvenv.cfg").is_file():
        raise EnvironmentSetupError(
            f"{target} exists and is not a virtual environment; refusing to replace it",
            hint="choose another --target or move that folder away",
        )
    if register:
        load_registry(environ)  # a corrupt registry fails now, before minutes of downloading
    if hardware is None:
        from ..hardware.probe import probe_hardware

        hardware = probe_hardware()
    if driver_version is None and backend is Backend.CUDA:
        driver_version = next((g.driver_version for g in hardware.nvidia if g.driver_version), None)
    index_args, source = torch_source(backend, index_url, find_links, driver_version)
    torch_family, others = split_packages(extra_packages)
    env = _child_env(environ)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.creating-", dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        say(f"creating a virtual environment with {python}")
        made = runner([python, "-m", "venv", str(tmp)], timeout=VENV_TIMEOUT_S, env=env)
        _check(made, "python -m venv", hint="on Debian/Ubuntu install python3-venv, or pass --python")
        tmp_python = str(tmp / "bin" / "python")
        pip = [tmp_python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
        say(f"installing {' '.join(['torch', *torch_family])} from {source}")
        installed = runner([*pip, *index_args, "torch", *torch_family], timeout=PIP_TIMEOUT_S, env=env)
        _check(installed, "pip install torch", hint="check the wheel index (--index-url) or folder (--find-links)")
        if others:
            _install_others(backend, tmp_python, others, find_links, runner, env, say)
        say("verifying the new environment")
        info = probe_runtime(tmp_python, timeout=PROBE_TIMEOUT_S, runner=runner, use_cache=False, environ=env)
        problems = verify_environment(backend, info, hardware)
        if problems:
            raise EnvironmentSetupError(
                f"the new {backend.value} environment failed verification: {problems[0]}",
                hint=_verify_hint(backend, info, index_url, find_links),
            )
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    python_path = target / "bin" / "python"
    say(f"torch {info.torch_version} verified in {target}")
    if not register:
        return Environment(name=backend.value, python=str(python_path), backend=backend)
    registry = load_registry(environ)
    environment = registry.add(backend, python_path)
    registry.save()
    return environment


def torch_source(
    backend: Backend,
    index_url: str | None = None,
    find_links: str | os.PathLike[str] | None = None,
    driver_version: str | None = None,
) -> tuple[list[str], str]:
    """pip's index arguments for torch, and a description of the source for progress messages."""
    if find_links is not None:
        links = Path(find_links).expanduser().absolute()
        if not links.is_dir():
            raise EnvironmentSetupError(f"--find-links folder {links} does not exist")
        if index_url is None:
            return ["--no-index", "--find-links", str(links)], f"{links} (offline)"
        return ["--index-url", index_url, "--find-links", str(links)], f"{index_url} and {links}"
    if index_url is not None:
        return ["--index-url", index_url], index_url
    url, why = default_index_url(backend, driver_version)
    return ["--index-url", url], f"{url} ({why})"


def _install_others(backend: Backend, tmp_python: str, others, find_links, runner, env, say) -> None:
    """Other packages from pip's usual index, through the one requirements installer (torch pinned)."""
    offline = ["--no-index", "--find-links", str(Path(find_links).absolute())] if find_links else []
    say(f"installing {' '.join(others)}")
    # Asked for by name (--package), so installed even where the installer would leave a companion out.
    install_requirements(Environment(backend.value, tmp_python, backend), None, extra=others, what=" ".join(others),
                         runner=runner, environ=env, pip_args=offline, leave_out_missing=False)


def _verify_hint(backend: Backend, info: RuntimeInfo, index_url, find_links) -> str:
    if info.has_torch and info.torch_build and backend.value != "cpu" and info.torch_build != backend.value:
        where = "the wheel folder" if find_links else ("--index-url" if index_url else "the default index")
        return f"{where} offered a {info.torch_build} torch; point it at a {backend.value} build"
    return "`ipex status` shows the drivers and runtime libraries this backend needs"


def _check(result: CommandResult, what: str, hint: str | None = None) -> None:
    if result.ok:
        return
    if result.timed_out:
        raise EnvironmentSetupError(f"{what} timed out", hint=hint)
    if result.not_found:
        raise EnvironmentSetupError(f"{what}: {result.argv[0]} not found", hint=hint)
    raise EnvironmentSetupError(f"{what} failed (exit {result.returncode}): {tail(result)}", hint=hint)


def _child_env(environ: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    # The new venv must not see the caller's venv or PYTHONPATH (our own torch would shadow the new one).
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PIP_USER"):
        env.pop(name, None)
    return env


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Rename the verified venv to `target`; an existing one is moved aside first and restored on failure.

    The venv's own paths are rewritten before the rename, so an interrupt at any point leaves either the old
    environment or the complete new one at `target`, never a half-relocated one."""
    _relocate(tmp, old=str(tmp), new=str(target))
    backup = None
    if target.exists():
        backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        backup.rmdir()
        os.rename(target, backup)
    try:
        os.rename(tmp, target)
    except BaseException:
        if backup is not None:
            os.rename(backup, target)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def _relocate(venv: Path, *, old: str, new: str) -> None:
    """Rewrite the venv's own absolute path in script shebangs, activate scripts and pyvenv.cfg."""
    old_b, new_b = old.encode(), new.encode()
    candidates = [venv / "pyvenv.cfg"]
    bindir = venv / "bin"
    if bindir.is_dir():
        candidates += [p for p in bindir.iterdir() if p.is_file() and not p.is_symlink()]
    for path in candidates:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        is_script = data.startswith(b"#!") or path.name.startswith("activate") or path.name == "pyvenv.cfg"
        if not is_script or old_b not in data:
            continue
        mode = path.stat().st_mode
        path.write_bytes(data.replace(old_b, new_b))
        os.chmod(path, mode)
