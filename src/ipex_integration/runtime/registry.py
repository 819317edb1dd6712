"""The backend-environment registry: which Python interpreter serves each backend.

One TOML file, `<config dir>/environments.toml` (IPEX_INTEGRATION_HOME moves it):

    [environments.cuda]
    python = "/home/me/.local/share/ipex-integration/envs/cuda/bin/python"

    [environments.xpu]
    python = "/opt/xpu-venv/bin/python"

The interpreter running `ipex` counts as an environment too ("current"), without being written here.
A registered interpreter that no longer exists stays listed: `ipex status` shows it as missing.

`save()` writes only what this Registry changed (add/remove), merged into the file as it is on disk under the
state lock: two `ipex env add` of different backends at once keep both, and the user's comments stay.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .. import paths
from .. import state
from ..errors import ConfigError
from .model import Backend, Environment

FILE_NAME = "environments.toml"
CURRENT = "current"
_HEADER = "# Backend environments of ipex-integration: edit with `ipex env add|create|remove`.\n\n"


def registry_path(environ: Mapping[str, str] | None = None) -> Path:
    return paths.config_dir(environ) / FILE_NAME


@dataclass
class Registry:
    """The registry as read from `path`. Change it with add/remove, then save()."""

    path: Path
    entries: dict[Backend, str] = field(default_factory=dict)
    # Tables other than [environments] (written by a newer version or by hand) survive a save.
    other: dict[str, Any] = field(default_factory=dict)
    # What add/remove changed since the load: backend -> python, or None for a removal. save() applies these.
    _changes: dict[Backend, str | None] = field(default_factory=dict, repr=False, compare=False)

    def environments(self, include_current: bool = True) -> list[Environment]:
        """Registered environments in backend order (cuda, xpu, cpu), then the current interpreter."""
        envs = [Environment(name=b.value, python=self.entries[b], backend=b) for b in Backend if b in self.entries]
        if include_current:
            envs.append(current_environment())
        return envs

    def get(self, backend: Backend) -> Environment | None:
        python = self.entries.get(backend)
        return None if python is None else Environment(name=backend.value, python=python, backend=backend)

    def add(self, backend: Backend, python: str | os.PathLike[str]) -> Environment:
        # Absolute, but NOT resolved: a venv's bin/python is a symlink whose location selects the venv.
        text = os.path.abspath(os.path.expanduser(os.fspath(python)))
        self.entries[backend] = text
        self._changes[backend] = text
        return Environment(name=backend.value, python=text, backend=backend)

    def remove(self, backend: Backend) -> Environment:
        env = self.get(backend)
        if env is None:
            raise ConfigError(
                f"no {backend.value} environment is registered in {self.path}",
                hint="`ipex env list` shows the registered environments",
            )
        del self.entries[backend]
        self._changes[backend] = None
        return env

    def save(self) -> Path:
        """Lock, re-read the file, apply this Registry's changes, write it back (comments kept)."""
        import tomlkit

        with state.updating_toml(self.path, what="environment registry", fix=_fix(self.path), header=_HEADER) as doc:
            fresh = _parse(self.path, doc.unwrap())  # validates what others wrote meanwhile
            table = doc.get("environments")
            if table is None:
                table = doc["environments"] = tomlkit.table(is_super_table=True)
            for backend, python in self._changes.items():
                if python is None:
                    table.pop(backend.value, None)
                    fresh.entries.pop(backend, None)
                else:
                    if backend.value in table and isinstance(table[backend.value], dict):
                        table[backend.value]["python"] = python  # keeps comments inside the table
                    else:
                        table[backend.value] = {"python": python}
                    fresh.entries[backend] = python
        self.entries, self.other = fresh.entries, fresh.other
        self._changes.clear()
        return self.path


def current_environment() -> Environment:
    return Environment(name=CURRENT, python=sys.executable, backend=None, registered=False)


def _fix(path: Path) -> str:
    return f"fix or delete {path}, then register environments again with `ipex env add`"


def load_registry(environ: Mapping[str, str] | None = None, *, path: Path | None = None) -> Registry:
    """Read the registry. A missing file is an empty registry; a corrupt one is a ConfigError that names the
    file and the problem, and the file is left as it is."""
    path = registry_path(environ) if path is None else Path(path)
    data = state.read_toml(path, what="environment registry", fix=_fix(path), default=None)
    return Registry(path=path) if data is None else _parse(path, data)


def _parse(path: Path, data: dict) -> Registry:
    data = dict(data)
    hint = _fix(path)
    table = data.pop("environments", {})
    if not isinstance(table, dict):
        raise ConfigError(f"the environment registry {path}: `environments` must be a table", hint=hint)
    entries: dict[Backend, str] = {}
    for name, value in table.items():
        try:
            backend = Backend(name)
        except ValueError:
            choices = ", ".join(b.value for b in Backend)
            raise ConfigError(
                f"the environment registry {path}: unknown backend [environments.{name}] (expected {choices})",
                hint=hint,
            ) from None
        python = value.get("python") if isinstance(value, dict) else None
        if not isinstance(python, str) or not python:
            raise ConfigError(
                f'the environment registry {path}: [environments.{name}] needs python = "/path/to/python"',
                hint=hint,
            )
        entries[backend] = python
    return Registry(path=path, entries=entries, other=data)
