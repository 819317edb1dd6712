"""`ipex-benchmark` (placeholder until its module is written)."""


def main() -> int:
    raise SystemExit("ipex-benchmark: not implemented yet")
