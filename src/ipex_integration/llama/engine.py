"""The one engine switch: `--engine ollama|llama-server` (default $IPEX_LLM_ENGINE, else ollama) and
llama-server's own `--llama-server PATH` and `--model FILE`. `ollama-ipex` takes them out of its command line
(split_engine_flags); `ipex up` parses them with argparse (add_engine_arguments); both end in engine_flags,
which holds the rules. `ipex service install llama-server` names the engine as its program."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

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


def engine_flags(engine: str | None, *, llama_server: str | None = None, model: str | None = None,
                 environ: Mapping[str, str] | None = None) -> EngineFlags:
    """The choice from the flags' values (None: not given): the engine from --engine, else $IPEX_LLM_ENGINE,
    else ollama; --llama-server and --model only with llama-server. UsageError otherwise."""
    default = (environ or {}).get(ENGINE_ENV)
    name = check_engine(engine) if engine else check_engine(default, f"${ENGINE_ENV}") if default else DEFAULT_ENGINE
    for flag, value in (("--llama-server", llama_server), ("--model", model)):
        if value is not None and not value.strip():
            raise UsageError(f"{flag} must not be empty")
    if name != "llama-server":
        if llama_server is not None:
            raise UsageError("--llama-server goes with --engine llama-server")
        if model is not None:
            raise UsageError("--model goes with --engine llama-server (Ollama's models are pulled by name)")
    return EngineFlags(name, llama_server, model)


def add_engine_arguments(group: Any) -> None:
    """--engine, --llama-server and --model for an argparse command (values checked by engine_flags)."""
    group.add_argument("--engine", metavar="ENGINE", choices=ENGINES,
                       help=f"the LLM server: {' or '.join(ENGINES)} (default: ${ENGINE_ENV}, else {DEFAULT_ENGINE})")
    group.add_argument("--llama-server", metavar="PATH", help="with --engine llama-server: the binary "
                       "(default: $LLAMA_SERVER, else llama-server on PATH)")
    group.add_argument("--model", metavar="FILE.gguf", help="with --engine llama-server: the model file")


def split_engine_flags(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> tuple[EngineFlags, list[str]]:
    """Take --engine, --llama-server and --model (`--x V` or `--x=V`) out of argv, up to a bare `--`.
    --model stays for ollama's own commands (`ollama run` has none, but the user's text is not ours to eat)
    unless the engine is llama-server."""
    taken, rest = take_flags(argv, valued={"--engine": "an engine", "--llama-server": "a path"})
    values = {flag.name: flag.value for flag in taken}
    engine = engine_flags(values.get("--engine"), llama_server=values.get("--llama-server"), environ=environ).engine
    model = None
    if engine == "llama-server":
        model_flags, rest = take_flags(rest, valued={"--model": "a .gguf file"})
        model = model_flags[-1].value if model_flags else None
    return engine_flags(engine, llama_server=values.get("--llama-server"), model=model), rest
