"""The backend-environment registry: which Python interpreter serves each backend.

One TOML file, `<config dir>/environments.toml` (IPEX_INTEGRATION_HOME moves it):

    [environments.cuda]
    python = "/home/me/.local/share/ipex-integration/envs/cuda/bin/python"

    [environments.xpu]
    python = "/opt/xpu-venv/bin/python"

The interpreter running `ipex` counts as an environment too ("current"), without being written here.
A registered interpreter that no longer exists stays listed: `ipex status` shows it as missing.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .. import paths
from ..atomic import atomic_write_text
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
        return Environment(name=backend.value, python=text, backend=backend)

    def remove(self, backend: Backend) -> Environment:
        env = self.get(backend)
        if env is None:
            raise ConfigError(
                f"no {backend.value} environment is registered in {self.path}",
                hint="`ipex env list` shows the registered environments",
            )
        del self.entries[backend]
        return env

    def save(self) -> Path:
        import tomli_w

        data = dict(self.other)
        data["environments"] = {b.value: {"python": self.entries[b]} for b in Backend if b in self.entries}
        return atomic_write_text(self.path, _HEADER + tomli_w.dumps(data))


def current_environment() -> Environment:
    return Environment(name=CURRENT, python=sys.executable, backend=None, registered=False)


def load_registry(environ: Mapping[str, str] | None = None, *, path: Path | None = None) -> Registry:
    """Read the registry. A missing file is an empty registry; a corrupt one is a ConfigError that names the
    file and the problem, and the file is left as it is."""
    path = registry_path(environ) if path is None else Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Registry(path=path)
    except OSError as exc:
        raise ConfigError(f"cannot read the environment registry {path}: {exc.strerror or exc}") from None
    hint = f"fix or delete {path}, then register environments again with `ipex env add`"
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"the environment registry {path} is not valid TOML: {exc}", hint=hint) from None
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
