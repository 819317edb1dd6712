"""Test double of ComfyUI's comfy/options.py (identical behaviour: a module flag read by comfy/cli_args.py)."""

args_parsing = False


def enable_args_parsing(enable=True):
    global args_parsing
    args_parsing = enable
