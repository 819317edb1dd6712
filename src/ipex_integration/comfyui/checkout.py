"""Where the ComfyUI checkout is, which version it is, and the registry that remembers it.

Lookup order: `--comfyui DIR`, then $COMFYUI_PATH, then the checkout registered by `ipex comfyui install|use`
(the `[comfyui]` table of config_dir()/config.toml, which nodes/locate.py reads too), then data_dir()/ComfyUI
when it exists.
"""

from __future__ import annotations

import ast
import os
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from .. import state
from ..errors import ConfigError
from ..git import Git
from ..paths import config_dir, data_dir
from ..proc import Runner, run_command
from . import ComfyUIError

PATH_VARIABLE = "COMFYUI_PATH"
CONFIG_NAME = "config.toml"  # shared with other settings: we only ever rewrite its [comfyui] table
TABLE = "comfyui"
# Files every ComfyUI since 2023 has; the bootstrap needs all three.
REQUIRED_FILES = ("main.py", "comfy/cli_args.py", "comfy/options.py")


@dataclass(frozen=True)
class Checkout:
    path: Path
    version: str | None  # "0.3.47"; None when nothing says
    version_source: str  # "comfyui_version.py" | "pyproject.toml" | "git describe" | "unknown"
    found_by: str  # "--comfyui" | "$COMFYUI_PATH" | "registered" | "default location" | "install"
    commit: str | None = None  # only filled where asked for (it costs a git call)

    @property
    def label(self) -> str:
        if self.version:
            return self.version
        return f"at commit {self.commit[:10]}" if self.commit else "(unknown version)"

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "version": self.version,
            "version_source": self.version_source,
            "commit": self.commit,
            "found_by": self.found_by,
        }


def config_file(environ: Mapping[str, str] | None = None) -> Path:
    return config_dir(environ) / CONFIG_NAME


def default_location(environ: Mapping[str, str] | None = None) -> Path:
    return data_dir(environ) / "ComfyUI"


def validate_checkout(path: str | os.PathLike[str]) -> Path:
    """The absolute path of a ComfyUI checkout, or ComfyUIError saying what is missing."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ComfyUIError(f"{root} does not exist or is not a directory", hint="ipex comfyui install --dir DIR")
    missing = [name for name in REQUIRED_FILES if not (root / name).is_file()]
    if missing:
        raise ComfyUIError(
            f"{root} is not a ComfyUI checkout (no {', '.join(missing)})",
            hint="point at the folder that holds ComfyUI's main.py, or run `ipex comfyui install`",
        )
    return root.resolve()


def detect_version(
    path: Path, *, runner: Runner = run_command, with_commit: bool = False
) -> tuple[str | None, str, str | None]:
    """(version, where it came from, commit). Files first: they are instant and need no git."""
    version, source = _version_from_files(path)
    commit = None
    is_git = (path / ".git").exists()
    if is_git and (with_commit or version is None):
        commit = Git(runner).commit_of(path)
    if version is None and is_git:
        described = Git(runner).describe(path)
        if described:
            version, source = described.removeprefix("v"), "git describe"
    return version, source, commit


def _version_from_files(path: Path) -> tuple[str | None, str]:
    try:
        tree = ast.parse((path / "comfyui_version.py").read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
                value = ast.literal_eval(node.value)
                if isinstance(value, str):
                    return value, "comfyui_version.py"
    except (OSError, SyntaxError, ValueError):
        pass
    try:
        data = tomllib.loads((path / "pyproject.toml").read_text())
        value = data.get("project", {}).get("version")
        if isinstance(value, str):
            return value, "pyproject.toml"
    except (OSError, ValueError, RecursionError):  # ValueError: TOMLDecodeError, UnicodeDecodeError, huge ints
        pass
    return None, "unknown"


def inspect_checkout(
    path: str | os.PathLike[str], *, found_by: str, runner: Runner = run_command, with_commit: bool = False
) -> Checkout:
    root = validate_checkout(path)
    version, source, commit = detect_version(root, runner=runner, with_commit=with_commit)
    return Checkout(root, version, source, found_by, commit)


def _read_config(path: Path) -> dict:
    return state.read_toml(path, what="config file", fix=f"fix or delete {path}", default={})


def read_registry(environ: Mapping[str, str] | None = None) -> dict:
    """The config's `[comfyui]` table, or {} when no checkout is registered."""
    path = config_file(environ)
    table = _read_config(path).get(TABLE, {})
    if not isinstance(table, dict) or not isinstance(table.get("path", ""), str):
        raise ConfigError(f"{path}: [{TABLE}] must be a table with a string `path`", hint=f"fix or delete {path}")
    return table


def register_checkout(
    checkout: Checkout, *, environ: Mapping[str, str] | None = None, **extra: str | None
) -> Path:
    """Remember `checkout` as THE ComfyUI of this user. Other settings in the file are kept as they are."""
    import tomlkit

    path = config_file(environ)
    entry = {
        "path": str(checkout.path),
        "version": checkout.version,
        "commit": checkout.commit,
        **extra,
        "registered_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    # Lock -> re-read -> change -> replace; tomlkit keeps the user's comments and other settings as written.
    with state.updating_toml(path, what="config file", fix=f"fix or delete {path}") as doc:
        table = tomlkit.table()
        for key, value in entry.items():
            if value is not None:  # TOML has no null
                table[key] = value
        doc[TABLE] = table
    return path


def find_checkout(
    explicit: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    runner: Runner = run_command,
) -> Checkout:
    """The checkout to use, by the lookup order in the module docstring."""
    environ = os.environ if environ is None else environ
    if explicit is not None:
        return inspect_checkout(explicit, found_by="--comfyui", runner=runner)
    if environ.get(PATH_VARIABLE):
        return inspect_checkout(environ[PATH_VARIABLE], found_by=f"${PATH_VARIABLE}", runner=runner)
    registered = read_registry(environ).get("path")
    if registered:
        try:
            return inspect_checkout(registered, found_by="registered", runner=runner)
        except ComfyUIError as exc:
            raise ComfyUIError(
                f"the registered ComfyUI is gone or broken: {exc.message}",
                hint="ipex comfyui install, or ipex comfyui use DIR",
            ) from None
    default = default_location(environ)
    if default.is_dir():
        return inspect_checkout(default, found_by="default location", runner=runner)
    raise ComfyUIError(
        "no ComfyUI found (no --comfyui, no $COMFYUI_PATH, none registered)",
        hint="ipex comfyui install, or ipex comfyui use DIR for an existing checkout",
    )
