"""The variables a server child (Ollama, llama.cpp) gets on a plan's device: ours where the user set none, the
user's kept (with a warning where theirs differs from ours and that matters), and the plan's own decisions."""

from __future__ import annotations

from typing import Mapping, Sequence

from .model import DevicePlan


class EnvBuilder:
    """Collects `env` (what we set), `kept` (the user's, left alone), `reasons` and `warnings`."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.env: dict[str, str] = {}
        self.kept: dict[str, str] = {}
        self.reasons: list[str] = []
        self.warnings: list[str] = []

    def setdefault(self, name: str, value: str, *, why: str | None = None) -> None:
        """`value` unless the user set `name`; theirs is kept, with a warning saying `why` it matters."""
        if name in self.environ:
            self.kept[name] = self.environ[name]
            if why and self.environ[name] != value:
                self.warnings.append(f"your {name}={self.environ[name]!r} is kept: {why}")
        else:
            self.env[name] = value

    def value(self, name: str) -> str | None:
        return self.env.get(name, self.kept.get(name))

    def from_plan(self, plan: DevicePlan, names: Sequence[str] | None = None) -> None:
        """Copy the plan's decisions (it already applied setdefault and the explicit-flag overrides)."""
        for source, target in ((plan.env, self.env), (plan.env_kept, self.kept)):
            for name, value in source.items():
                if names is None or name in names:
                    target[name] = value
