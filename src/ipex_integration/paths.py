"""Where our files live. `IPEX_INTEGRATION_HOME` moves all of them (tests point it at a temp dir)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

HOME_VARIABLE = "IPEX_INTEGRATION_HOME"
APP_NAME = "ipex-integration"


def _home(environ: Mapping[str, str] | None) -> Path | None:
    environ = os.environ if environ is None else environ
    value = environ.get(HOME_VARIABLE)
    return Path(value).expanduser() if value else None


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Config files: the environment registry, config.toml."""
    home = _home(environ)
    if home is not None:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME))


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Disposable data: runtime-probe cache, SYCL kernel cache, ComfyUI flag sets."""
    home = _home(environ)
    if home is not None:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME))


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Things we install and results we keep: backend venvs, ComfyUI checkouts, benchmark results."""
    home = _home(environ)
    if home is not None:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))
