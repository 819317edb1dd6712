"""Shared pieces of the service tests: a fake systemctl and a described machine."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Mapping, Sequence

from ipex_integration.proc import CommandResult
from ipex_integration.service.prepare import Machine


class FakeSystemctl:
    """Stands in for systemctl (no systemd runs in the test container). It answers like systemctl 252:
    is-active/is-enabled print one word and exit non-zero unless active/enabled; other verbs print nothing.
    `states` maps a unit name to (active, enabled); unknown units are ("inactive", "not-found")."""

    def __init__(self, states: Mapping[str, tuple[str, str]] | None = None, fail: Sequence[str] = ()) -> None:
        self.states = dict(states or {})
        self.fail = set(fail)
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv, *, timeout, env=None, input=None) -> CommandResult:
        argv = tuple(argv)
        self.calls.append(argv)
        words = [a for a in argv[1:] if a != "--user"]
        verb = words[0]
        if verb in self.fail:
            return CommandResult(argv, 1, "", f"Failed to {verb}: Access denied\n")
        if verb in ("is-active", "is-enabled"):
            active, enabled = self.states.get(words[1], ("inactive", "not-found"))
            word = active if verb == "is-active" else enabled
            ok = word == ("active" if verb == "is-active" else "enabled")
            return CommandResult(argv, 0 if ok else 3, word + "\n", "")
        return CommandResult(argv, 0, "", "")


class NoSystemctl:
    """A machine without systemctl (what run_command answers for a missing program)."""

    def __call__(self, argv, *, timeout, env=None, input=None) -> CommandResult:
        return CommandResult(tuple(argv), 127, "", "No such file or directory", not_found=True)


def make_launchers(bin_dir: Path) -> Path:
    """Executable stand-ins for the installed comfyui-ipex / ollama-ipex console scripts."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("comfyui-ipex", "ollama-ipex"):
        path = bin_dir / name
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir


def machine(bin_dir: Path, *, uid: int = 1000, user: str = "alice", groups=("render", "video"),
            users: Mapping[str, str] | None = None, path: Mapping[str, str] | None = None) -> Machine:
    users = {"alice": "/home/alice", "bob": "/home/bob", "root": "/root"} if users is None else users
    return Machine(
        uid=uid,
        user=user,
        group_exists=lambda g: g in groups,
        user_home=lambda u: users.get(u),
        which=lambda name: (path or {}).get(name),
        bin_dir=bin_dir,
    )


def read(path: os.PathLike) -> str:
    return Path(path).read_text()
