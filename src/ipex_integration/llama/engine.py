"""The one engine switch: `--engine ollama|llama-server` (and llama-server's own `--llama-server PATH`,
`--model FILE`), taken out of a command line the way ollama-ipex takes its flags. `ollama-ipex serve` reads it
here; `ipex up` and `ipex service` are to read it through the same function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..argv import take_flags
from ..errors import UsageError

ENGINES = ("ollama", "llama-server")
DEFAULT_ENGINE = "ollama"
ENGINE_ENV = "IPEX_LLM_ENGINE"


@dataclass(frozen=True)
class EngineFlags:
    engine: str = DEFAULT_ENGINE
    llama_server: str | None = None  # the binary
    model: str | None = None  # llama-server's GGUF file

    @property
    def is_llama(self) -> bool:
        return self.engine == "llama-server"


def check_engine(name: str, source: str = "--engine") -> str:
    if name not in ENGINES:
        raise UsageError(f"{source} {name!r} is not an engine; choose one of: {', '.join(ENGINES)}")
    return name


def split_engine_flags(argv: Sequence[str], environ: dict[str, str] | None = None) -> tuple[EngineFlags, list[str]]:
    """Take --engine, --llama-server and --model (`--x V` or `--x=V`) out of argv, up to a bare `--`.
    --model stays for ollama's own commands (`ollama run` has none, but the user's text is not ours to eat)
    unless the engine is llama-server."""
    taken, rest = take_flags(argv, valued={"--engine": "an engine", "--llama-server": "a path"})
    values = {flag.name: flag.value for flag in taken}
    default = (environ or {}).get(ENGINE_ENV)
    engine = check_engine(values["--engine"]) if "--engine" in values else (
        check_engine(default, f"${ENGINE_ENV}") if default else DEFAULT_ENGINE)
    model = None
    if engine == "llama-server":
        model_flags, rest = take_flags(rest, valued={"--model": "a .gguf file"})
        model = model_flags[-1].value if model_flags else None
    elif "--llama-server" in values:
        raise UsageError("--llama-server goes with --engine llama-server")
    return EngineFlags(engine, values.get("--llama-server"), model), rest
