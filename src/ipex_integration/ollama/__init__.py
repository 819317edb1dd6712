"""Ollama on the chosen GPU: find the binary and its build, build the server's environment from a DevicePlan,
start and supervise `ollama serve`, and talk to its API.

Modules: binary (find + identify the build), vulkan (Vulkan device order), env (plan + build -> variables),
serve (start, readiness, signals), client (HTTP API), status (the `ipex status` section),
placement + supervisor (`ipex up`: ComfyUI and Ollama on different GPUs).
"""

from __future__ import annotations

from ..errors import EXIT_FAILED, EXIT_USAGE, IpexError


class OllamaError(IpexError):
    """Finding, starting or talking to Ollama failed (the message names what, the hint the fix)."""

    exit_code = EXIT_FAILED


class OllamaBinaryError(OllamaError):
    """The ollama binary the user named (--ollama-bin, config.toml) is missing, a folder or not executable."""

    exit_code = EXIT_USAGE


class OllamaStartError(OllamaError):
    """`ollama serve` crashed or never answered while starting; `log_tail` holds its last log lines."""

    def __init__(self, message: str, hint: str | None = None, *, log_tail: tuple[str, ...] = (),
                 log_path: str | None = None, returncode: int | None = None) -> None:
        super().__init__(message, hint)
        self.log_tail = log_tail
        self.log_path = log_path
        self.returncode = returncode
