"""Finding the ComfyUI checkout and telling its version."""

from __future__ import annotations

import pytest

from ipex_integration.comfyui import ComfyUIError
from ipex_integration.comfyui.checkout import default_location, detect_version, find_checkout, validate_checkout
from ipex_integration.errors import ConfigError
from tests.fakes.comfyui import git


def test_version_from_git_describe_when_no_version_file(comfyui):
    root = comfyui("dec2024")  # December 2024: no comfyui_version.py, no pyproject.toml
    assert detect_version(root) == (None, "unknown", None)
    git("init", "-q", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "x", cwd=root)
    git("tag", "v0.3.9", cwd=root)
    version, source, commit = detect_version(root)
    assert (version, source) == ("0.3.9", "git describe") and len(commit) == 40


def test_version_from_pyproject(comfyui):
    root = comfyui("dec2024")
    (root / "pyproject.toml").write_text('[project]\nname = "ComfyUI"\nversion = "0.3.12"\n')
    assert detect_version(root)[:2] == ("0.3.12", "pyproject.toml")


def test_lookup_order(comfyui, monkeypatch, isolated_home):
    explicit, variable, default = comfyui(), comfyui("0.3.64"), default_location()
    with pytest.raises(ComfyUIError, match="no ComfyUI found"):
        find_checkout()
    default.parent.mkdir(parents=True)
    comfyui("0.3.47").rename(default)
    assert find_checkout().found_by == "default location"
    monkeypatch.setenv("COMFYUI_PATH", str(variable))
    assert (find_checkout().path, find_checkout().found_by) == (variable.resolve(), "$COMFYUI_PATH")
    assert find_checkout(explicit).path == explicit.resolve()


def test_validation_names_what_is_missing(tmp_path):
    (tmp_path / "main.py").write_text("")
    with pytest.raises(ComfyUIError, match=r"not a ComfyUI checkout \(no comfy/cli_args.py, comfy/options.py\)"):
        validate_checkout(tmp_path)


def test_corrupt_config_is_a_config_error(isolated_home):
    (isolated_home / "config").mkdir()
    (isolated_home / "config" / "config.toml").write_text("[comfyui\n")
    with pytest.raises(ConfigError, match="config.toml is not valid TOML"):
        find_checkout()
