"""`ollama-ipex` (placeholder until its module is written)."""


def main() -> int:
    raise SystemExit("ollama-ipex: not implemented yet")
