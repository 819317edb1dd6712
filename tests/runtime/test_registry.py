"""The TOML registry of backend environments."""

from __future__ import annotations

import os
import sys

import pytest

from ipex_integration import paths
from ipex_integration.errors import ConfigError
from ipex_integration.runtime.model import Backend, Environment
from ipex_integration.runtime.registry import load_registry, registry_path


def test_missing_file_is_an_empty_registry():
    registry = load_registry()
    assert registry.entries == {}
    assert registry.environments() == [Environment("current", sys.executable, None, registered=False)]
    assert registry.environments(include_current=False) == []


def test_lives_under_ipex_integration_home(tmp_path):
    environ = {"IPEX_INTEGRATION_HOME": str(tmp_path / "elsewhere")}
    assert registry_path(environ) == tmp_path / "elsewhere" / "config" / "environments.toml"
    assert registry_path() == paths.config_dir() / "environments.toml"


def test_add_save_load_round_trip(tmp_path):
    registry = load_registry()
    registry.add(Backend.XPU, tmp_path / "xpu" / "bin" / "python")
    registry.add(Backend.CUDA, tmp_path / "cuda" / "bin" / "python")
    written = registry.save()
    assert written == registry_path()
    text = written.read_text()
    assert "[environments.cuda]" in text and "[environments.xpu]" in text
    again = load_registry()
    assert [(e.name, e.backend, e.python, e.registered) for e in again.environments()] == [
        ("cuda", Backend.CUDA, str(tmp_path / "cuda" / "bin" / "python"), True),
        ("xpu", Backend.XPU, str(tmp_path / "xpu" / "bin" / "python"), True),
        ("current", None, sys.executable, False),
    ]


def test_add_keeps_venv_symlinks_unresolved(tmp_path):
    real = tmp_path / "base" / "python3.11"
    real.parent.mkdir()
    real.write_text("")
    link = tmp_path / "venv" / "bin" / "python"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    env = load_registry().add(Backend.CPU, link)
    assert env.python == str(link)  # resolving it would leave the venv


def test_add_makes_relative_paths_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = load_registry().add(Backend.CPU, "venv/bin/python")
    assert env.python == str(tmp_path / "venv" / "bin" / "python")


def test_remove(tmp_path):
    registry = load_registry()
    registry.add(Backend.CPU, "/opt/cpu/bin/python")
    registry.save()
    removed = registry.remove(Backend.CPU)
    assert removed.python == "/opt/cpu/bin/python"
    registry.save()
    assert load_registry().entries == {}
    with pytest.raises(ConfigError, match="no cpu environment is registered"):
        load_registry().remove(Backend.CPU)


def test_a_registered_interpreter_that_no_longer_exists_is_still_listed(tmp_path):
    gone = tmp_path / "gone" / "bin" / "python"
    registry = load_registry()
    registry.add(Backend.CUDA, gone)
    registry.save()
    (env,) = load_registry().environments(include_current=False)
    assert env.python == str(gone) and not os.path.exists(env.python)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"[environments.cuda\npython = 1\n", "is not valid TOML"),
        (b"\xff\xfe garbage", "is not valid TOML"),
        (b'[environments.rocm]\npython = "/x/python"\n', "unknown backend [environments.rocm]"),
        (b"[environments.cuda]\nversion = 3\n", 'needs python = "/path/to/python"'),
        (b'environments = "cuda"\n', "`environments` must be a table"),
    ],
)
def test_corrupt_file_is_an_error_naming_it_and_is_left_untouched(content, message):
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    before = os.stat(path)
    with pytest.raises(ConfigError) as excinfo:
        load_registry()
    assert str(path) in excinfo.value.message
    assert message in excinfo.value.message
    assert excinfo.value.hint and str(path) in excinfo.value.hint
    assert path.read_bytes() == content
    assert os.stat(path).st_mtime_ns == before.st_mtime_ns


def test_other_tables_survive_a_save():
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[future]\nkey = "kept"\n\n[environments.cpu]\npython = "/a/python"\n')
    registry = load_registry()
    registry.add(Backend.XPU, "/b/python")
    registry.save()
    text = path.read_text()
    assert 'key = "kept"' in text
    again = load_registry()
    assert again.entries == {Backend.CPU: "/a/python", Backend.XPU: "/b/python"}
    assert again.other == {"future": {"key": "kept"}}


def test_save_is_atomic_and_leaves_no_temp_files():
    registry = load_registry()
    registry.add(Backend.CPU, "/a/python")
    registry.save()
    registry.add(Backend.CUDA, "/c/python")
    registry.save()
    # Only the registry and its (hidden, empty) inter-process lock file.
    assert sorted(p.name for p in registry_path().parent.iterdir()) == [".environments.toml.lock", "environments.toml"]
