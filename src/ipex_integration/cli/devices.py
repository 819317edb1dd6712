"""`ipex devices` (placeholder until its module is written)."""


def register(subparsers) -> None:
    pass
