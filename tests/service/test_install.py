"""Writing, replacing, refusing and removing unit files; status through a fake systemctl."""

from __future__ import annotations

import os

import pytest

from ipex_integration.runtime.model import Backend
from ipex_integration.service import ServiceError
from ipex_integration.service.install import (
    default_unit_dir, install_unit, remove_unit, unit_status,
)
from ipex_integration.service.units import UnitSpec, render_unit

from .helpers import FakeSystemctl, NoSystemctl

FOREIGN = "[Service]\nExecStart=/usr/bin/comfyui --listen 0.0.0.0\n"


def _spec(**kw) -> UnitSpec:
    return UnitSpec(**{"program": "comfyui", "scope": "system", "launcher": "/opt/bin/comfyui-ipex",
                       "backend": Backend.CPU, "user": "alice", **kw})


def test_install_writes_the_rendered_unit_world_readable(tmp_path):
    result = install_unit(_spec(), unit_dir=tmp_path / "units")
    path = tmp_path / "units" / "comfyui-ipex.service"
    assert result.action == "installed" and result.path == str(path)
    assert path.read_text() == render_unit(_spec()) == result.text
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["comfyui-ipex.service"]  # no temp file left


def test_reinstall_replaces_our_unit_or_leaves_it_unchanged(tmp_path):
    install_unit(_spec(), unit_dir=tmp_path)
    assert install_unit(_spec(), unit_dir=tmp_path).action == "unchanged"
    result = install_unit(_spec(backend=Backend.CUDA, device_index=1), unit_dir=tmp_path)
    assert result.action == "replaced"
    assert "--cuda-device 1" in (tmp_path / "comfyui-ipex.service").read_text()


def test_a_foreign_unit_is_never_overwritten_without_force(tmp_path):
    path = tmp_path / "comfyui-ipex.service"
    path.write_text(FOREIGN)
    with pytest.raises(ServiceError, match="was not written by ipex-integration") as err:
        install_unit(_spec(), unit_dir=tmp_path)
    assert "--force" in err.value.hint
    with pytest.raises(ServiceError):
        install_unit(_spec(), unit_dir=tmp_path, dry_run=True)  # a dry run says the same
    assert path.read_text() == FOREIGN
    result = install_unit(_spec(), unit_dir=tmp_path, force=True)
    assert result.action == "replaced" and path.read_text() == render_unit(_spec())


def test_dry_run_writes_nothing(tmp_path):
    result = install_unit(_spec(), unit_dir=tmp_path / "u", dry_run=True)
    assert result.action == "would be installed" and not (tmp_path / "u").exists()
    assert result.text == render_unit(_spec())


def test_a_failed_write_keeps_the_old_unit(tmp_path, monkeypatch):
    install_unit(_spec(), unit_dir=tmp_path)
    before = (tmp_path / "comfyui-ipex.service").read_text()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ServiceError, match="No space left on device"):
        install_unit(_spec(backend=Backend.CUDA), unit_dir=tmp_path)
    assert (tmp_path / "comfyui-ipex.service").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["comfyui-ipex.service"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_permission_denied_says_how_to_proceed(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(ServiceError, match="cannot write") as err:
            install_unit(_spec(), unit_dir=tmp_path)
        assert "--user" in err.value.hint and "sudo" in err.value.hint
    finally:
        tmp_path.chmod(0o700)


def test_remove_deletes_only_our_unit(tmp_path):
    install_unit(_spec(), unit_dir=tmp_path)
    assert remove_unit("comfyui", unit_dir=tmp_path, dry_run=True).action == "would remove"
    assert (tmp_path / "comfyui-ipex.service").exists()
    assert remove_unit("comfyui", unit_dir=tmp_path).action == "removed"
    assert not (tmp_path / "comfyui-ipex.service").exists()
    assert remove_unit("comfyui", unit_dir=tmp_path).action == "not installed"


def test_remove_refuses_a_foreign_unit(tmp_path):
    path = tmp_path / "ollama-ipex.service"
    path.write_text(FOREIGN)
    with pytest.raises(ServiceError, match="not removing it"):
        remove_unit("ollama", unit_dir=tmp_path)
    assert path.read_text() == FOREIGN


def test_status_reports_ownership_and_systemctl_answers(tmp_path):
    install_unit(_spec(), unit_dir=tmp_path)
    (tmp_path / "ollama-ipex.service").write_text(FOREIGN)
    runner = FakeSystemctl({"comfyui-ipex.service": ("active", "enabled")})
    ours = unit_status("comfyui", scope="system", unit_dir=tmp_path, runner=runner)
    assert (ours.installed, ours.managed, ours.active, ours.enabled, ours.note) == (True, True, "active", "enabled", None)
    theirs = unit_status("ollama", scope="user", unit_dir=tmp_path, runner=runner)
    assert (theirs.installed, theirs.managed, theirs.active, theirs.enabled) == (True, False, "inactive", "not-found")
    assert ("systemctl", "--user", "is-active", "ollama-ipex.service") in runner.calls


def test_status_without_systemctl(tmp_path):
    row = unit_status("ollama", scope="system", unit_dir=tmp_path, runner=NoSystemctl())
    assert (row.installed, row.active, row.enabled, row.note) == (False, None, None, "systemctl not found")


def test_default_unit_dirs():
    assert str(default_unit_dir("system")) == "/etc/systemd/system"
    assert str(default_unit_dir("user", {"HOME": "/home/a"})) == "/home/a/.config/systemd/user"
    assert str(default_unit_dir("user", {"HOME": "/home/a", "XDG_CONFIG_HOME": "/cfg"})) == "/cfg/systemd/user"
