"""`ipex comfyui` (placeholder until its module is written)."""


def register(subparsers) -> None:
    pass


def main_auto() -> int:
    raise SystemExit("comfyui-ipex: not implemented yet")


main_cuda = main_xpu = main_auto
